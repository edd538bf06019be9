"""Slack as the staff desk: escalation cards out, staff actions in. No business rules here.

Outbound (`SlackDesk`, the staff channel of the outbox): a new case becomes a card in the
escalation channel (Block Kit: the case rendered from `staff_case_card`, buttons Claim, Resolve,
Send to bot); claims and resolutions update that card in place and are noted in its thread;
customer messages, delivery failures and errors go into the thread; an internal note gets a
:lock: reaction; SLA reminders are posted to the channel with the on-call mention.

Inbound (`SlackBridge`, a Bolt `AsyncApp`): button presses, thread replies (`note:` keeps one
internal), the App Home tab and the `/escalator` command. Every listener acks first and works
after. Only allow-listed users may act; others get an ephemeral refusal. A retried event
(same `event_id`) is a redelivery and changes nothing.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from markupsafe import Markup
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock, SystemClock
from bot.delivery.outbox import Rendered
from bot.errors import ConfigError, PermanentDeliveryError, TransientDeliveryError
from bot.flows.model import CustomerKey, Json, StaffVerb
from bot.handlers.slack_campaigns import CampaignDesk
from bot.handlers.slack_records import RecordDesk
from bot.handlers.slack_templates import TemplateDesk
from bot.messages.templates import Format, Renderer
from bot.messages.versions import TemplateVersions
from bot.storage.protocols import CaseStore, RecordStore
from bot.storage.types import OutboxRow

__all__ = ["SlackBridge", "SlackDesk", "make_client", "slack_to_plain"]

log = logging.getLogger(__name__)

CASE_ACTIONS: dict[str, StaffVerb] = {
    "case_claim": "claim",
    "case_resolve": "resolve",
    "case_handback": "handback",
    "conv_close": "close",
    "conv_escalate": "escalate",
}
THREAD_TEMPLATES = frozenset(
    {
        "staff_customer_message",
        "staff_delivery_failed",
        "staff_error",
        "staff_note_saved",
        "staff_reply_copy",
    }
)
CARD_TEMPLATES = frozenset({"staff_case_opened", "staff_conversation_opened"})
FATES = {"sent": "white_check_mark", "internal": "lock", "failed": "x"}
"""The reaction that tells staff what became of their message in a thread."""


def make_client(token: str, base_url: str) -> AsyncWebClient:
    """A Web API client that retries connection errors and rate limits (twice) by itself."""
    return AsyncWebClient(
        token=token,
        base_url=base_url if base_url.endswith("/") else base_url + "/",
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )


def mention(target: str | None) -> Markup | None:
    """`U123` -> `<@U123>`, `S123` (a user group) -> `<!subteam^S123>`; trusted markup."""
    if not target:
        return None
    if not _SLACK_ID.match(target):
        raise ConfigError(f"SLACK_ONCALL must be a Slack user or group id (U…/S…), not {target!r}")
    # Safe: an id of capitals and digits only, checked above; this is the one trusted mention.
    if target.startswith("S"):
        return Markup(f"<!subteam^{target}>")  # noqa: S704
    return Markup(f"<@{target}>")  # noqa: S704


_SLACK_ID = re.compile(r"^[UWS][A-Z0-9]{2,20}$")


_LINK = re.compile(r"<([^<>|]+)\|([^<>]+)>")
_BARE = re.compile(r"<([^<>]+)>")


def slack_to_plain(text: str) -> str:
    """Slack's message markup to plain text for the customer: `<url|label>` -> `label (url)`."""
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", text)
    text = _BARE.sub(lambda m: m.group(1).lstrip("@#!"), text)
    return html.unescape(text)


async def _call(request: Awaitable[Any]) -> Any:
    try:
        return await request
    except SlackApiError as exc:
        error = str(exc.response.get("error", "unknown_error"))
        if error == "ratelimited":
            retry = exc.response.headers.get("Retry-After", "1")
            raise TransientDeliveryError("Slack rate limit", float(retry)) from exc
        if error in {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}:
            raise TransientDeliveryError(f"Slack: {error}") from exc
        raise PermanentDeliveryError(f"Slack: {error}") from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TransientDeliveryError(f"Slack unreachable: {exc!r}") from exc


