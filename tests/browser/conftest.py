"""A real headless Chromium for page tests: the distribution's package, driven by Playwright for Python.

Never ``playwright install`` (it downloads a browser build; there is no network at run time). When Chromium is
missing the tests fail with one line saying how to install it; they never skip. ``PROACTIVE_CHROMIUM`` points
at another binary.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

INSTALL_HINT = (
    "Chromium not found: install it with `apt-get install -y chromium` (as root) or set PROACTIVE_CHROMIUM"
)


def chromium_path() -> str:
    """The Chromium binary to drive (PROACTIVE_CHROMIUM, else chromium on the PATH)."""
    path = (
        os.environ.get("PROACTIVE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not path or not os.path.isfile(path) or not os.access(path, os.X_OK):
        pytest.fail(INSTALL_HINT, pytrace=False)
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session."""
    from playwright.sync_api import sync_playwright

    binary = chromium_path()  # fails with the install hint before Playwright starts
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=binary, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page 1280 px wide with no network beyond file:// and 127.0.0.1 (offline pages must not need it)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    requested: list[str] = []

    def route(r: Any) -> None:
        url = r.request.url
        if url.startswith(("file://", "data:", "http://127.0.0.1")):
            r.continue_()
        else:
            requested.append(url)
            r.abort()

    context.route("**/*", route)
    p = context.new_page()
    p.offline_requests = requested  # what the page tried to fetch from the network (aborted)
    yield p
    context.close()
