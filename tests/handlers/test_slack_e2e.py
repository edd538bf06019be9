"""The real Bolt app behind our web server: signed requests over HTTP, a local Slack Web API,
and the customer on the local Bot API server at the same time."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import pytest_asyncio
from slack_sdk.signature import SignatureVerifier

from bot.app import Runtime
from bot.clock import ManualClock
from bot.flows.model import CustomerKey
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.telegram_api import BLOCKED, FakeBotApi
from tests.handlers.conftest import free_port, running_bot

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CHANNEL = "C0ESC"
SAM, EVE, ONCALL, ADMIN = "U0SAM", "U0EVE", "U0ONCALL", "U0ADMIN"
CUSTOMER = 701


@pytest_asyncio.fixture
async def slack() -> AsyncIterator[FakeSlackApi]:
    fake = FakeSlackApi(users={SAM: "Sam", EVE: "Eve", ADMIN: "Ada Admin"})
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


class Desk:
    """Signs and sends Slack's requests to the bot's /slack/events, as Slack would."""

    def __init__(self, port: int, slack: FakeSlackApi, rt: Runtime) -> None:
        self.url = f"http://127.0.0.1:{port}/slack/events"
        self.slack = slack
        self.rt = rt
        self._events = 0

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        secret: str | None = SECRET,
        age: int = 0,
        extra: dict[str, str] | None = None,
    ) -> int:
        status, _ = await self.exchange(body, content_type, secret=secret, age=age, extra=extra)
        return status

    async def exchange(
        self,
        body: str,
        content_type: str,
        *,
        secret: str | None = SECRET,
        age: int = 0,
        extra: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        headers = {"Content-Type": content_type, **(extra or {})}
        if secret is not None:
            ts = str(int(time.time()) - age)
            headers["X-Slack-Request-Timestamp"] = ts
            headers["X-Slack-Signature"] = SignatureVerifier(secret).generate_signature(
                timestamp=ts, body=body
            )
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.url, data=body.encode(), headers=headers) as response,
        ):
            return response.status, await response.text()

    async def submit(
        self, user: str, callback_id: str, values: dict[str, Any], metadata: str = ""
    ) -> dict[str, Any]:
        """A modal submission; returns what the bot answered (its ack body)."""
        payload = {
            "type": "view_submission",
            "team": {"id": "T0SHOP", "domain": "shop"},
            "user": {"id": user, "username": user.lower(), "team_id": "T0SHOP"},
            "api_app_id": "A0APP",
            "token": "legacy",
            "trigger_id": "trig",
            "view": {
                "id": "V0MODAL",
                "type": "modal",
                "callback_id": callback_id,
                "private_metadata": metadata,
                "state": {"values": values},
                "hash": "h1",
            },
        }
        status, text = await self.exchange(
            "payload=" + quote(json.dumps(payload)), "application/x-www-form-urlencoded"
        )
        assert status == 200, text
        result: dict[str, Any] = json.loads(text) if text else {}
        return result

    async def event(self, event: dict[str, Any], event_id: str | None = None, **kw: Any) -> int:
        self._events += 1
        body = {
            "token": "legacy",
            "team_id": "T0SHOP",
            "api_app_id": "A0APP",
            "type": "event_callback",
            "event_id": event_id or f"Ev{self._events:04d}",
            "event_time": int(time.time()),
            "event": event,
        }
        return await self.post(json.dumps(body), "application/json", **kw)

    async def reply(self, user: str, thread_ts: str, text: str, **kw: Any) -> int:
        ts = f"{time.time():.6f}"
        event = {
            "type": "message",
            "channel": CHANNEL,
            "user": user,
            "text": text,
            "ts": ts,
            "thread_ts": thread_ts,
        }
        return await self.event(event, **kw)

    async def press(self, user: str, action_id: str, case_id: str, **kw: Any) -> int:
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": "T0SHOP"},
            "api_app_id": "A0APP",
            "token": "legacy",
            "container": {"type": "message", "message_ts": "1", "channel_id": CHANNEL},
            "trigger_id": "trig",
            "team": {"id": "T0SHOP", "domain": "shop"},
            "channel": {"id": CHANNEL, "name": "escalations"},
            "response_url": self.slack.response_url,
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "case_actions",
                    "value": case_id,
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        body = "payload=" + quote(json.dumps(payload))
        return await self.post(body, "application/x-www-form-urlencoded", **kw)

    async def command(self, user: str, text: str = "") -> int:
        body = urlencode(
            {
                "token": "legacy",
                "team_id": "T0SHOP",
                "channel_id": CHANNEL,
                "user_id": user,
                "command": "/escalator",
                "text": text,
                "response_url": self.slack.response_url,
                "trigger_id": "trig",
                "api_app_id": "A0APP",
            }
        )
        return await self.post(body, "application/x-www-form-urlencoded")

    async def card_ts(self, case_id: str) -> str:
        """The ts of the case's card, once the bot has recorded it."""
        for _ in range(200):
            thread = await self.rt.storage.cases.thread(case_id)
            if thread is not None:
                return thread[1]
            await asyncio.sleep(0.02)
        raise AssertionError(f"no card recorded for {case_id}")

    def cards(self) -> list[dict[str, Any]]:
        return [m for m in self.slack.of("chat.postMessage") if m.get("blocks")]

    def thread(self, ts: str) -> list[str]:
        return [m["text"] for m in self.slack.of("chat.postMessage") if m.get("thread_ts") == ts]