class SlackDesk:
    """Delivers staff messages about cases to the escalation channel."""

    format = Format.MRKDWN

    def __init__(
        self,
        client: AsyncWebClient,
        cases: CaseStore,
        renderer: Renderer,
        channel: str,
        oncall: str | None,
        *,
        inbox_channel: str | None = None,
        posts: RecordStore | None = None,
        clock: Clock | None = None,
        thread_default: str = "customer",
    ) -> None:
        self._client = client
        self._cases = cases
        self._renderer = renderer
        self._channel = channel
        self._inbox_channel = inbox_channel or channel
        self._posts = posts
        self._clock = clock or SystemClock()
        self._thread_default = thread_default
        self.extra_context: Mapping[str, object] = {
            "oncall": mention(oncall),
            "thread_default": thread_default,
        }

    async def send(self, row: OutboxRow, message: Rendered) -> str | None:
        if row.template == "staff_erased":
            await self._erase(row, message)
            return None
        case_id = row.context.get("case_id")
        if not isinstance(case_id, str) or message.case is None:
            response = await _call(
                self._client.chat_postMessage(channel=self._channel, text=message.text)
            )
            await self._remember(row, self._channel, str(response["ts"]))
            return str(response["ts"])
        thread = await self._cases.thread(case_id)
        if row.template in CARD_TEMPLATES or thread is None:
            return await self._post_card(row, case_id, message)
        channel, ts = thread
        ref = row.context.get("ref")
        if row.template == "staff_note_saved" and isinstance(ref, str):
            await self._react(channel, ref, FATES["internal"])
            return None
        if row.template == "staff_reply_sent" and isinstance(ref, str):
            await self._react(channel, ref, FATES["sent"])
            return None
        if row.template == "staff_delivery_failed" and isinstance(ref, str):
            await self._unreact(channel, ref, FATES["sent"])
            await self._react(channel, ref, FATES["failed"])
        if row.template == "staff_sla_reminder":
            link = await _call(self._client.chat_getPermalink(channel=channel, message_ts=ts))
            text = f"{message.text} <{link['permalink']}|Open the case>"
            response = await _call(self._client.chat_postMessage(channel=channel, text=text))
            await self._remember(row, channel, str(response["ts"]))
            return str(response["ts"])
        if row.template not in THREAD_TEMPLATES:
            await self._update_card(channel, ts, message.case)
        response = await _call(
            self._client.chat_postMessage(channel=channel, thread_ts=ts, text=message.text)
        )
        await self._remember(row, channel, str(response["ts"]))
        return str(response["ts"])

    async def _remember(self, row: OutboxRow, channel: str, ts: str) -> None:
        """Keep where the bot wrote about the customer, so erasing them can edit it."""
        if self._posts is not None:
            await self._posts.remember_post(row.key, channel, ts, self._clock.now())

    async def _erase(self, row: OutboxRow, message: Rendered) -> None:
        channel, ts = row.context.get("channel"), row.context.get("ts")
        if not isinstance(channel, str) or not isinstance(ts, str):
            return
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": message.text[:3000]}}]
        try:
            await _call(
                self._client.chat_update(channel=channel, ts=ts, text=message.text, blocks=blocks)
            )
        except PermanentDeliveryError as exc:
            # deleted by someone meanwhile: nothing of theirs is left there to erase
            if "message_not_found" not in str(exc) and "channel_not_found" not in str(exc):
                raise

    async def clear_buttons(self, key: CustomerKey, platform_message_id: str | None) -> None:
        return None

    async def _post_card(self, row: OutboxRow, case_id: str, message: Rendered) -> str:
        assert message.case is not None
        target = self._inbox_channel if _is_conversation(message.case) else self._channel
        response = await _call(
            self._client.chat_postMessage(
                channel=target, text=message.text, blocks=self._card(message.case)
            )
        )
        channel, ts = str(response["channel"]), str(response["ts"])
        await self._cases.save_thread(case_id, channel, ts)
        await self._remember(row, channel, ts)
        return ts

    def _card_text(self, case: Mapping[str, Json]) -> str:
        template = "staff_conversation_card" if _is_conversation(case) else "staff_case_card"
        context = {"case": case, "thread_default": self._thread_default}
        return self._renderer.render(template, context, locale=None, fmt=Format.MRKDWN)

    async def _update_card(self, channel: str, ts: str, case: Mapping[str, Json]) -> None:
        text = self._card_text(case)
        await _call(
            self._client.chat_update(channel=channel, ts=ts, text=text, blocks=self._card(case))
        )

    async def _react(self, channel: str, ts: str, name: str) -> None:
        try:
            await _call(self._client.reactions_add(channel=channel, timestamp=ts, name=name))
        except PermanentDeliveryError as exc:
            if "already_reacted" not in str(exc):
                raise

    async def _unreact(self, channel: str, ts: str, name: str) -> None:
        try:
            await _call(self._client.reactions_remove(channel=channel, timestamp=ts, name=name))
        except PermanentDeliveryError as exc:
            log.info("reaction %s not removed: %s", name, exc)

    def _card(self, case: Mapping[str, Json]) -> list[dict[str, Any]]:
        body = self._card_text(case)
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": body[:3000]}}
        ]
        actions = (
            (("conv_close", "button_close", None), ("conv_escalate", "button_make_case", "danger"))
            if _is_conversation(case)
            else (
                ("case_claim", "button_claim", "primary"),
                ("case_resolve", "button_resolve", None),
                ("case_handback", "button_handback", None),
            )
        )
        if case.get("status") != "resolved":
            buttons = []
            for action_id, label, style in actions:
                if action_id == "case_claim" and case.get("claimed_by"):
                    continue
                text = self._renderer.render(label, {}, locale=None, fmt=Format.TEXT)
                button: dict[str, Any] = {
                    "type": "button",
                    "action_id": action_id,
                    "text": {"type": "plain_text", "text": text[:75]},
                    "value": str(case["id"]),
                }
                if style:
                    button["style"] = style
                buttons.append(button)
            blocks.append({"type": "actions", "block_id": "case_actions", "elements": buttons})
        return blocks


