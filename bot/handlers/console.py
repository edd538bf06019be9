"""The console playground: chat with the bot as a customer in a terminal, or from a script.

Lines become engine events exactly as Telegram updates do; delivered messages are printed. A
few playground commands steer the session instead of reaching the bot:

    /wait 2d            move the clock (also h, m, s) so scheduled messages arrive
    /as 2               continue as another customer (a second phone, so to speak)
    /purchase ORDER-1   record a purchase by this customer (as the shop's system would)
    !claim  !reply TEXT  !note TEXT  !resolve  !handback
                        act as staff on the latest escalation case
    /quit               leave (end of input works too)

Buttons are listed under their message and pressed by typing their label or their number;
rating buttons, whose labels are numbers, by typing the number on them. Everything shown has
its control characters made visible, whoever wrote it.
"""

from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TextIO, cast

from bot.delivery.outbox import Rendered
from bot.durations import format_duration, parse_duration
from bot.errors import InvalidInput
from bot.flows.model import (
    ButtonPress,
    Command,
    CustomerKey,
    Event,
    Profile,
    PurchaseRecorded,
    StaffVerb,
    Start,
    Text,
)
from bot.messages.templates import Format
from bot.storage.types import OutboxRow
from bot.terminal import inert, inert_lines

__all__ = [
    "CHANNEL",
    "ConsoleCustomerChannel",
    "ConsoleStaffChannel",
    "Playground",
    "Quit",
    "Staff",
    "SwitchUser",
    "Wait",
    "button_list",
    "parse_line",
    "stdin_lines",
]

CHANNEL = "console"

BANNER = (
    "Escalator playground: you are customer {user}. Type /start to begin.\n"
    "Playground: /wait 2d (move the clock), /as 2 (be another customer), /purchase ORDER-1,\n"
    "staff: !claim, !reply TEXT, !note TEXT, !resolve, !handback; /quit to leave."
)
STAFF_NAME = "Sam"
STAFF_VERBS = ("claim", "reply", "note", "resolve", "handback")


@dataclass(frozen=True)
class Wait:
    delta: timedelta


@dataclass(frozen=True)
class SwitchUser:
    user: str


@dataclass(frozen=True)
class Quit:
    pass


@dataclass(frozen=True)
class Problem:
    message: str


@dataclass(frozen=True)
class Staff:
    """A staff action on the latest case, typed as `!verb text`."""

    verb: StaffVerb
    text: str


PlaygroundAction = Wait | SwitchUser | Quit | Problem | Staff


def parse_line(
    line: str, user: str, buttons: list[tuple[str, str]]
) -> Event | PlaygroundAction | None:
    """Translate one typed line; None for a blank line. Pure, so it is tested on its own."""
    text = line.rstrip("\r\n")
    stripped = text.strip()
    key = CustomerKey(CHANNEL, user)
    profile = Profile(first_name=f"Customer {user}", language=None)
    if not stripped:
        return None
    if stripped.startswith("!"):
        verb, _, rest = stripped[1:].partition(" ")
        verb = verb.lower()
        if verb not in STAFF_VERBS:
            return Problem(f"staff commands: {', '.join('!' + v for v in STAFF_VERBS)}")
        if verb in {"reply", "note"} and not rest.strip():
            return Problem(f"usage: !{verb} TEXT")
        return Staff(cast(StaffVerb, verb), rest.strip())
    if stripped.startswith("/"):
        name, _, rest = stripped[1:].partition(" ")
        name = name.split("@")[0].lower()
        args = tuple(rest.split())
        if name == "wait":
            try:
                return Wait(parse_duration(rest))
            except InvalidInput as exc:
                return Problem(str(exc))
        if name == "as":
            if len(args) != 1 or not args[0].isalnum():
                return Problem("usage: /as 2  (letters and digits only)")
            return SwitchUser(args[0])
        if name in {"quit", "exit"}:
            return Quit()
        if name == "start":
            return Start(key=key, profile=profile, payload=args[0] if args else None)
        if name == "purchase":
            return _purchase(key, args)
        return Command(key=key, profile=profile, name=name, args=args)
    for label, data in buttons:
        if stripped.casefold() == label.casefold():
            return ButtonPress(key=key, profile=profile, data=data)
    numbered = not _numeric([label for label, _ in buttons])  # see `button_list`
    if numbered and stripped.isdigit() and 1 <= int(stripped) <= len(buttons):
        return ButtonPress(key=key, profile=profile, data=buttons[int(stripped) - 1][1])
    return Text(key=key, profile=profile, text=text)


def _purchase(key: CustomerKey, args: tuple[str, ...]) -> PurchaseRecorded | Problem:
    if not 1 <= len(args) <= 2:
        return Problem("usage: /purchase ORDER-ID [AMOUNT]")
    amount = None
    if len(args) == 2:
        try:
            amount = float(args[1])
        except ValueError:
            amount = math.nan
        if not math.isfinite(amount) or amount < 0:
            return Problem(f"not an amount: {inert(args[1])!r} (a number, 0 or more)")
    return PurchaseRecorded(key=key, order_id=args[0], amount=amount, inbound_id=f"order:{args[0]}")


