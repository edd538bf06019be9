from __future__ import annotations

from typing import Any

from telegram import Bot, Update

from bot.flows.model import Blocked, ButtonPress, Command, NonText, Start, Text
from bot.handlers.telegram import ForeignButton, NotPrivate, inbox_item, split_text, to_event

BOT = Bot("1:x")
USER = {"id": 7, "is_bot": False, "first_name": "Ada", "language_code": "pt-BR"}
PRIVATE = {"id": 7, "type": "private", "first_name": "Ada"}


def update(kind: str, payload: dict[str, Any]) -> Update:
    result = Update.de_json({"update_id": 41, kind: payload}, BOT)
    assert result is not None
    return result


def message(**fields: Any) -> dict[str, Any]:
    return {"message_id": 1, "date": 0, "chat": PRIVATE, "from": USER, **fields}


def test_start_with_payload_and_commands() -> None:
    start = to_event(update("message", message(text="/start spring_sale")))
    assert isinstance(start, Start)
    assert (start.payload, start.inbound_id, start.key.id) == ("spring_sale", "tg:41", "telegram:7")
    assert start.profile is not None and start.profile.language == "pt-BR"
    command = to_event(update("message", message(text="/Help@escalator_bot now")))
    assert isinstance(command, Command) and (command.name, command.args) == ("help", ("now",))
    text = to_event(update("message", message(text="hello")))
    assert isinstance(text, Text) and text.text == "hello"


def test_non_text_messages() -> None:
    photo = {"file_id": "p", "file_unique_id": "u", "width": 1, "height": 1}
    event = to_event(update("message", message(photo=[photo])))
    assert isinstance(event, NonText) and event.kind == "photo"
    voice = to_event(
        update("message", message(voice={"file_id": "v", "file_unique_id": "w", "duration": 2}))
    )
    assert isinstance(voice, NonText) and voice.kind == "voice"


def test_groups_edits_and_bots_are_not_conversations() -> None:
    group = {"id": -5, "type": "supergroup", "title": "G"}
    assert to_event(update("message", message(chat=group, text="/start"))) == NotPrivate(-5)
    assert to_event(update("message", message(chat=group, text="hi all"))) is None
    assert to_event(update("edited_message", message(text="fixed", edit_date=1))) is None
    robot = {**USER, "is_bot": True}
    assert to_event(update("message", message(**{"from": robot}, text="hi"))) is None


def test_button_presses_own_and_foreign() -> None:
    own = {
        "id": "q",
        "from": USER,
        "chat_instance": "c",
        "data": "1:great",
        "message": message(text="?"),
    }
    event = to_event(update("callback_query", own))
    assert isinstance(event, ButtonPress) and event.data == "1:great"
    other_chat = {**own, "message": message(chat={"id": 8, "type": "private"}, text="?")}
    assert isinstance(to_event(update("callback_query", other_chat)), ForeignButton)


def test_blocking_the_bot() -> None:
    bot_user = {"id": 1, "is_bot": True, "first_name": "B"}
    member = {
        "chat": PRIVATE,
        "from": USER,
        "date": 0,
        "old_chat_member": {"status": "member", "user": bot_user},
        "new_chat_member": {"status": "kicked", "user": bot_user, "until_date": 0},
    }
    assert isinstance(to_event(update("my_chat_member", member)), Blocked)
    member["new_chat_member"] = {"status": "member", "user": bot_user}
    assert to_event(update("my_chat_member", member)) is None


def test_inbox_items_are_grouped_by_sender_and_ordered_by_update_id() -> None:
    item = inbox_item(5, '{"update_id": 5, "message": {"from": {"id": 7}}}')
    assert (item.key, item.group, item.seq) == ("tg:5", "telegram:7", 5)
    assert inbox_item(6, '{"update_id": 6, "callback_query": {"from": {"id": 9}}}').group == (
        "telegram:9"
    )
    assert inbox_item(7, "not json").group == ""


def test_long_texts_split_at_breaks_and_never_inside_markup() -> None:
    text = ("word " * 2000).strip()
    parts = split_text(text)
    assert all(len(p) <= 4096 for p in parts)
    assert " ".join(parts) == text
    tricky = "a" * 4090 + " &amp; <b>bold</b>"
    parts = split_text(tricky)
    assert parts[0] == "a" * 4090 and parts[1] == "&amp; <b>bold</b>"
    unbroken = "x" * 4094 + "&lt;"
    assert split_text(unbroken) == ["x" * 4094, "&lt;"]
    assert split_text("short") == ["short"]


def test_slack_markup_becomes_plain_text_for_customers() -> None:
    from bot.handlers.slack import slack_to_plain

    assert slack_to_plain("see <https://x.example/a|the order> &amp; <@U1>") == (
        "see the order (https://x.example/a) & U1"
    )
    assert slack_to_plain("1 &lt; 2 &gt; 0") == "1 < 2 > 0"