@asynccontextmanager
async def desk_and_bot(
    api: FakeBotApi, slack: FakeSlackApi, tmp_path: Path, clock: ManualClock, **extra: str
) -> AsyncIterator[Desk]:
    port = free_port()
    env = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_BASE_URL": slack.base_url,
        "SLACK_ESCALATION_CHANNEL": CHANNEL,
        "SLACK_STAFF_USERS": SAM,
        "SLACK_ADMIN_USERS": ADMIN,
        "SLACK_ONCALL": ONCALL,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        **extra,
    }
    async with running_bot(api, tmp_path / "t.db", clock, **env) as rt:
        yield Desk(port, slack, rt)


async def escalate(
    api: FakeBotApi, desk: Desk, name: str = "Ada", text: str = "I want a refund"
) -> dict[str, Any]:
    api.text(CUSTOMER, "/start", name=name)
    await api.wait_for(lambda: len(api.texts_to(CUSTOMER)) == 1)
    api.text(CUSTOMER, text, name=name)
    await desk.slack.wait_for(lambda: len(desk.cards()) == 1)
    return desk.cards()[0]


async def test_the_case_goes_round_trip_through_slack(
    api: FakeBotApi, slack: FakeSlackApi, tmp_path: Path
) -> None:
    clock = ManualClock()
    async with desk_and_bot(api, slack, tmp_path, clock) as desk:
        card = await escalate(api, desk)
        case_id = f"telegram:{CUSTOMER}#1"
        text = card["blocks"][0]["text"]["text"]
        assert "Ada" in text and "refund" in text and "I want a refund" in text
        buttons = [e["action_id"] for e in card["blocks"][1]["elements"]]
        assert buttons == ["case_claim", "case_resolve", "case_handback"]
        card_ts = await desk.card_ts(case_id)

        assert await desk.press(SAM, "case_claim", case_id) == 200
        await slack.wait_for(lambda: len(slack.of("chat.update")) == 1)
        assert "Claimed by Sam" in slack.of("chat.update")[0]["blocks"][0]["text"]["text"]

        # the customer writes; staff see it in the thread, the bot stays quiet
        api.text(CUSTOMER, "hello? <b>anyone</b>")
        await slack.wait_for(lambda: any("anyone" in t for t in desk.thread(card_ts)))
        assert len(api.texts_to(CUSTOMER)) == 2

        # a staff reply in the thread reaches the customer, signed; a note does not
        assert (
            await desk.reply(
                SAM, card_ts, "Refund sent &amp; confirmed <https://shop.example/r|here>"
            )
            == 200
        )
        await api.wait_for(lambda: len(api.texts_to(CUSTOMER)) == 3)
        assert api.texts_to(CUSTOMER)[2] == (
            "Refund sent &amp; confirmed here (https://shop.example/r)\n\n— Sam, customer care"
        )
        assert await desk.reply(SAM, card_ts, "note: refund id R-77") == 200
        # each staff message in the thread is marked with its fate: sent, then internal
        await slack.wait_for(lambda: len(slack.of("reactions.add")) == 2)
        assert [r["name"] for r in slack.of("reactions.add")] == ["white_check_mark", "lock"]
        await asyncio.sleep(0.2)
        assert len(api.texts_to(CUSTOMER)) == 3

        assert await desk.press(SAM, "case_resolve", case_id) == 200
        await slack.wait_for(lambda: len(slack.of("chat.update")) == 2)
        resolved = slack.of("chat.update")[1]["blocks"]
        assert "Resolved by Sam" in resolved[0]["text"]["text"]
        assert len(resolved) == 1  # no buttons on a resolved card
        clock.advance(timedelta(days=1))
        await api.wait_for(lambda: len(api.texts_to(CUSTOMER)) == 4)
        assert "did we sort it out" in api.texts_to(CUSTOMER)[3]