def _is_conversation(case: Mapping[str, Json]) -> bool:
    return case.get("kind") == "conversation"


StaffAct = Callable[[str, StaffVerb, str, str, str | None, str | None], Awaitable[object]]
Summary = Callable[[], Awaitable[dict[str, Json]]]


CAMPAIGN_WORDS = frozenset({"campaigns", "campaign", "tag", "untag"})


class SlackBridge:
    """The Bolt app: staff actions in, each acknowledged before any work is done."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        signing_secret: str | None,
        channel: str,
        staff_users: frozenset[str],
        staff_group: str | None,
        admin_users: frozenset[str],
        act: StaffAct,
        cases: CaseStore,
        renderer: Renderer,
        summary: Summary,
        templates: TemplateVersions | None = None,
        inbox_channel: str | None = None,
        thread_default: str = "customer",
        records: Callable[[SlackBridge], RecordDesk] | None = None,
        campaigns: Callable[[SlackBridge], CampaignDesk] | None = None,
    ) -> None:
        self._client = client
        self._channel = channel
        self._channels = frozenset({channel, inbox_channel or channel})
        self._thread_default = thread_default
        self._staff_users = staff_users
        self._staff_group = staff_group
        self._admin_users = admin_users
        self._act = act
        self._cases = cases
        self._renderer = renderer
        self._summary = summary
        self._names: dict[str, tuple[str, float]] = {}
        self._group: tuple[frozenset[str], float] = (frozenset(), 0.0)
        self.app = AsyncApp(
            client=client,
            signing_secret=signing_secret or "",
            request_verification_enabled=signing_secret is not None,
            process_before_response=False,
        )
        for action_id in CASE_ACTIONS:
            self.app.action(action_id)(self._on_case_button)
        self.app.event("message")(self._on_message)
        self.app.event("app_home_opened")(self._on_home)
        self.app.command("/escalator")(self._on_command)
        self._template_desk = (
            None
            if templates is None
            else TemplateDesk(self.app, templates, renderer, self.is_admin, self.display_name)
        )
        self.records = None if records is None else records(self)
        self.campaigns = None if campaigns is None else campaigns(self)

    # --- who may act ----------------------------------------------------------------------

    async def is_staff(self, user: str) -> bool:
        if user in self._staff_users or user in self._admin_users:
            return True
        if not self._staff_group:
            return False
        members, fetched = self._group
        if time.monotonic() - fetched > 300:
            try:
                response = await self._client.usergroups_users_list(usergroup=self._staff_group)
                members = frozenset(response.get("users", []))
                self._group = (members, time.monotonic())
            except SlackApiError as exc:
                log.warning("could not read staff group %s: %s", self._staff_group, exc)
        return user in members

    def is_admin(self, user: str) -> bool:
        return user in self._admin_users

    async def display_name(self, user: str) -> str:
        cached = self._names.get(user)
        if cached and time.monotonic() - cached[1] < 3600:
            return cached[0]
        try:
            response = await self._client.users_info(user=user)
            profile = response["user"].get("profile", {})
            name = (
                profile.get("display_name")
                or profile.get("real_name")
                or response["user"].get("real_name")
                or response["user"].get("name")
                or user
            )
        except (SlackApiError, KeyError, aiohttp.ClientError) as exc:
            log.warning("no display name for %s: %s", user, exc)
            return "Customer care"  # not cached: the next action tries again
        if len(self._names) > 1000:
            self._names.clear()
        self._names[user] = (str(name), time.monotonic())
        return str(name)

    async def _refuse(self, channel: str, user: str, thread_ts: str | None = None) -> None:
        text = self._renderer.render("staff_not_allowed", {}, locale=None, fmt=Format.MRKDWN)
        try:
            await self._client.chat_postEphemeral(
                channel=channel, user=user, text=text, thread_ts=thread_ts
            )
        except SlackApiError as exc:
            log.warning("could not refuse %s ephemerally: %s", user, exc)

    # --- listeners ------------------------------------------------------------------------

    async def _on_case_button(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id", self._channel)
        action = body["actions"][0]
        if not await self.is_staff(user):
            await self._refuse(channel, user)
            return
        verb = CASE_ACTIONS[action["action_id"]]
        await self._act(action["value"], verb, await self.display_name(user), "", None, None)

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        thread_ts = event.get("thread_ts")
        if (
            event.get("channel") not in self._channels
            or not thread_ts
            or thread_ts == event.get("ts")
            or event.get("subtype") not in (None, "thread_broadcast")
            or event.get("bot_id")
        ):
            return
        case_id = await self._cases.case_at(event["channel"], thread_ts)
        if case_id is None:
            return
        user = event.get("user", "")
        if not await self.is_staff(user):
            await self._refuse(event["channel"], user, thread_ts)
            return
        text = slack_to_plain(event.get("text", "")).strip()
        # where a plain reply goes is the operator's choice; a prefix decides for one message
        verb: StaffVerb = "note" if self._thread_default == "note" else "reply"
        if text.lower().startswith("note:"):
            verb, text = "note", text[5:].strip()
        elif text.lower().startswith("send:"):
            verb, text = "reply", text[5:].strip()
        event_id = body.get("event_id")
        inbound = f"slack:{event_id}" if event_id else f"slack:{event['channel']}:{event['ts']}"
        await self._act(case_id, verb, await self.display_name(user), text, event["ts"], inbound)

    async def _on_home(self, event: dict[str, Any], client: AsyncWebClient) -> None:
        user = event["user"]
        if await self.is_staff(user):
            text = self._renderer.render(
                "staff_summary", await self._summary(), locale=None, fmt=Format.MRKDWN
            )
        else:
            text = self._renderer.render("staff_not_allowed", {}, locale=None, fmt=Format.MRKDWN)
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}
        ]
        if self.records is not None and await self.is_staff(user):
            blocks.extend(await self.records.home_blocks())
        if self._template_desk is not None and self.is_admin(user):
            label = self._renderer.render("button_edit_messages", {}, locale=None, fmt=Format.TEXT)
            button = {
                "type": "button",
                "action_id": "open_templates",
                "text": {"type": "plain_text", "text": label},
            }
            blocks.append({"type": "actions", "elements": [button]})
        await client.views_publish(user_id=user, view={"type": "home", "blocks": blocks})

    async def _on_command(
        self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        user = command["user_id"]
        words = command.get("text", "").strip().lower()
        if words == "templates" and self._template_desk is not None:
            opened = await self._template_desk.open_picker(
                self._client, command["trigger_id"], user
            )
            if not opened:
                text = self._renderer.render(
                    "staff_not_allowed", {}, locale=None, fmt=Format.MRKDWN
                )
                await respond(text=text, response_type="ephemeral")
            return
        verb, _, rest = command.get("text", "").strip().partition(" ")
        if not await self.is_staff(user):
            text = self._renderer.render("staff_not_allowed", {}, locale=None, fmt=Format.MRKDWN)
        elif verb.lower() in {"find", "message"} and self.records is not None:
            await self._records_command(verb.lower(), rest.strip(), command, respond)
            return
        elif verb.lower() in CAMPAIGN_WORDS and self.campaigns is not None:
            words = command.get("text", "").split()
            await self.campaigns.command(user, words, respond)
            return
        elif command.get("text", "").strip().lower() == "help":
            text = self._renderer.render("staff_help", {}, locale=None, fmt=Format.MRKDWN)
        else:
            text = self._renderer.render(
                "staff_summary", await self._summary(), locale=None, fmt=Format.MRKDWN
            )
        await respond(text=text, response_type="ephemeral")

    async def _records_command(
        self, verb: str, rest: str, command: dict[str, Any], respond: AsyncRespond
    ) -> None:
        assert self.records is not None
        if verb == "find" or not rest:
            blocks = await self.records.find(rest)
            await respond(text=rest or "find", blocks=blocks, response_type="ephemeral")
            return
        who, _, text = rest.partition(" ")
        if not text.strip():
            # no text: the customer's view, with a box to write to them
            opened = await self.records.open_view(
                self._client, command["trigger_id"], _customer_id(who)
            )
            if not opened:
                await respond(text=self._problem("unknown", who), response_type="ephemeral")
            return
        problem = await self.records.write(
            CustomerKey.parse(_customer_id(who)),
            await self.display_name(command["user_id"]),
            text.strip(),
            None,
        )
        if problem is not None:
            await respond(text=problem, response_type="ephemeral")
        else:
            sent = self._renderer.render("staff_reply_sent", {}, locale=None, fmt=Format.MRKDWN)
            await respond(text=sent, response_type="ephemeral")

    def _problem(self, problem: str, who: str) -> str:
        return self._renderer.render(
            "staff_error",
            {"problem": problem, "case_id": who, "action": "message"},
            locale=None,
            fmt=Format.MRKDWN,
        )


def _customer_id(text: str) -> str:
    """A customer named on the command line: `telegram:123`, or a bare Telegram id."""
    text = text.strip()
    return text if ":" in text else f"telegram:{text}"


async def run_socket_mode(app: AsyncApp, app_token: str, stop: asyncio.Event) -> None:
    """Socket Mode on our loop: connect, wait for `stop`, close (a fresh handler per run)."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    handler = AsyncSocketModeHandler(app, app_token)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    try:
        await stop.wait()
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
