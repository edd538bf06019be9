"""A real browser for the dashboard's tests: Debian's Chromium, driven by Playwright.

Playwright's own browser downloads are never used: it launches `/usr/bin/chromium` (or
CHROMIUM_PATH) with a fresh profile and without any of the browser's own network traffic. When
Chromium is not installed, the tests fail under CI=true (`.ci/run` installs it) and are skipped
elsewhere, with the reason printed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Page,
    async_playwright,
)

__all__ = ["Watched", "browser", "chromium_path", "watched"]

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    """The Chromium to drive; fails (CI) or skips (elsewhere) when there is none."""
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        reason = (
            f"no Chromium at {path}: install Debian's packages chromium and chromium-driver "
            "(`apt-get install -y chromium chromium-driver`; .ci/run does) or set CHROMIUM_PATH"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@dataclass
class Watched:
    """A page, and what it did that a page of ours must never do."""

    page: Page
    dialogs: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    """Console messages about the Content-Security-Policy (a blocked inline script, ...)."""

    def assert_clean(self) -> None:
        assert self.dialogs == [], f"a script ran and opened dialogs: {self.dialogs}"
        assert self.violations == [], f"the page broke its security policy: {self.violations}"


@asynccontextmanager
async def browser() -> AsyncIterator[Browser]:
    """A running browser, closed afterwards. Playwright gives each launch a fresh, temporary
    profile, and each `new_context()` a cookie jar of its own (one person each)."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_path(), args=FLAGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


async def watched(context: BrowserContext) -> Watched:
    """A new page whose dialogs (dismissed) and policy violations are recorded."""
    page = await context.new_page()
    seen = Watched(page)

    async def dialog(opened: Dialog) -> None:
        seen.dialogs.append(f"{opened.type}: {opened.message}")
        await opened.dismiss()

    def console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            seen.violations.append(message.text)

    page.on("dialog", dialog)
    page.on("console", console)
    return seen