async def test_unclaimed_cases_are_reposted_to_on_call_twice(
    api: FakeBotApi, slack: FakeSlackApi, tmp_path: Path
) -> None:
    clock = ManualClock()
    async with desk_and_bot(api, slack, tmp_path, clock) as desk:
        await escalate(api, desk)

        def reminders() -> list[dict[str, Any]]:
            return [m for m in slack.of("chat.postMessage") if "unclaimed" in m.get("text", "")]

        clock.advance(timedelta(minutes=31))
        await slack.wait_for(lambda: len(reminders()) == 1)
        first = reminders()[0]
        assert first["text"].startswith(f"<@{ONCALL}>") and "thread_ts" not in first
        assert "https://shop.slack.com/archives/C0ESC/p" in first["text"]
        clock.advance(timedelta(minutes=31))
        await slack.wait_for(lambda: len(reminders()) == 2)
        assert "second reminder" in reminders()[1]["text"]
        clock.advance(timedelta(minutes=31))
        await asyncio.sleep(0.5)
        assert len(reminders()) == 2


async def test_unsigned_badly_signed_and_stale_requests_are_refused(
    api: FakeBotApi, slack: FakeSlackApi, tmp_path: Path
) -> None:
    async with desk_and_bot(api, slack, tmp_path, ManualClock()) as desk:
        await escalate(api, desk)
        case_id = f"telegram:{CUSTOMER}#1"
        assert await desk.press(SAM, "case_claim", case_id, secret=None) == 401
        assert await desk.press(SAM, "case_claim", case_id, secret="not-the-secret") == 401
        assert await desk.press(SAM, "case_claim", case_id, age=600) == 401
        await asyncio.sleep(0.3)
        assert slack.of("chat.update") == []
        view = await desk.rt.storage.cases.view(case_id)
        assert view is not None and view["claimed_by"] is None


async def test_unauthorised_users_get_an_ephemeral_refusal(
    api: FakeBotApi, slack: FakeSlackApi, tmp_path: Path
) -> None:
    async with desk_and_bot(api, slack, tmp_path, ManualClock()) as desk:
        await escalate(api, desk)
        case_id = f"telegram:{CUSTOMER}#1"
        card_ts = await desk.card_ts(case_id)
        assert await desk.press(EVE, "case_resolve", case_id) == 200
        assert await desk.reply(EVE, card_ts, "let me handle this") == 200
        await slack.wait_for(lambda: len(slack.of("chat.postEphemeral")) == 2)
        assert all(m["user"] == EVE for m in slack.of("chat.postEphemeral"))
        assert await desk.command(EVE) == 200
        await slack.wait_for(lambda: len(slack.responses) == 1)
        assert "staff list" in slack.responses[0]["text"]
        await asyncio.sleep(0.2)
        assert slack.of("chat.update") == [] and len(api.texts_to(CUSTOMER)) == 2
        view = await desk.rt.storage.cases.view(case_id)
        assert view is not None and view["status"] == "open"


