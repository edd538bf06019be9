"""Telegram: updates in as engine events, outbox messages out as Bot API calls. No rules here.

Inbound translation (`to_event`):

- `/start [payload]` becomes `Start`; any other `/command` a `Command`; text a `Text`.
- A callback query becomes a `ButtonPress`; it is answered at once. A press on a message that
  is not in the presser's own private chat gets a short notice and changes nothing.
- A contact shared with the contact button becomes `ContactShared`, saying whether it is the
  sender's own (`contact.user_id == from.id`).
- Stickers, photos, voice notes and other non-text messages become `NonText` (a polite answer).
- `my_chat_member` with status `kicked` (the customer blocked the bot) becomes `Blocked`.
- Edited messages are ignored: the original was already answered, and re-answering an edit
  would confuse more than help.
- In groups and channels the bot answers commands with a notice that it works in private chats
  only, and ignores everything else.

Outbound (`TelegramChannel`): HTML parse mode (the renderer escapes every customer value),
inline keyboards, texts split at the 4096-character limit, pacing by `Pacer` (replies and
unprompted messages in their own lanes), and Bot API errors classified for the outbox: 429 (which
also pauses the pacer) and network errors are retried, 403 marks the customer unreachable, other
400s are recorded and not retried.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from telegram import (
    Bot,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ChatMemberStatus, ChatType, MessageLimit, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import Application, ContextTypes, TypeHandler
from telegram.helpers import effective_message_type

from bot.clock import Clock, SystemClock
from bot.delivery.outbox import Rendered
from bot.delivery.ratelimit import Lane, Pacer, Priority
from bot.errors import (
    DeliveryError,
    PermanentDeliveryError,
    RecipientUnreachable,
    TransientDeliveryError,
)
from bot.flows.model import (
    KEYBOARD_CONTACT,
    KEYBOARD_REMOVE,
    Blocked,
    ButtonPress,
    Command,
    ContactShared,
    CustomerKey,
    Event,
    NonText,
    Profile,
    Start,
    Text,
)
from bot.messages.templates import Format, Renderer
from bot.storage.types import InboxItem, OutboxRow

__all__ = [
    "ALLOWED_UPDATES",
    "CHANNEL",
    "ForeignButton",
    "NotPrivate",
    "TelegramBridge",
    "TelegramChannel",
    "inbox_item",
    "split_text",
    "to_event",
]

log = logging.getLogger(__name__)

# PTB 22 returns RetryAfter.retry_after as an int with a deprecation warning unless this opts in
# to timedelta; it is read when the attribute is accessed, so setting it here is enough.
os.environ.setdefault("PTB_TIMEDELTA", "true")

CHANNEL = "telegram"
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")


@dataclass(frozen=True)
class NotPrivate:
    """A command in a group or channel: the bot only talks to customers in private."""

    chat_id: int


@dataclass(frozen=True)
class ForeignButton:
    """A button pressed on a message that is not the presser's own conversation."""


Translation = Event | NotPrivate | ForeignButton | None


def _key(user_id: int) -> CustomerKey:
    return CustomerKey(CHANNEL, str(user_id))


def to_event(update: Update) -> Translation:
    """Translate one update; None for updates the bot deliberately ignores."""
    inbound = f"tg:{update.update_id}"
    if update.my_chat_member is not None:
        member = update.my_chat_member
        if member.chat.type != ChatType.PRIVATE:
            return None
        if member.new_chat_member.status == ChatMemberStatus.BANNED:
            return Blocked(key=_key(member.from_user.id), inbound_id=inbound)
        return None
    if update.callback_query is not None:
        query = update.callback_query
        message = query.message
        if message is None or message.chat.id != query.from_user.id:
            return ForeignButton()
        return ButtonPress(
            key=_key(query.from_user.id),
            inbound_id=inbound,
            profile=Profile(
                query.from_user.first_name,
                query.from_user.language_code,
                query.from_user.username,
            ),
            data=query.data or "",
        )
    if update.message is not None:
        return _message_event(update.message, inbound)
    return None  # edited messages, channel posts, ... are not part of a conversation


