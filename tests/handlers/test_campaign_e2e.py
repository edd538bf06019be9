"""A campaign on the real bot: customers start it over HTTP on the local Bot API stand-in, a
staff member tags one from Slack, an admin starts the campaign with its button, and every
message reaches Telegram (names escaped); the list on the desk then reports it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest_asyncio

from bot import campaign_service
from bot.clock import ManualClock
from bot.messages.catalog import Catalog
from bot.storage.segment_types import Segment
from tests.conftest import START
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.telegram_api import FakeBotApi
from tests.handlers.test_slack_e2e import ADMIN, EVE, SAM, desk_and_bot

PEOPLE = {801: "<b>Bo</b>", 802: "Cy", 803: "Di"}


@pytest_asyncio.fixture
async def slack() -> AsyncIterator[FakeSlackApi]:
    fake = FakeSlackApi(users={SAM: "Sam", EVE: "Eve", ADMIN: "Ada Admin"})
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


async def test_an_admin_starts_a_campaign_from_slack_and_telegram_receives_it(
    api: FakeBotApi, slack: FakeSlackApi, tmp_path: Path
) -> None:
    clock = ManualClock(START, offset=timedelta(hours=3))  # noon UTC: not quiet hours
    async with desk_and_bot(api, slack, tmp_path, clock, QUIET_HOURS="21:00-09:00") as desk:
        rt = desk.rt
        for chat, name in PEOPLE.items():
            api.text(chat, "/start", name=name)
        await api.wait_for(lambda: all(len(api.texts_to(chat)) == 1 for chat in PEOPLE))

        # staff tag two customers; the segment selects the tag
        assert await desk.command(SAM, "tag 801 vip") == 200
        assert await desk.command(SAM, "tag telegram:802 VIP") == 200
        await slack.wait_for(lambda: len(slack.responses) == 2)
        assert "`telegram:801` tagged `vip`" in slack.responses[0]["text"]
        await rt.storage.segments.save(Segment("vips", '{"tag": "vip"}', "", "sam", START, START))
        catalog = Catalog.load(rt.settings.templates_dir / "catalog.toml")
        await campaign_service.create(
            rt.storage,
            catalog,
            campaign_service.CampaignRequest("thanks", "vips", "campaign_message"),
            clock.now(),
        )

        # staff see the list without buttons; an admin starts it with the button
        assert await desk.command(SAM, "campaigns") == 200
        await slack.wait_for(lambda: len(slack.responses) == 3)
        listed = slack.responses[2]
        assert not [b for b in listed["blocks"] if b["type"] == "actions"]
        assert await desk.command(SAM, "campaign start thanks") == 200
        await slack.wait_for(lambda: len(slack.responses) == 4)
        assert "thanks" not in slack.responses[3]["text"]  # refused: not an admin
        assert await desk.press(ADMIN, "campaign_start", "thanks") == 200
        await slack.wait_for(lambda: len(slack.responses) == 5)
        assert "started for 2 customers" in slack.responses[4]["text"]

        await api.wait_for(lambda: len(api.texts_to(801)) == 2 and len(api.texts_to(802)) == 2)
        first = api.texts_to(801)[1]
        assert first.startswith("Hi &lt;b&gt;Bo&lt;/b&gt;! Thanks")  # escaped for Telegram HTML
        assert len(api.texts_to(803)) == 1  # not in the segment

        assert await desk.command(ADMIN, "campaigns") == 200
        await slack.wait_for(lambda: len(slack.responses) == 6)
        row = slack.responses[5]["blocks"][1]["text"]["text"]
        assert "*thanks* · running" in row and "targeted 2 · sent 2" in row
        buttons = [
            e["action_id"]
            for b in slack.responses[5]["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
        ]
        assert buttons == ["campaign_pause", "campaign_cancel"]
        assert await desk.press(ADMIN, "campaign_pause", "thanks") == 200
        await slack.wait_for(lambda: len(slack.responses) == 7)
        assert "paused" in slack.responses[6]["text"]
        campaign = await rt.storage.campaigns.get("thanks")
        assert campaign is not None and campaign.status == "paused"