async def test_a_retried_event_is_processed_once(
    api: FakeBotApi, slack: FakeSlackApi, tmp_path: Path
) -> None:
    async with desk_and_bot(api, slack, tmp_path, ManualClock()) as desk:
        await escalate(api, desk)
        card_ts = await desk.card_ts(f"telegram:{CUSTOMER}#1")
        event = {
            "type": "message",
            "channel": CHANNEL,
            "user": SAM,
            "text": "On it!",
            "ts": "1700000100.000100",
            "thread_ts": card_ts,
        }
        assert await desk.event(event, event_id="Ev42") == 200
        assert await desk.event(event, event_id="Ev42", extra={"X-Slack-Retry-Num": "1"}) == 200
        await api.wait_for(lambda: len(api.texts_to(CUSTOMER)) == 3)
        await asyncio.sleep(0.4)
        assert len(api.texts_to(CUSTOMER)) == 3


async def test_customer_text_cannot_ping_or_disguise_links(
    api: FakeBotApi, slack: FakeSlackApi, tmp_path: Path
) -> None:
    async with desk_and_bot(api, slack, tmp_path, ManualClock()) as desk:
        card = await escalate(
            api,
            desk,
            name="<!channel>",
            text="refund please <https://evil.example|invoice> & <@U0SAM>",
        )
        text = card["blocks"][0]["text"]["text"]
        assert "<!channel>" not in text and "&lt;!channel&gt;" in text
        assert "&lt;https://evil.example|invoice&gt;" in text
        assert "&amp; &lt;@U0SAM&gt;" in text
        assert "<https://evil" not in card["text"] and "<!channel>" not in card["text"]


async def test_web_api_rate_limits_are_retried(
    api: FakeBotApi, slack: FakeSlackApi, tmp_path: Path
) -> None:
    slack.ratelimited["chat.postMessage"] = 1
    async with desk_and_bot(api, slack, tmp_path, ManualClock()) as desk:
        await escalate(api, desk)
    assert [name for name, _ in slack.calls].count("chat.postMessage!429") == 1
    assert len(desk.cards()) == 1


async def test_failed_delivery_to_the_customer_is_reported_in_the_thread(
    api: FakeBotApi, slack: FakeSlackApi, tmp_path: Path
) -> None:
    async with desk_and_bot(api, slack, tmp_path, ManualClock()) as desk:
        await escalate(api, desk)
        card_ts = await desk.card_ts(f"telegram:{CUSTOMER}#1")
        api.fail_next("sendMessage", BLOCKED)
        await desk.reply(SAM, card_ts, "Are you there?")
        await slack.wait_for(
            lambda: any("could not be delivered" in t for t in desk.thread(card_ts))
        )
        customer = await desk.rt.storage.journey.customer(CustomerKey("telegram", str(CUSTOMER)))
        assert customer is not None and customer.unreachable


async def test_app_home_and_slash_command_summarise(
    api: FakeBotApi, slack: FakeSlackApi, tmp_path: Path
) -> None:
    async with desk_and_bot(api, slack, tmp_path, ManualClock()) as desk:
        await escalate(api, desk)
        assert await desk.event({"type": "app_home_opened", "user": SAM, "tab": "home"}) == 200
        await slack.wait_for(lambda: len(slack.of("views.publish")) == 1)
        home = slack.of("views.publish")[0]
        text = home["view"]["blocks"][0]["text"]["text"]
        assert home["user_id"] == SAM and "Open cases (1)" in text and "engaged 1" in text
        assert await desk.command(SAM) == 200
        assert await desk.command(SAM, "help") == 200
        await slack.wait_for(lambda: len(slack.responses) == 2)
        assert "Open cases (1)" in slack.responses[0]["text"]
        assert "note:" in slack.responses[1]["text"]
        assert all(r["response_type"] == "ephemeral" for r in slack.responses)


