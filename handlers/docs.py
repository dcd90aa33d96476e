"""/openapi.json and /docs/: the API's contract, and Swagger UI to browse it (system family, no token).

`server/openapi.json` is the one source of the contract: it is read once at import and served as
written; this module never builds or edits it (tests/test_openapi.py keeps it equal to the route
table). Swagger UI's files come from the swagger-ui-bundle package and are served under
/docs/static/, so the page works with no internet.
"""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web
from swagger_ui_bundle import swagger_ui_path

from server.http import route

SPEC_FILE = Path(__file__).resolve().parent.parent / "server" / "openapi.json"
SPEC = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
SPEC_URL = "/openapi.json"
STATIC_URL = "/docs/static"

_SPEC_BODY = json.dumps(SPEC, ensure_ascii=False).encode()

# The bundled Swagger UI (4.x) renders OpenAPI 3.0 documents only, so the page shows this 3.1
# document through the 3.0 spelling of the few 3.1 forms it uses: `type: [X, "null"]` becomes
# `type: X, nullable: true` and a schema's `examples: [...]` becomes `example`. /openapi.json
# itself is served unchanged.
_PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Herald API</title>
  <link rel="stylesheet" href="{STATIC_URL}/swagger-ui.css">
  <link rel="icon" type="image/png" href="{STATIC_URL}/favicon-32x32.png" sizes="32x32">
  <style>body {{ margin: 0; }} .spec-link {{ font-family: sans-serif; margin: 1em 20px 0; }}</style>
</head>
<body>
  <p class="spec-link">OpenAPI document: <a href="{SPEC_URL}">{SPEC_URL}</a></p>
  <div id="swagger-ui"></div>
  <script src="{STATIC_URL}/swagger-ui-bundle.js" charset="utf-8"></script>
  <script>
    const VALUES = new Set(["example", "default", "enum", "const"]);
    function asOpenApi30(node) {{
      if (Array.isArray(node)) return node.map(asOpenApi30);
      if (node === null || typeof node !== "object") return node;
      const out = {{}};
      for (const [key, value] of Object.entries(node)) out[key] = VALUES.has(key) ? value : asOpenApi30(value);
      if (Array.isArray(out.type)) {{
        const types = out.type.filter((name) => name !== "null");
        if (types.length < out.type.length) out.nullable = true;
        out.type = types[0];
      }}
      if (Array.isArray(out.examples)) {{
        if (out.example === undefined) out.example = out.examples[0];
        delete out.examples;
      }}
      return out;
    }}
    fetch("{SPEC_URL}")
      .then((response) => response.json())
      .then((spec) => {{
        const shown = asOpenApi30(spec);
        shown.openapi = "3.0.3";
        shown.servers = shown.servers || [{{ url: window.location.origin }}];
        window.ui = SwaggerUIBundle({{
          spec: shown,
          dom_id: "#swagger-ui",
          deepLinking: true,
          presets: [SwaggerUIBundle.presets.apis],
          layout: "BaseLayout",
        }});
      }});
  </script>
</body>
</html>
"""


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=_SPEC_BODY, content_type="application/json", charset="utf-8")


async def docs(request: web.Request) -> web.Response:
    return web.Response(text=_PAGE, content_type="text/html", charset="utf-8")


routes = [
    route("GET", SPEC_URL, openapi),
    route("GET", "/docs/", docs),
    web.static(STATIC_URL, Path(str(swagger_ui_path))),
]
