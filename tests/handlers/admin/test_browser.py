"""The dashboard in a real browser (Chromium, driven by Playwright) against the running bot: a
`simulate` run's data, the real web server in polling mode, the real Telegram client against the
local Bot API stand-in. Every page is saved as a screenshot under the test's folder.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest_asyncio
from playwright.async_api import Browser, Page

from bot.app import Runtime
from bot.clock import ManualClock
from bot.passwords import hash_password
from bot.storage import open_storage
from bot.storage.types import AdminAccount, CustomerFilter
from tests.cli.test_cli import escalator
from tests.fakes.telegram_api import FakeBotApi
from tests.handlers.admin.browser import Watched, browser, chromium_path, watched
from tests.handlers.conftest import free_port, running_bot

PASSWORD = "correct horse battery"
HOSTILE = "<script>alert(1)</script>"
MALLORY = 6661
SIMULATED = {"customers": 50, "days": 28}
SIMULATION_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # bot.simulation.START
FIXED = "Need a hand, {{ first_name }}? Write to me any time."


@dataclass
class Dashboard:
    rt: Runtime
    api: FakeBotApi
    url: str
    db: Path
    shots: Path
    browser: Browser

    async def person(self, name: str, *, phone: bool = False) -> Watched:
        """A new browser profile (cookies of its own), signed in as `name`."""
        size = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 900}
        context = await self.browser.new_context(viewport=size)
        seen = await watched(context)
        await sign_in(seen.page, self.url, name)
        return seen

    async def shot(self, page: Page, name: str) -> None:
        await page.screenshot(path=self.shots / f"{name}.png", full_page=True)


async def sign_in(page: Page, url: str, name: str, password: str = PASSWORD) -> None:
    await page.goto(f"{url}/admin/login")
    await page.fill("#name", name)
    await page.fill("#password", password)
    await page.click("form button[type=submit]")


@pytest_asyncio.fixture
async def dashboard(api: FakeBotApi, tmp_path: Path) -> AsyncIterator[Dashboard]:
    chromium_path()  # fail or skip, with the reason, before anything else
    db = tmp_path / "shop.db"
    ran = await asyncio.to_thread(
        escalator,
        db,
        "simulate",
        "--customers",
        str(SIMULATED["customers"]),
        "--days",
        str(SIMULATED["days"]),
        "--seed",
        "7",
        "--db",
        str(db),
    )
    assert ran.returncode == 0, ran.stderr
    # the simulation ended at its last day; at that time, nothing more of its is due
    clock = ManualClock(SIMULATION_START + timedelta(days=SIMULATED["days"]))
    port = free_port()
    env = {"PORT": str(port), "HOST": "127.0.0.1", "TEMPLATE_REFRESH": "0"}
    shots = tmp_path / "screenshots"
    shots.mkdir()
    # accounts exist before the bot starts: that turns the dashboard on
    storage = await open_storage(f"sqlite:///{db}")
    for name, role in (("ann", "editor"), ("vic", "viewer"), ("zed", "editor")):
        encoded = hash_password(PASSWORD, log2_n=12)  # cheaper than production's
        stamp = clock.now()
        await storage.admin.save_account(AdminAccount(name, encoded, role, stamp, stamp))  # type: ignore[arg-type]
    await storage.close()
    async with running_bot(api, db, clock, **env) as rt, browser() as chromium:
        assert rt.settings.telegram_mode == "polling"
        api.text(MALLORY, "/start", name=HOSTILE)
        await api.wait_for(lambda: len(api.texts_to(MALLORY)) >= 1)
        yield Dashboard(rt, api, f"http://127.0.0.1:{port}", db, shots, chromium)


def report_figures(text: str) -> tuple[dict[str, int], list[tuple[str, float | None, int]]]:
    """The funnel and the weeks `escalator report` printed."""
    lines = text.splitlines()
    funnel = {line.split()[0]: int(line.split()[1]) for line in lines[1:6]}
    weeks = []
    at = next(i for i, line in enumerate(lines) if line.startswith("NPS by week"))
    for line in lines[at + 1 :]:
        if not line.startswith("  "):
            break
        day, score, ratings = line.split()
        weeks.append((day, None if score == "-" else float(score), int(ratings)))
    return funnel, weeks


async def chart(page: Page, canvas: str) -> Any:
    """What Chart.js drew on the canvas: labels and each dataset's numbers."""
    await page.wait_for_function(
        f"() => window.Chart && Chart.getChart(document.getElementById('{canvas}'))"
    )
    return await page.evaluate(
        f"""() => {{
            const chart = Chart.getChart(document.getElementById('{canvas}'));
            return {{labels: chart.data.labels,
                     data: chart.data.datasets.map(set => set.data)}};
        }}"""
    )