class ConsoleCustomerChannel:
    """Prints messages to console customers and remembers each one's live buttons."""

    format = Format.TEXT

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self.current_user = "1"
        self.buttons: dict[str, list[tuple[str, str]]] = {}
        self._message_ids = 0

    async def send(self, row: OutboxRow, message: Rendered) -> str | None:
        user = row.key.external_id
        prefix = "bot" if user == self.current_user else f"bot → customer {inert(user)}"
        self._out.write(f"{prefix}: {_indent(message.text)}\n")
        # a reply keyboard (Telegram's contact button) has no meaning in a terminal
        flat = [b for line in message.buttons for b in line if not b[1].startswith("keyboard:")]
        if flat:
            self.buttons[user] = [(label, data) for label, data in flat]
            self._out.write(f"     {button_list([label for label, _ in flat])}\n")
        self._out.flush()
        self._message_ids += 1
        return str(self._message_ids)

    async def clear_buttons(self, key: CustomerKey, platform_message_id: str | None) -> None:
        self.buttons.pop(key.external_id, None)


class ConsoleStaffChannel:
    """Staff notifications printed in the same terminal, marked as staff."""

    format = Format.MRKDWN
    extra_context: Mapping[str, object] = {"oncall": "@on-call"}

    def __init__(self, out: TextIO) -> None:
        self._out = out

    async def send(self, row: OutboxRow, message: Rendered) -> str | None:
        self._out.write(f"[staff] {_indent(message.text, '        ')}\n")  # made inert there
        self._out.flush()
        return None

    async def clear_buttons(self, key: CustomerKey, platform_message_id: str | None) -> None:
        return None


def _indent(text: str, pad: str = "     ") -> str:
    """A message for the terminal: its lines indented, control characters made visible (a
    customer's name or words must not move the cursor or clear the screen)."""
    return inert_lines(text).replace("\n", "\n" + pad)


def _numeric(labels: list[str]) -> bool:
    return any(label.strip().isdigit() for label in labels)


def button_list(labels: list[str]) -> str:
    """`[1] Great  [2] Okay`: what to type to press each button. When the labels are numbers
    themselves (a rating scale), the label is what to type, so `[0] [1] ... [10]`: a typed
    number always means the number on the button."""
    if _numeric(labels):
        return "  ".join(f"[{inert(label)}]" for label in labels)
    return "  ".join(f"[{n}] {inert(label)}" for n, label in enumerate(labels, 1))


class Playground:
    """Runs the chat loop: each line is handled, then everything it caused is delivered."""

    def __init__(
        self,
        *,
        handle: Callable[[Event], Awaitable[object]],
        staff: Callable[[StaffVerb, str, str], Awaitable[str | None]],
        settle: Callable[[], Awaitable[None]],
        advance: Callable[[timedelta], Awaitable[None]],
        channel: ConsoleCustomerChannel,
        out: TextIO,
        user: str = "1",
        echo: bool = False,
    ) -> None:
        self._handle = handle
        self._staff = staff
        self._settle = settle
        self._advance = advance
        self._channel = channel
        self._out = out
        self._echo = echo
        self.user = user
        channel.current_user = user

    async def run(self, lines: AsyncIterator[str]) -> None:
        self._say(BANNER.format(user=self.user))
        await self._settle()
        async for line in lines:
            if self._echo:
                self._say(f"you ({self.user})> {line.rstrip()}")
            action = parse_line(line, self.user, self._channel.buttons.get(self.user, []))
            match action:
                case None:
                    continue
                case Quit():
                    break
                case Problem(message=message):
                    self._say(f"(playground) {message}")
                case SwitchUser(user=user):
                    self.user = self._channel.current_user = user
                    self._say(f"(playground) you are now customer {user}")
                case Staff(verb=verb, text=text):
                    problem = await self._staff(verb, text, STAFF_NAME)
                    if problem:
                        self._say(f"(playground) {problem}")
                case Wait(delta=delta):
                    await self._advance(delta)
                    self._say(f"(playground) {format_duration(delta)} later…")
                case PurchaseRecorded(order_id=order_id):
                    outcome = await self._handle(action)
                    done = "was already recorded" if outcome == "duplicate" else "recorded"
                    self._say(f"(playground) order {order_id} {done}")
                case _:
                    await self._handle(action)
            await self._settle()
        self._say("(playground) bye — your journey is saved; run the playground again to go on.")

    def _say(self, text: str) -> None:
        self._out.write(inert_lines(text) + "\n")
        self._out.flush()


async def stdin_lines(prompt: Callable[[], str] | None = None) -> AsyncIterator[str]:
    """Lines from standard input without blocking the event loop (works when piped, too)."""
    loop = asyncio.get_running_loop()
    while True:
        if prompt is not None:
            sys.stdout.write(prompt())
            sys.stdout.flush()
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        yield line
