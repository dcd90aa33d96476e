"""Named SQL: every `.sql` file in storage/queries is split on `-- name: <query>` lines.

Loaded once at import; storage modules refer to queries as `Q.<query>`. A name defined twice is an
error at start-up, not a silent override.
"""

from __future__ import annotations

import re
from pathlib import Path

QUERY_DIR = Path(__file__).with_name("queries")
_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


class Queries(dict[str, str]):
    def __getattr__(self, name: str) -> str:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no SQL query named {name!r} in {QUERY_DIR}") from None


def load_queries(directory: Path = QUERY_DIR) -> Queries:
    queries = Queries()
    for path in sorted(directory.glob("*.sql")):
        parts = _NAME.split(path.read_text(encoding="utf-8"))
        for name, body in zip(parts[1::2], parts[2::2]):
            if name in queries:
                raise ValueError(f"{path.name}: query {name!r} is defined twice")
            queries[name] = body.strip()
    return queries


Q = load_queries()