async def test_the_dashboard_in_a_browser(dashboard: Dashboard) -> None:
    ann = await dashboard.person("ann")
    page = ann.page
    await page.wait_for_url("**/admin/")

    # --- the overview draws `escalator report`'s figures ----------------------------------
    printed = await asyncio.to_thread(escalator, dashboard.db, "report")
    assert printed.returncode == 0, printed.stderr
    funnel, weeks = report_figures(printed.stdout)
    drawn = await chart(page, "funnel-chart")
    assert drawn["labels"] == list(funnel)
    assert drawn["data"][0] == list(funnel.values())  # now on each step
    assert drawn["data"][1] == [sum(list(funnel.values())[i:]) for i in range(len(funnel))]
    scores = await chart(page, "score-chart")
    assert scores["labels"] == [day for day, _, _ in weeks] and len(weeks) >= 3
    assert scores["data"][0] == [score for _, score, _ in weeks]
    assert scores["data"][1] == [ratings for _, _, ratings in weeks]
    assert await page.text_content("#customers-total") == str(sum(funnel.values()))
    await dashboard.shot(page, "overview")

    # --- customers, filtered ---------------------------------------------------------------
    await page.click("nav >> text=Customers")
    await page.select_option("select[name=stage]", "customer")
    await page.click(".filters button[type=submit]")
    await page.wait_for_url("**/admin/customers?*stage=customer*")
    stages = await page.locator("#customers-table tbody .stage").all_text_contents()
    assert stages and set(stages) == {"customer"}
    assert len(stages) == funnel["customer"]
    await dashboard.shot(page, "customers")

    # --- a customer with a hostile name: text, and no script runs --------------------------
    await page.fill("input[name=q]", f"telegram:{MALLORY}")
    await page.click(".filters button[type=submit]")
    await page.click("#customers-table tbody a")
    await page.wait_for_url(f"**/admin/customers/telegram%3A{MALLORY}")
    assert await page.text_content("#customer-name") == HOSTILE
    assert await page.evaluate("() => document.querySelectorAll('main script').length") == 0
    await dashboard.shot(page, "customer")

    # --- a customer who brought friends: their tree by generation ---------------------------
    (referrer,) = await dashboard.rt.storage.records.customers(CustomerFilter(has_referred=True), 1)
    await page.goto(f"{dashboard.url}/admin/customers/{referrer.id}")
    generations = page.locator("#referral-tree li.generation")
    brought = [count for count in referrer.generations if count]
    assert await generations.count() == len(brought)
    first = await generations.first.locator(".label").text_content() or ""
    assert first.startswith(f"Generation 1: {brought[0]} joined")
    assert await page.locator("#timeline li").count() > 1
    await dashboard.shot(page, "customer-tree")
    ann.assert_clean()

    # --- a template: an error is shown and nothing saved; the fix is saved and used ---------
    await page.goto(f"{dashboard.url}/admin/templates")
    await dashboard.shot(page, "templates")
    await page.click("#templates-table a[href$='/templates/en/help']")
    await page.fill("#source", "Hi {{ nonsense }}")
    live = page.locator("#problems li")
    await live.first.wait_for()  # the live check, while typing
    assert "unknown variable 'nonsense'" in (await live.first.text_content() or "")
    await page.click("#save")
    await page.wait_for_load_state()
    assert "unknown variable 'nonsense'" in (await page.text_content("#problems") or "")
    assert await page.input_value("#source") == "Hi {{ nonsense }}"
    assert len(await dashboard.rt.templates.history("help", "en")) == 1  # nothing saved
    await dashboard.shot(page, "template-error")

    await page.fill("#source", FIXED)
    await page.fill("#preview-customer", f"telegram:{MALLORY}")
    await page.wait_for_function(
        "() => document.getElementById('preview-telegram').textContent.startsWith('Need a hand')"
    )
    # the preview shows the hostile name as text too
    assert HOSTILE in (await page.text_content("#preview-telegram") or "")
    await page.fill("#comment", "friendlier")
    await page.click("#save")
    await page.wait_for_selector("#notice")
    assert "Saved as version 2" in (await page.text_content("#notice") or "")
    (latest,) = (await dashboard.rt.templates.history("help", "en"))[-1:]
    assert (latest.number, latest.author, latest.comment) == (2, "ann", "friendlier")
    await dashboard.shot(page, "template-saved")

    dashboard.api.text(MALLORY, "/help", name=HOSTILE)
    await dashboard.api.wait_for(
        lambda: any(t.startswith("Need a hand") for t in dashboard.api.texts_to(MALLORY))
    )
    # sent as Telegram HTML: the name escaped for Telegram
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert dashboard.api.texts_to(MALLORY)[-1] == f"Need a hand, {escaped}? Write to me any time."

    await page.click("a[href$='/diff?from=1&to=2']")
    assert "+Need a hand" in (await page.text_content("#diff") or "")
    await dashboard.shot(page, "template-diff")
    await page.go_back()
    await page.click("#history tr[data-version='1'] button")
    await page.wait_for_selector("#notice")
    assert "Saved as version 3" in (await page.text_content("#notice") or "")
    assert (await dashboard.rt.templates.history("help", "en"))[-1].shipped
    sent = len(dashboard.api.texts_to(MALLORY))
    dashboard.api.text(MALLORY, "/help", name=HOSTILE)
    await dashboard.api.wait_for(lambda: len(dashboard.api.texts_to(MALLORY)) > sent)
    assert "Need a hand" not in dashboard.api.texts_to(MALLORY)[-1]  # the shipped text again

    # --- a form without its CSRF token is refused ------------------------------------------
    await page.evaluate(
        "() => { document.querySelector('#template-form [name=csrf]').value = ''; }"
    )
    await page.fill("#source", "Posted from elsewhere")
    await page.click("#save")
    await page.wait_for_load_state()
    assert "not sent from a page of this dashboard" in (await page.text_content("main") or "")
    assert len(await dashboard.rt.templates.history("help", "en")) == 3

    await page.goto(f"{dashboard.url}/admin/reports")
    await dashboard.shot(page, "reports")
    ann.assert_clean()

    # --- a viewer sees, cannot save ----------------------------------------------------------
    vic = await dashboard.person("vic", phone=True)
    await vic.page.wait_for_url("**/admin/")
    await chart(vic.page, "funnel-chart")
    await dashboard.shot(vic.page, "overview-phone")
    await vic.page.goto(f"{dashboard.url}/admin/templates/en/help")
    assert await vic.page.get_attribute("#source", "readonly") is not None
    assert await vic.page.locator("#save").count() == 0
    async with vic.page.expect_navigation():
        await vic.page.evaluate(
            """() => {
                const source = document.getElementById('source');
                source.removeAttribute('readonly');
                source.value = 'A viewer was here';
                document.getElementById('template-form').submit();
            }"""
        )
    assert "Viewers cannot change messages" in (await vic.page.text_content("main") or "")
    assert len(await dashboard.rt.templates.history("help", "en")) == 3
    await dashboard.shot(vic.page, "viewer-refused")
    vic.assert_clean()

    # --- five wrong passwords, and the sixth try waits ---------------------------------------
    context = await dashboard.browser.new_context()
    guesser = await watched(context)
    for n in range(5):
        await sign_in(guesser.page, dashboard.url, "zed", f"guess number {n}")
        assert "Wrong name or password." in (
            await guesser.page.text_content("#login-problem") or ""
        )
    await sign_in(guesser.page, dashboard.url, "zed", PASSWORD)
    assert "Too many failed sign-ins" in (await guesser.page.text_content("#login-problem") or "")
    assert guesser.page.url.endswith("/admin/login")
    await dashboard.shot(guesser.page, "throttled")
    guesser.assert_clean()
    assert sorted(path.name for path in dashboard.shots.iterdir()) == sorted(
        f"{name}.png"
        for name in (
            "overview",
            "customers",
            "customer",
            "customer-tree",
            "templates",
            "template-error",
            "template-saved",
            "template-diff",
            "reports",
            "overview-phone",
            "viewer-refused",
            "throttled",
        )
    )
    print(f"screenshots: {dashboard.shots}", file=sys.stderr)
