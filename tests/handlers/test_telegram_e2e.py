"""The real python-telegram-bot client against a local Bot API server over HTTP."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.api import record_purchase, staff_act
from bot.clock import ManualClock
from bot.delivery.engine import Outcome
from bot.flows.model import CustomerKey
from bot.flows.stages import Stage
from bot.storage import Storage
from bot.storage.postgres import PostgresStorage
from bot.storage.sqlite import SQLiteStorage
from tests.conftest import sql
from tests.fakes.telegram_api import BAD_REQUEST, BLOCKED, SERVER_ERROR, TOO_MANY, FakeBotApi
from tests.handlers.conftest import free_port, running_bot, webhook_env

ADA = 501


def key(user: int) -> CustomerKey:
    return CustomerKey("telegram", str(user))


def question_message(api: FakeBotApi, chat: int) -> dict[str, object]:
    asked = [
        m
        for m in api.messages.values()
        if m["chat"]["id"] == chat and m.get("reply_markup")  # type: ignore[index]
    ]
    assert asked, "no question with buttons was sent"
    return asked[-1]


def buttons_of(message: dict[str, Any]) -> list[dict[str, str]]:
    return [b for row in message["reply_markup"]["inline_keyboard"] for b in row]


async def press(api: FakeBotApi, chat: int, label: str) -> None:
    """Press the button labelled `label` on the latest question sent to `chat`."""
    question = question_message(api, chat)
    (button,) = [b for b in buttons_of(question) if b["text"] == label]
    api.press(chat, int(question["message_id"]), button["callback_data"])


def recorded_sends(storage: Storage, customer: CustomerKey) -> int:
    rows = sql(
        storage,
        "SELECT count(*) FROM outbox WHERE customer_id = ? AND audience = 'customer' "
        "AND kind = 'message' AND status = 'sent'",
        (customer.id,),
    )
    return int(rows[0][0])


@pytest.mark.parametrize("where", ["sqlite-polling", "postgresql-webhook"])
async def test_whole_journey_from_a_campaign_link(
    api: FakeBotApi, tmp_path: Path, where: str, request: pytest.FixtureRequest
) -> None:
    clock = ManualClock()
    extra: dict[str, str] = {}
    if where == "postgresql-webhook":
        extra = {"DATABASE_URL": str(request.getfixturevalue("pg_url")), **webhook_env()}
    async with running_bot(api, tmp_path / "t.db", clock, **extra) as rt:
        expected = PostgresStorage if where == "postgresql-webhook" else SQLiteStorage
        assert isinstance(rt.storage, expected)
        assert (api.webhook is not None) == (where == "postgresql-webhook")
        api.text(ADA, "/start some_campaign")
        await api.wait_for(lambda: len(api.texts_to(ADA)) == 1)
        assert "Welcome" in api.texts_to(ADA)[0]
        assert api.sent_to(ADA)[0]["parse_mode"] == "HTML"

        # the business system records a purchase; three days later, the check-in
        assert (
            await record_purchase(rt.engine, rt.storage.journey, key(ADA), "A-1", 30.0)
            is Outcome.DONE
        )
        clock.advance(timedelta(days=3))
        await api.wait_for(lambda: len(api.texts_to(ADA)) == 2)
        assert "your order" in api.texts_to(ADA)[1]
        checkin = question_message(api, ADA)
        checkin_buttons = buttons_of(checkin)
        labels = [b["text"] for b in checkin_buttons]
        assert labels == ["Great 😀", "Okay 🙂", "Not great 😕"]

        await press(api, ADA, "Great 😀")
        await api.wait_for(lambda: len(api.texts_to(ADA)) == 4)
        await api.wait_for(lambda: api.count("editMessageReplyMarkup") == 1)
        assert api.count("answerCallbackQuery") == 1
        assert "reply_markup" not in api.messages[int(checkin["message_id"])]
        assert "recommend" in api.texts_to(ADA)[3]
        rating = question_message(api, ADA)
        assert [b["text"] for b in buttons_of(rating)] == [str(n) for n in range(11)]

        # the same old check-in button again: answered, a short notice, no action
        api.press(ADA, int(checkin["message_id"]), checkin_buttons[2]["callback_data"])
        await api.wait_for(lambda: len(api.texts_to(ADA)) == 5)
        assert "no longer active" in api.texts_to(ADA)[4]

        api.sticker(ADA)  # a sticker where a rating was expected: asked again
        await api.wait_for(lambda: len(api.texts_to(ADA)) == 6)
        assert "number from 0 to 10" in api.texts_to(ADA)[5]

        await press(api, ADA, "3")
        await api.wait_for(lambda: len(api.texts_to(ADA)) == 7)
        assert "What went wrong" in api.texts_to(ADA)[6]
        api.text(ADA, "it arrived broken <b>twice</b>")
        await api.wait_for(lambda: len(api.texts_to(ADA)) == 8)
        assert "real person" in api.texts_to(ADA)[7]

        # while the case is open the bot stays quiet and relays to staff
        api.text(ADA, "hello?")
        await asyncio.sleep(0.3)
        assert len(api.texts_to(ADA)) == 8
        case_id = "telegram:501#1"
        view = await rt.storage.cases.view(case_id)
        assert view is not None and view["trigger"] == "it arrived broken <b>twice</b>"
        assert [line["text"] for line in view["recent"]][-1] == "hello?"  # type: ignore[index]

        await staff_act(
            rt.engine, rt.storage.cases, case_id, "reply", "Sam <3", "So sorry & on it!"
        )
        await api.wait_for(lambda: len(api.texts_to(ADA)) == 9)
        assert api.texts_to(ADA)[8] == "So sorry &amp; on it!\n\n— Sam &lt;3, customer care"

        await staff_act(rt.engine, rt.storage.cases, case_id, "resolve", "Sam")
        clock.advance(timedelta(days=1))
        await api.wait_for(lambda: len(api.texts_to(ADA)) == 10)
        assert "did we sort it out" in api.texts_to(ADA)[9]
        await press(api, ADA, "Yes, all sorted")
        await api.wait_for(lambda: len(api.texts_to(ADA)) == 11)
        assert "glad" in api.texts_to(ADA)[10]

        api.edited(ADA, "edited text is ignored")
        api.text(ADA, "/status")
        await api.wait_for(lambda: len(api.texts_to(ADA)) == 12)
        assert "Stage: customer" in api.texts_to(ADA)[11]

        customer = await rt.storage.journey.customer(key(ADA))
        assert customer is not None
        assert (customer.stage, customer.source) == (Stage.CUSTOMER, "some_campaign")
        # each message sent is recorded once (the last record may still be on its way)
        deadline = asyncio.get_running_loop().time() + 10
        while (sent := recorded_sends(rt.storage, key(ADA))) < len(api.texts_to(ADA)):
            assert asyncio.get_running_loop().time() < deadline, sent
            await asyncio.sleep(0.02)
        assert sent == len(api.texts_to(ADA)) == 12
        assert (customer.first_name, customer.language) == ("Ada", "en")
        assert customer.case_id is None


async def test_referral_link_and_badges_on_telegram(api: FakeBotApi, tmp_path: Path) -> None:
    clock = ManualClock()
    async with running_bot(api, tmp_path / "t.db", clock) as rt:
        api.text(ADA, "/start")
        await api.wait_for(lambda: len(api.texts_to(ADA)) == 1)
        clock.advance(timedelta(days=2))
        await api.wait_for(lambda: len(api.texts_to(ADA)) == 2)
        await press(api, ADA, "Great 😀")
        await api.wait_for(lambda: len(api.texts_to(ADA)) == 4)
        await press(api, ADA, "10")
        await api.wait_for(lambda: len(api.texts_to(ADA)) == 5)
        api.text(ADA, "the people")
        await api.wait_for(lambda: len(api.texts_to(ADA)) == 7)
        invite = api.texts_to(ADA)[6]
        (link,) = {
            w.rstrip("”") for w in invite.split() if w.startswith("https://t.me/escalator_bot?")
        }
        code = link.rsplit("=", 1)[1]
        assert code.startswith("ref-")

        api.text(502, f"/start {code}", name="Bo")
        await api.wait_for(lambda: len(api.texts_to(ADA)) == 8)
        assert "Bo just joined through your link" in api.texts_to(ADA)[7]
        await record_purchase(rt.engine, rt.storage.journey, key(502), "B-1")
        await api.wait_for(lambda: len(api.texts_to(ADA)) == 10)
        assert "first purchase" in api.texts_to(ADA)[8]
        assert "First referral" in api.texts_to(ADA)[9]
        api.text(ADA, "/badges")
        await api.wait_for(lambda: len(api.texts_to(ADA)) == 11)
        assert "🏅 First referral" in api.texts_to(ADA)[10]
        customer = await rt.storage.journey.customer(key(ADA))
    assert customer is not None and customer.stage is Stage.ADVOCATE


async def test_customer_values_are_escaped_for_telegram_html(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with running_bot(api, tmp_path / "t.db", ManualClock()):
        api.text(502, "/start", name="<b>Eve</b> & co")
        await api.wait_for(lambda: len(api.texts_to(502)) == 1)
    assert "Hi &lt;b&gt;Eve&lt;/b&gt; &amp; co!" in api.texts_to(502)[0]


async def test_groups_get_a_private_only_notice(api: FakeBotApi, tmp_path: Path) -> None:
    async with running_bot(api, tmp_path / "t.db", ManualClock()) as rt:
        api.group_command(-100123, ADA, "/start")
        await api.wait_for(lambda: len(api.texts_to(-100123)) == 1)
        assert "privately" in api.texts_to(-100123)[0]
        assert await rt.storage.journey.customer(key(ADA)) is None


async def test_flood_control_paces_and_honours_retry_after(api: FakeBotApi, tmp_path: Path) -> None:
    api.bulk_limit, api.chat_limit = 30, 1
    api.fail_next("sendMessage", TOO_MANY)
    async with running_bot(api, tmp_path / "t.db", ManualClock(), TELEGRAM_RATE_PER_CHAT="1"):
        users = range(1000, 1045)
        for user in users:
            api.text(user, "/start")
        await api.wait_for(lambda: all(len(api.texts_to(u)) == 1 for u in users), timeout=20)
    assert api.flood_hits == 0  # our pacing never provoked a 429
    assert sum(len(api.texts_to(u)) for u in users) == 45  # the injected 429 was retried once


async def test_blocked_customer_is_marked_unreachable(api: FakeBotApi, tmp_path: Path) -> None:
    clock = ManualClock()
    async with running_bot(api, tmp_path / "t.db", clock) as rt:
        api.fail_next("sendMessage", BLOCKED)
        api.text(601, "/start")
        await api.wait_for(lambda: api.attempts("sendMessage") == 1)
        api.text(602, "/start")
        await api.wait_for(lambda: len(api.texts_to(602)) == 1)
        api.block(602)
        for _ in range(100):
            first = await rt.storage.journey.customer(key(601))
            second = await rt.storage.journey.customer(key(602))
            if first and second and first.unreachable and second.unreachable:
                break
            await asyncio.sleep(0.05)
        assert first is not None and first.unreachable
        assert second is not None and second.unreachable
        clock.advance(timedelta(days=3))
        await asyncio.sleep(0.5)
        assert api.texts_to(601) == [] and len(api.texts_to(602)) == 1  # no check-ins


async def test_server_errors_retry_and_bad_requests_are_recorded(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with running_bot(api, tmp_path / "t.db", ManualClock()) as rt:
        api.fail_next("sendMessage", SERVER_ERROR, BAD_REQUEST)
        api.text(701, "/start")
        api.text(702, "/start")
        await api.wait_for(lambda: len(api.texts_to(701) + api.texts_to(702)) == 1, timeout=15)
        failed = sql(rt.storage, "SELECT last_error FROM outbox WHERE status = 'failed'")
    assert failed == [("Chat not found",)]  # PTB drops the "Bad Request: " prefix
    assert api.attempts("sendMessage") == 3  # the 500 was retried, the 400 was not


async def test_redelivered_update_is_processed_once(api: FakeBotApi, tmp_path: Path) -> None:
    async with running_bot(api, tmp_path / "t.db", ManualClock()) as rt:
        update = api.text(801, "/start")
        await api.wait_for(lambda: len(api.texts_to(801)) == 1)
        api.push("message", update["message"], update_id=update["update_id"])
        api.text(801, "/help")
        await api.wait_for(lambda: len(api.texts_to(801)) == 2)
        history = await rt.storage.journey.history(key(801), 10)
    assert [h.event for h in history] == ["captured"]
    assert "Welcome" in api.texts_to(801)[0] and "/status" in api.texts_to(801)[1]


async def test_webhook_mode_checks_the_secret(api: FakeBotApi, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/tg/hook"
    env = {
        "TELEGRAM_MODE": "webhook",
        "TELEGRAM_WEBHOOK_URL": url,
        "TELEGRAM_WEBHOOK_SECRET": "s3cret-Token_1",
        "PORT": str(port),
        "HOST": "127.0.0.1",
    }
    update = {
        "update_id": 9001,
        "message": {
            "message_id": 1,
            "date": 1700000000,
            "chat": {"id": 901, "type": "private", "first_name": "Web"},
            "from": {"id": 901, "is_bot": False, "first_name": "Web"},
            "text": "/start web_campaign",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }
    async with running_bot(api, tmp_path / "t.db", ManualClock(), **env) as rt:
        assert api.webhook is not None
        assert api.webhook["url"] == url and api.webhook["secret_token"] == "s3cret-Token_1"
        async with aiohttp.ClientSession() as http:
            right = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-Token_1"}
            async with http.post(url, json=update) as missing:
                assert missing.status == 403
            async with http.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}
            ) as wrong:
                assert wrong.status == 403
            await asyncio.sleep(0.3)
            assert await rt.storage.journey.customer(key(901)) is None  # nothing was processed
            async with http.post(url, data="{not json", headers=right) as malformed:
                assert malformed.status == 400
            async with http.post(url, json=[1, 2], headers=right) as not_update:
                assert not_update.status == 400
            for _ in range(2):  # Telegram redelivers when unsure
                async with http.post(url, json=update, headers=right) as ok:
                    assert ok.status == 200
            async with http.get(f"http://127.0.0.1:{port}/healthz") as health:
                assert health.status == 200
        await api.wait_for(lambda: len(api.texts_to(901)) == 1)
        await asyncio.sleep(0.3)
        customer = await rt.storage.journey.customer(key(901))
    assert api.texts_to(901) == [api.texts_to(901)[0]]
    assert customer is not None and customer.source == "web_campaign"
