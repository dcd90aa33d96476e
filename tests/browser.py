"""A real browser for the admin UI's tests: Debian's Chromium (/usr/bin/chromium, or
$HERALD_CHROMIUM) driven by Playwright, headless, with the flags this closed network needs.
Without a Chromium the tests that use `browser` are skipped, saying why (`make test` says so too).

`browser` opens one page per test and records every console error and uncaught page error in
`errors`; the fixture fails the test if any happened, so every page a test opens is checked. A
test that opens an error page on purpose (a wrong password's 401) says so with `expect_error`.
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = os.environ.get("HERALD_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
SKIP_REASON = "no Chromium found (apt-get install chromium, or set HERALD_CHROMIUM): admin UI browser test skipped"


class Browser:
    def __init__(self, page, errors: list[str]) -> None:
        self.page = page
        self.errors = errors
        self.expected: list[str] = []

    def expect_error(self, text: str) -> None:
        """One console error containing `text` is expected (Chrome logs a 4xx page it loads)."""
        self.expected.append(text)

    def unexpected_errors(self) -> list[str]:
        errors, expected = list(self.errors), list(self.expected)
        for text in expected:
            match = next((error for error in errors if text in error), None)
            assert match is not None, f"the expected console error {text!r} did not happen"
            errors.remove(match)
        return errors


@pytest.fixture
async def browser():
    if CHROMIUM is None:
        pytest.skip(SKIP_REASON)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = await chromium.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(10_000)
        page = await context.new_page()
        errors: list[str] = []
        page.on("console", lambda message: message.type == "error" and errors.append(f"console: {message.text}"))
        page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
        opened = Browser(page, errors)
        yield opened
        await chromium.close()
    assert opened.unexpected_errors() == [], "the pages logged errors"