def _message_event(message: Message, inbound: str) -> Translation:
    user = message.from_user
    text = message.text
    if message.chat.type != ChatType.PRIVATE:
        return NotPrivate(message.chat.id) if text and text.startswith("/") else None
    if user is None or user.is_bot:
        return None
    common: dict[str, Any] = {
        "key": _key(user.id),
        "inbound_id": inbound,
        "profile": Profile(user.first_name, user.language_code, user.username),
    }
    if message.contact is not None:
        own = message.contact.user_id is not None and message.contact.user_id == user.id
        return ContactShared(phone=message.contact.phone_number, own=own, **common)
    if text is None:
        return NonText(kind=effective_message_type(message) or "message", **common)
    if text.startswith("/") and len(text) > 1:
        head, _, rest = text[1:].partition(" ")
        name = head.split("@", 1)[0].lower()
        args = tuple(rest.split())
        if name == "start":
            return Start(payload=args[0] if args else None, **common)
        return Command(name=name, args=args, **common)
    return Text(text=text, **common)


def inbox_item(update_id: int, body: str) -> InboxItem:
    """An update for the durable inbox, grouped by the user its `from` names, so one customer's
    updates are handled one at a time, in `update_id` order."""
    return InboxItem(key=f"tg:{update_id}", group=_sender(body), seq=update_id, body=body)


def _sender(body: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    for field in ("message", "edited_message", "callback_query", "my_chat_member"):
        part = data.get(field)
        if isinstance(part, dict) and isinstance(part.get("from"), dict):
            return f"{CHANNEL}:{part['from'].get('id', '')}"
    return ""


class TelegramBridge:
    """Feeds updates through python-telegram-bot's `Application` into the engine."""

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        handle: Callable[[Event], Awaitable[object]],
        renderer: Renderer,
        pacer: Pacer,
    ) -> None:
        self.application = application
        self._handle = handle
        self._renderer = renderer
        self._pacer = pacer
        application.add_handler(TypeHandler(Update, self._on_update))

    async def process_raw(self, body: str) -> None:
        """Handle one stored update (JSON as the Bot API sent it)."""
        data = json.loads(body)
        update = Update.de_json(data, self.application.bot)
        await self.application.process_update(update)

    async def _on_update(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        translated = to_event(update)
        if update.callback_query is not None:
            await self._answer(update.callback_query, foreign=isinstance(translated, ForeignButton))
        match translated:
            case NotPrivate(chat_id=chat_id):
                await self._notice(chat_id)
            case None | ForeignButton():
                return
            case event:
                await self._handle(event)

    async def _answer(self, query: CallbackQuery, *, foreign: bool) -> None:
        text = None
        if foreign:
            text = self._renderer.render(
                "button_not_yours", {}, locale=query.from_user.language_code, fmt=Format.TEXT
            )
        # An old query (over ~15 minutes) can no longer be answered; the press still counts.
        with contextlib.suppress(TelegramError):
            await query.answer(text=text)

    async def _notice(self, chat_id: int) -> None:
        text = self._renderer.render("private_only", {}, locale=None, fmt=Format.HTML)
        try:
            # paced with every other send (as the answer to a command): the server counts it too
            async with self._pacer.slot(str(chat_id), Priority(reply=True)):
                await self.application.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML)
        except TelegramError as exc:
            log.info("could not tell group %s that the bot is private-only: %s", chat_id, exc)


