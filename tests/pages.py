"""Reading the subscription pages as a browser would: the page's text, and its one form (action,
method, fields), so that a test can press the button by POSTing exactly what the form holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

PUBLIC_URL = "http://herald.test"  # the tests' server.public_url


@dataclass
class Form:
    method: str
    action: str
    fields: dict[str, str] = field(default_factory=dict)


class Page(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.buttons: list[str] = []
        self.title = ""
        self._text: list[str] = []
        self._in: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(Form(attributes.get("method", "get").lower(), attributes.get("action", "")))
        elif tag == "input" and self.forms and "name" in attributes:
            self.forms[-1].fields[attributes["name"]] = attributes.get("value", "")
        if tag not in ("input", "meta", "br"):
            self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        if "style" in self._in:
            return
        if "title" in self._in:
            self.title += data
        elif "button" in self._in:
            self.buttons.append(data.strip())
        self._text.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self._text).split())

    @property
    def form(self) -> Form:
        [form] = self.forms
        return form


async def open_page(client, url: str) -> Page:
    """GET a link of an email as a browser does (or a mail scanner: it must change nothing)."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC_URL  # built from server.public_url
    response = await client.get(f"{parts.path}?{parts.query}")
    assert response.status == 200 and response.content_type == "text/html", await response.text()
    return Page(await response.text())


async def press_button(client, page: Page) -> Page:
    """Submit the page's form as a browser would: its method, its action, its fields."""
    form = page.form
    assert form.method == "post"
    response = await client.post(form.action, data=form.fields)
    assert response.status == 200 and response.content_type == "text/html", await response.text()
    return Page(await response.text())