def text_value(text: str) -> dict[str, Any]:
    return {"value": {"type": "plain_text_input", "value": text}}


async def test_admins_edit_templates_in_a_modal(
    api: FakeBotApi, slack: FakeSlackApi, tmp_path: Path
) -> None:
    clock = ManualClock()
    async with desk_and_bot(api, slack, tmp_path, clock, TEMPLATE_REFRESH="0") as desk:
        assert await desk.command(SAM, "templates") == 200  # staff, not an admin
        await slack.wait_for(lambda: len(slack.responses) == 1)
        assert "staff list" in slack.responses[0]["text"] and slack.of("views.open") == []
        assert await desk.command(ADMIN, "templates") == 200
        await slack.wait_for(lambda: len(slack.of("views.open")) == 1)
        assert slack.of("views.open")[0]["view"]["callback_id"] == "tpl_pick"

        picked = {
            "message": {
                "value": {"type": "static_select", "selected_option": {"value": "checkin"}}
            },
            "locale": {"value": {"type": "static_select", "selected_option": {"value": "en"}}},
        }
        editor = await desk.submit(ADMIN, "tpl_pick", picked)
        assert editor["response_action"] == "update"
        assert editor["view"]["callback_id"] == "tpl_edit"
        source_block = next(b for b in editor["view"]["blocks"] if b.get("block_id") == "source")
        assert "quick check-in" in source_block["element"]["initial_value"]
        meta = editor["view"]["private_metadata"]

        typo = await desk.submit(
            ADMIN,
            "tpl_edit",
            {"source": text_value("Hi {{ frist_name }}!"), "comment": text_value("")},
            meta,
        )
        assert typo["response_action"] == "errors"
        assert "line 1: unknown variable 'frist_name'" in typo["errors"]["source"]

        fixed = "Hi {{ first_name }}, all well?"
        confirm = await desk.submit(
            ADMIN,
            "tpl_edit",
            {"source": text_value(fixed), "comment": text_value("shorter <!channel>")},
            meta,
        )
        assert confirm["view"]["callback_id"] == "tpl_confirm"
        assert any(
            "Hi Ada, all well?" in b.get("text", {}).get("text", "")
            for b in confirm["view"]["blocks"]
        )

        forged = await desk.submit(
            SAM, "tpl_confirm", {"source": text_value(fixed)}, confirm["view"]["private_metadata"]
        )
        assert forged["response_action"] == "errors"
        saved = await desk.submit(
            ADMIN, "tpl_confirm", {"source": text_value(fixed)}, confirm["view"]["private_metadata"]
        )
        assert "saved as version 2" in saved["view"]["blocks"][0]["text"]["text"]
        history = await desk.rt.templates.history("checkin", "en")
        assert [(v.number, v.author, v.comment) for v in history][-1] == (
            2,
            "Ada Admin",
            "shorter <!channel>",
        )
        reopened = await desk.submit(ADMIN, "tpl_pick", picked)
        shown = json.dumps(reopened["view"]["blocks"], ensure_ascii=False)
        assert "v2 · Ada Admin" in shown and "shorter &lt;!channel&gt;" in shown
        assert "<!channel>" not in shown  # a comment pings nobody

        api.text(CUSTOMER, "/start")
        await api.wait_for(lambda: len(api.texts_to(CUSTOMER)) == 1)
        clock.advance(timedelta(days=2))
        await api.wait_for(lambda: len(api.texts_to(CUSTOMER)) == 2)
        assert api.texts_to(CUSTOMER)[1] == "Hi Ada, all well?"

        assert await desk.event({"type": "app_home_opened", "user": ADMIN, "tab": "home"}) == 200
        await slack.wait_for(lambda: len(slack.of("views.publish")) == 1)
        home_blocks = slack.of("views.publish")[0]["view"]["blocks"]
        assert home_blocks[-1]["elements"][0]["action_id"] == "open_templates"
