"""server/templating.py: the one Jinja2 set-up that the emails, the subscription pages and (through
aiohttp-jinja2) the admin UI share: .html autoescaped, .txt not, the same filters everywhere."""

from __future__ import annotations

import aiohttp_jinja2
import pytest
from aiohttp import web
from jinja2 import UndefinedError

from server.templating import FILTERS, NBSP, environment, options

PAGE = {"title": "<b>t</b>", "status": 404, "detail": "<script>x</script>"}


def test_html_is_escaped_text_is_not_and_every_environment_has_the_filters():
    page = environment().get_template("pages/error.html").render(PAGE)
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>" not in page
    text = environment().get_template("email/confirmation.txt").render(
        subject="s", confirm_link="https://x.example/c?a=1&b=<2>", unsubscribe_link="https://x.example/u")
    assert "https://x.example/c?a=1&b=<2>" in text
    for env in (environment(), environment(lenient=True)):
        assert env.from_string("{{ 1234.5 | money('RUR') }}").render() == f"1{NBSP}234,50{NBSP}₽"


def test_strict_by_default_lenient_where_asked():
    with pytest.raises(UndefinedError):
        environment().from_string("{{ missing.key }}").render()
    assert environment(lenient=True).from_string("[{{ missing.key }}]").render() == "[]"


async def test_aiohttp_jinja2_takes_the_same_templates_and_filters():
    app = web.Application()
    env = aiohttp_jinja2.setup(app, filters=FILTERS, **options())
    assert env.get_template("pages/error.html").render(PAGE) == environment().get_template("pages/error.html").render(PAGE)
    assert env.from_string("{{ 5 | money }}").render() == "5"
