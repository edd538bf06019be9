"""The dashboard's reports page with the real campaign and experiment sections, as the bot
composes them: the figures match what `escalator campaigns show` and `escalator experiments
report` print for the same database."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from bot.app import open_runtime
from bot.clock import ManualClock
from bot.config import load_settings
from bot.dashboard import dashboard
from bot.handlers.web import build_web_app
from bot.passwords import hash_password
from bot.storage.types import AdminAccount
from tests.cli.test_segments_cli import PROMOTERS, _seed, cli
from tests.conftest import RecordingChannel
from tests.handlers.admin.test_http import PASSWORD, sign_in


async def reports_page(db: Path) -> str:
    settings = load_settings(DATABASE_URL=f"sqlite:///{db}")
    clock = ManualClock(datetime.now(UTC))
    async with open_runtime(settings, clock, {}, RecordingChannel()) as rt:
        now = datetime.now(UTC)
        encoded = hash_password(PASSWORD, log2_n=12)
        await rt.storage.admin.save_account(AdminAccount("ann", encoded, "viewer", now, now))
        admin = await dashboard(settings, rt)
        assert admin is not None
        app = build_web_app(
            telegram_path=None, telegram_secret=None, accept_update=None, admin=admin
        )
        jar = aiohttp.CookieJar(unsafe=True)
        async with TestClient(TestServer(app), cookie_jar=jar) as client:
            await sign_in(client)
            answer = await client.get("/admin/reports")
            assert answer.status == 200
            return await answer.text()


def test_campaigns_and_experiments_show_the_figures_the_commands_print(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    simulated = cli(db, "simulate", "--customers", "60", "--days", "30", "--experiment-lift", "0.2")
    assert simulated.returncode == 0, simulated.stderr
    asyncio.run(_seed(db))
    assert cli(db, "segments", "define", "quiet-promoters", PROMOTERS).returncode == 0
    bad = cli(db, "campaigns", "create", "Ask!", "--segment", "quiet-promoters")
    assert bad.returncode == 2 and "campaign name 'Ask!'" in bad.stderr
    created = cli(
        db, "campaigns", "create", "ask-friends", "--segment", "quiet-promoters",
        "--template", "referral_invite",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert cli(db, "campaigns", "start", "ask-friends").returncode == 0

    shown = cli(db, "campaigns", "show", "ask-friends").stdout
    targeted = re.search(r"targeted\s+(\d+)", shown)
    assert targeted and int(targeted.group(1)) > 0
    report = cli(db, "experiments", "report", "sim-referral-prompt").stdout
    exposed = dict(re.findall(r"variant (\w) \(weight \d+\): ([\d,]+) exposed", report))
    assert set(exposed) == {"A", "B"} and sum(int(n.replace(",", "")) for n in exposed.values())

    page = asyncio.run(reports_page(db))
    assert "<h2>Campaigns</h2>" in page and "<h2>Experiments</h2>" in page
    assert "ask-friends" in page
    assert f"<dt>targeted</dt><dd>{int(targeted.group(1)):,}</dd>" in page
    assert "sim-referral-prompt" in page
    for label, count in exposed.items():
        assert re.search(rf"<dt>variant {label} \(weight \d+\)</dt><dd>[\d.]+% of {count} ", page)
    enough = "not enough data yet" not in report
    assert ("Not enough data yet" in page) is not enough
    assert '"kind": "bar"' in page and "referral rate, % (goal)" in page