class TelegramChannel:
    """Delivers outbox rows to Telegram customers."""

    format = Format.HTML

    def __init__(self, bot: Bot, pacer: Pacer, clock: Clock | None = None) -> None:
        self._bot = bot
        self._clock = clock or SystemClock()
        self._pacer = pacer

    @property
    def extra_context(self) -> Mapping[str, object]:
        return {"bot_username": self._bot.username}

    async def send(self, row: OutboxRow, message: Rendered) -> str | None:
        chat = row.key.external_id
        chat_id = int(chat)
        if row.previous_sent_at is not None:  # perhaps by another worker: keep 1/s per chat
            ago = (self._clock.now() - row.previous_sent_at).total_seconds()
            self._pacer.sent_before(chat, ago)
        markup = _keyboard(message.buttons)
        parts = split_text(message.text)
        attachment = row.context.get("attachment")
        if len(parts) > 1 and isinstance(attachment, dict):
            # too long for one message, and there is a file of it: send the file instead
            return await self._send_file(row, attachment, parts[0], message)
        sent: Message | None = None
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            async with self._pacer.slot(chat, message.priority) as lane:
                sent = await self._call(
                    self._bot.send_message(
                        chat_id,
                        part,
                        parse_mode=ParseMode.HTML,
                        reply_markup=markup if last else None,
                    ),
                    chat,
                    lane,
                )
        return None if sent is None else str(sent.message_id)

    async def _send_file(
        self, row: OutboxRow, data: Mapping[str, Any], intro: str, message: Rendered
    ) -> str:
        name = row.context.get("file_name")
        body = json.dumps(data, ensure_ascii=False, indent=2).encode()
        document = InputFile(body, filename=name if isinstance(name, str) else "data.json")
        # the caption is the message's opening (at most 1024 characters, cut at a line end)
        caption = intro[: intro.rfind("\n", 0, 1024)] if len(intro) > 1024 else intro
        chat = row.key.external_id
        async with self._pacer.slot(chat, message.priority) as lane:
            sent = await self._call(
                self._bot.send_document(
                    int(chat), document, caption=caption or None, parse_mode=ParseMode.HTML
                ),
                chat,
                lane,
            )
        return str(sent.message_id)

    async def clear_buttons(self, key: CustomerKey, platform_message_id: str | None) -> None:
        if platform_message_id is None:
            return
        try:
            # removing buttons notifies nobody: not a message for the chat's or the bulk limit
            async with self._pacer.slot(key.external_id, message=False) as lane:
                await self._call(
                    self._bot.edit_message_reply_markup(
                        chat_id=int(key.external_id),
                        message_id=int(platform_message_id),
                        reply_markup=None,
                    ),
                    key.external_id,
                    lane,
                )
        except PermanentDeliveryError as exc:
            # "message is not modified" or a message too old to edit: the buttons are stale
            # anyway (presses are checked against the open question), so this is not an error.
            log.info("buttons of message %s not cleared: %s", platform_message_id, exc)

    async def _call(self, request: Awaitable[Any], chat: str, lane: Lane) -> Any:
        try:
            return await _call(request)
        except TransientDeliveryError as exc:
            if exc.retry_after is not None:
                self._pacer.flooded(chat, lane, exc.retry_after)
            raise


def _keyboard(
    rows: Sequence[Sequence[tuple[str, str]]],
) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | None:
    if not rows:
        return None
    kinds = {data for row in rows for _, data in row}
    if KEYBOARD_REMOVE in kinds:
        return ReplyKeyboardRemove()
    if KEYBOARD_CONTACT in kinds:  # Telegram's contact button: shares the user's own number
        return ReplyKeyboardMarkup(
            [[KeyboardButton(label, request_contact=True)] for row in rows for label, _ in row],
            resize_keyboard=True,
            one_time_keyboard=True,
        )
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
    )


async def _call(request: Awaitable[Any]) -> Any:
    try:
        return await request
    except RetryAfter as exc:
        wait = exc.retry_after
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        raise TransientDeliveryError(f"flood control: retry after {seconds:g}s", seconds) from exc
    except Forbidden as exc:
        raise RecipientUnreachable(exc.message) from exc
    except ChatMigrated as exc:
        raise PermanentDeliveryError(f"chat migrated: {exc.message}") from exc
    except InvalidToken as exc:
        raise TransientDeliveryError(f"token rejected: {exc.message}") from exc
    except BadRequest as exc:
        raise PermanentDeliveryError(exc.message) from exc
    except NetworkError as exc:  # timeouts, connection errors and 5xx
        raise TransientDeliveryError(f"network: {exc.message}") from exc
    except TelegramError as exc:
        raise DeliveryError(exc.message) from exc


def split_text(text: str, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> list[str]:
    """Split at paragraph, line or word breaks so no part exceeds `limit` characters.

    A cut never falls inside an HTML tag or entity; tags opened in one part are not re-opened
    in the next, so templates keep long values outside formatting tags.
    """
    if not text:
        return [" "]
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(" "))
        if cut < limit // 2:
            cut = limit
        cut = _outside_markup(window, cut)
        parts.append(rest[:cut].rstrip() or rest[:cut])
        rest = rest[cut:].lstrip("\n ")
    if rest:
        parts.append(rest)
    return parts


def _outside_markup(window: str, cut: int) -> int:
    """Move `cut` back before an unfinished `<tag` or `&entity` that it would split."""
    for opener, closer in (("<", ">"), ("&", ";")):
        start = window.rfind(opener, 0, cut)
        if start != -1 and window.find(closer, start, cut) == -1 and start > 0:
            cut = start
    return cut
