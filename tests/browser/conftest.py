"""Browser fixtures: Debian's Chromium driven by Playwright against the real server, every page's JavaScript
errors collected, and screenshots saved as artefacts in var/screenshots/ (gitignored)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.factories import PASSWORD

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's sync API keeps an event loop in this thread; the ORM calls of the test are still
    # synchronous and safe, which Django cannot tell by itself.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        yield browser
        browser.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


class Session:
    """Browser contexts of one test; every JavaScript error of any of their pages is kept, and the test fails
    on them at its end."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.browser, self.base_url = browser, base_url
        self.errors: list[str] = []
        self.contexts: list[BrowserContext] = []

    def page(self, viewport: dict | None = None, theme: str = "light") -> Page:
        context = self.browser.new_context(base_url=self.base_url, viewport=viewport or DESKTOP, color_scheme=theme,
                                           reduced_motion="reduce")
        self.contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))
        page.on("console", lambda message: self._console(page, message))
        return page

    def _console(self, page: Page, message) -> None:
        # A page that answers 404 or 403 on purpose logs its own status: only what its scripts do counts.
        document = message.location.get("url") == page.url and message.text.startswith("Failed to load resource")
        if message.type == "error" and not document:
            self.errors.append(f"{page.url}: console {message.text} ({message.location.get('url')})")

    def login(self, username: str, viewport: dict | None = None, theme: str = "light") -> Page:
        page = self.page(viewport, theme)
        page.goto("/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("form button[type=submit]")
        expect(page.locator("h1")).to_contain_text("Datacenter")
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def session(browser: Browser, asgi_server: str) -> Iterator[Session]:
    session = Session(browser, asgi_server)
    yield session
    session.close()
    assert session.errors == [], "JavaScript errors:\n" + "\n".join(session.errors)


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size or DESKTOP
    theme = page.evaluate("document.documentElement.dataset.theme || 'light'")
    path = SCREENSHOTS / f"{name}-{size['width']}x{size['height']}-{theme}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


def no_horizontal_scroll(page: Page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{page.url} is {widths[0]} px wide in a {widths[1]} px window"
