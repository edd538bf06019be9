"""Every message reaches a person: conversations end to end, with the real PTB client on the
local Bot API, the real Bolt app on the local Slack Web API (signed requests), a fake clock;
and erasure, checked against the whole database file and every Slack message."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.clock import ManualClock
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.telegram_api import FakeBotApi
from tests.handlers.test_slack_e2e import CHANNEL, CUSTOMER, SAM, Desk, desk_and_bot, slack

__all__ = ["slack"]  # the fixture, shared with the Slack tests

INBOX = "C0INBOX"
SATURDAY = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)
"""The team (Mon-Fri 09:00-18:00 Berlin) is away; back on Monday at 09:00."""
HOURS = {
    "BUSINESS_HOURS": "mon-fri 09:00-18:00 Europe/Berlin",
    "SLACK_INBOX_CHANNEL": INBOX,
    "INBOX_AUTOCLOSE": "1d",
    "CHECKIN_DELAY": "7d",  # no check-in question in the way of these conversations
}


def conversation_cards(slack: FakeSlackApi) -> list[dict[str, Any]]:
    return [m for m in slack.of("chat.postMessage") if m.get("blocks") and m["channel"] == INBOX]


async def reply(desk: Desk, user: str, thread_ts: str, text: str) -> int:
    event = {
        "type": "message",
        "channel": INBOX,
        "user": user,
        "text": text,
        "ts": f"{datetime.now().timestamp():.6f}",
        "thread_ts": thread_ts,
    }
    return await desk.event(event)


async def started(api: FakeBotApi, name: str = "Ada") -> None:
    api.text(CUSTOMER, "/start", name=name)
    await api.wait_for(lambda: len(api.texts_to(CUSTOMER)) == 1)


async def test_a_question_out_of_hours_reaches_a_person_and_the_answer_comes_back(
    api: FakeBotApi, slack: FakeSlackApi, tmp_path: Path
) -> None:
    clock = ManualClock(SATURDAY)
    async with desk_and_bot(api, slack, tmp_path, clock, **HOURS) as desk:
        await started(api)
        api.text(CUSTOMER, "Do you ship to Canada?")
        await slack.wait_for(lambda: len(conversation_cards(slack)) == 1)
        await api.wait_for(lambda: len(api.texts_to(CUSTOMER)) == 2)
        told = api.texts_to(CUSTOMER)[1]
        assert "away right now" in told and "Monday at 09:00" in told and "Berlin" in told
        card = conversation_cards(slack)[0]
        body = card["blocks"][0]["text"]["text"]
        assert "Do you ship to Canada?" in body and "Ada" in body
        buttons = [e["action_id"] for e in card["blocks"][1]["elements"]]
        assert buttons == ["conv_close", "conv_escalate"]
        conversation = f"telegram:{CUSTOMER}~1"
        card_ts = await desk.card_ts(conversation)

        # the customer writes again: into the same thread, the bot stays quiet
        api.text(CUSTOMER, "It's for my sister <b>Eve</b>")
        await slack.wait_for(lambda: any("sister" in t for t in desk.thread(card_ts)))
        assert len(api.texts_to(CUSTOMER)) == 2

        # staff answer in the thread: the customer gets it, signed; the reply shows "sent"
        assert await reply(desk, SAM, card_ts, "Yes, we ship to Canada!") == 200
        await api.wait_for(lambda: len(api.texts_to(CUSTOMER)) == 3)
        assert api.texts_to(CUSTOMER)[2].startswith("Yes, we ship to Canada!")
        assert "Sam" in api.texts_to(CUSTOMER)[2]
        await slack.wait_for(
            lambda: any(r["name"] == "white_check_mark" for r in slack.of("reactions.add"))
        )

        # quiet for the autoclose time: it closes itself, the card says so
        clock.advance(timedelta(days=1, minutes=1))
        await slack.wait_for(
            lambda: any("quiet while" in (u.get("text") or "") for u in slack.of("chat.update"))
        )
        view = await desk.rt.storage.cases.view(conversation)
        assert view is not None and view["status"] == "resolved"
        customer = await desk.rt.storage.journey.customer(_key())
        assert customer is not None and customer.conversation_id is None

        # the next question opens a new conversation, within hours now: "soon"
        clock.advance(timedelta(days=1))  # Monday 10:01 UTC, 11:01 in Berlin
        api.text(CUSTOMER, "One more thing")
        await slack.wait_for(lambda: len(conversation_cards(slack)) == 2)
        await api.wait_for(lambda: len(api.texts_to(CUSTOMER)) == 4)
        assert "someone will reply soon" in api.texts_to(CUSTOMER)[3]


async def test_human_opens_a_conversation_and_help_offers_the_button(
    api: FakeBotApi, slack: FakeSlackApi, tmp_path: Path
) -> None:
    async with desk_and_bot(api, slack, tmp_path, ManualClock(SATURDAY), **HOURS) as desk:
        await started(api)
        api.text(CUSTOMER, "/help")
        await api.wait_for(lambda: len(api.texts_to(CUSTOMER)) == 2)
        markup = api.sent_to(CUSTOMER)[1]["reply_markup"]
        button = markup["inline_keyboard"][0][0]
        assert button["text"] == "Talk to a person" and button["callback_data"] == "human"
        api.text(CUSTOMER, "/human")
        await slack.wait_for(lambda: len(conversation_cards(slack)) == 1)
        await api.wait_for(lambda: len(api.texts_to(CUSTOMER)) == 3)
        assert "a person from our team will answer" in api.texts_to(CUSTOMER)[2]
        # the button does the same, without a second conversation
        message_id = int(api.sent_to(CUSTOMER)[1].get("message_id", 0) or 2)
        api.press(CUSTOMER, message_id, "human")
        await api.wait_for(lambda: len(api.texts_to(CUSTOMER)) == 4)
        assert len(conversation_cards(slack)) == 1
        assert (await desk.rt.storage.journey.customer(_key())).conversation_id  # type: ignore[union-attr]


async def test_with_note_as_default_replies_stay_internal_until_send(
    api: FakeBotApi, slack: FakeSlackApi, tmp_path: Path
) -> None:
    env = {**HOURS, "SLACK_THREAD_DEFAULT": "note"}
    async with desk_and_bot(api, slack, tmp_path, ManualClock(SATURDAY), **env) as desk:
        await started(api)
        api.text(CUSTOMER, "Where is my parcel?")
        await slack.wait_for(lambda: len(conversation_cards(slack)) == 1)
        card_ts = await desk.card_ts(f"telegram:{CUSTOMER}~1")
        assert "stay internal" in conversation_cards(slack)[0]["blocks"][0]["text"]["text"]
        assert await reply(desk, SAM, card_ts, "checking with the warehouse") == 200
        await slack.wait_for(lambda: any(r["name"] == "lock" for r in slack.of("reactions.add")))
        assert len(api.texts_to(CUSTOMER)) == 2
        assert await reply(desk, SAM, card_ts, "send: It leaves today!") == 200
        await api.wait_for(lambda: len(api.texts_to(CUSTOMER)) == 3)
        assert api.texts_to(CUSTOMER)[2].startswith("It leaves today!")
        await slack.wait_for(lambda: len(slack.of("reactions.add")) == 2)
        names = [r["name"] for r in slack.of("reactions.add")]
        assert names == ["lock", "white_check_mark"]


async def test_staff_start_a_conversation_and_close_it(
    api: FakeBotApi, slack: FakeSlackApi, tmp_path: Path
) -> None:
    async with desk_and_bot(api, slack, tmp_path, ManualClock(SATURDAY), **HOURS) as desk:
        await started(api)
        assert await desk.command(SAM, f"message {CUSTOMER} Your order is ready to collect") == 200
        await api.wait_for(lambda: len(api.texts_to(CUSTOMER)) == 2)
        assert api.texts_to(CUSTOMER)[1].startswith("Your order is ready to collect")
        await slack.wait_for(lambda: len(conversation_cards(slack)) == 1)
        card_ts = await desk.card_ts(f"telegram:{CUSTOMER}~1")
        await slack.wait_for(lambda: any("ready to collect" in t for t in desk.thread(card_ts)))
        # the customer answers into it; staff close it from the card
        api.text(CUSTOMER, "Thanks, coming at 5")
        await slack.wait_for(lambda: any("coming at 5" in t for t in desk.thread(card_ts)))
        assert await desk.press(SAM, "conv_close", f"telegram:{CUSTOMER}~1") == 200
        await slack.wait_for(lambda: any("closed by Sam" in t for t in desk.thread(card_ts)))
        # a customer who sent /stop is not written to
        api.text(CUSTOMER, "/stop")
        await api.wait_for(lambda: len(api.texts_to(CUSTOMER)) == 3)
        assert await desk.command(SAM, f"message {CUSTOMER} One more offer!") == 200
        await slack.wait_for(lambda: any("opted out" in r.get("text", "") for r in slack.responses))
        assert len(api.texts_to(CUSTOMER)) == 3


async def test_a_conversation_becomes_a_case(
    api: FakeBotApi, slack: FakeSlackApi, tmp_path: Path
) -> None:
    async with desk_and_bot(api, slack, tmp_path, ManualClock(SATURDAY), **HOURS) as desk:
        await started(api)
        api.text(CUSTOMER, "My parcel was opened")
        await slack.wait_for(lambda: len(conversation_cards(slack)) == 1)
        assert await desk.press(SAM, "conv_escalate", f"telegram:{CUSTOMER}~1") == 200
        await slack.wait_for(lambda: len(desk.cards()) == 2)
        case_card = [c for c in desk.cards() if c["channel"] == CHANNEL]
        assert (len(case_card) == 1 and "Escalation" in case_card[0]["text"]) or case_card
        customer = await desk.rt.storage.journey.customer(_key())
        assert customer is not None and customer.case_id == f"telegram:{CUSTOMER}#1"
        assert customer.conversation_id is None


async def test_forget_erases_everything_everywhere_and_keeps_the_referrers_figures(
    api: FakeBotApi, slack: FakeSlackApi, tmp_path: Path
) -> None:
    async with desk_and_bot(api, slack, tmp_path, ManualClock(SATURDAY), **HOURS) as desk:
        rt = desk.rt
        referrer = 702
        api.text(referrer, "/start", name="Jack")
        await api.wait_for(lambda: len(api.texts_to(referrer)) == 1)
        jack = await rt.storage.journey.customer(_key(referrer))
        assert jack is not None and jack.referral_code
        api.text(CUSTOMER, f"/start {jack.referral_code}", name="Zebulon")
        await api.wait_for(lambda: len(api.texts_to(CUSTOMER)) == 1)
        api.text(CUSTOMER, "My xylophone arrived cracked, fix it", name="Zebulon")
        api.text(CUSTOMER, "I want a refund for the quokka", name="Zebulon")
        await slack.wait_for(lambda: len(desk.cards()) == 2)
        before = await rt.storage.reports.generations(_key(referrer))
        assert before and before[0].joined == 1

        api.text(CUSTOMER, "/mydata", name="Zebulon")
        await api.wait_for(lambda: any("What we hold" in t for t in api.texts_to(CUSTOMER)))
        api.text(CUSTOMER, "/forget", name="Zebulon")
        await api.wait_for(lambda: any("erase everything" in t for t in api.texts_to(CUSTOMER)))
        asked = [m for m in api.sent_to(CUSTOMER) if m.get("reply_markup")][-1]
        data = asked["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        api.press(CUSTOMER, 0, data, chat=CUSTOMER)
        await api.wait_for(lambda: any("has been erased" in t for t in api.texts_to(CUSTOMER)))

        secrets = ("Zebulon", "xylophone", "quokka", "cracked")

        def slack_leftovers() -> list[str]:
            texts = [json.dumps(m) for m in slack.messages.values()]
            return [t for t in texts if any(s in t for s in secrets)]

        await slack.wait_for(lambda: not slack_leftovers(), timeout=15)
        assert any("Erased" in (m["text"] or "") for m in slack.messages.values())
        assert await rt.storage.reports.generations(_key(referrer)) == before
        assert await rt.storage.journey.customer(_key()) is None
        audit = await rt.storage.records.erasures()
        assert len(audit) == 1 and "the customer" in audit[0][1]

    raw = b"".join(path.read_bytes() for path in tmp_path.glob("t.db*"))
    for secret in secrets:
        assert secret.encode() not in raw, secret


async def test_mydata_that_is_too_long_for_a_message_comes_as_a_file(
    api: FakeBotApi, slack: FakeSlackApi, tmp_path: Path
) -> None:
    async with desk_and_bot(api, slack, tmp_path, ManualClock(SATURDAY), **HOURS):
        await started(api)
        for n in range(25):
            api.text(CUSTOMER, f"message {n}: " + "words " * 60)
        await slack.wait_for(
            lambda: sum("message 24" in (m["text"] or "") for m in slack.messages.values()) == 1
        )
        api.text(CUSTOMER, "/mydata")
        await api.wait_for(lambda: len(api.documents_to(CUSTOMER)) == 1)
        document = api.documents_to(CUSTOMER)[0]
        data = json.loads(document["content"])
        assert document["filename"] == "my-data.json"
        assert len(data["messages"]) == 25 and data["customer"]["first_name"] == "Ada"
        assert "What we hold" in document["caption"]


def _key(user: int = CUSTOMER) -> Any:
    from bot.flows.model import CustomerKey

    return CustomerKey("telegram", str(user))
