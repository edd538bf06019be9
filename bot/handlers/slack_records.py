"""Customer records for staff in Slack: find a customer, see them, write to them.

`/escalator find <name, @username or id>` answers (ephemerally) with the customers found, each
with a *View* button; the App Home tab lists detractors this month, promoters who have not
referred anyone and open conversations the same way. *View* opens the customer in a modal:
scores with their comments, cases and conversations, the referral tree by generation, and (for
customers who may be written to) a box to write to them, which opens a conversation.
`/escalator message <customer> [text]` writes at once, or opens that modal. Only staff act.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.flows.model import CustomerKey, Json
from bot.flows.policy import ScoreGroup, group_scores
from bot.messages.templates import Format, Renderer
from bot.storage.protocols import RecordStore
from bot.storage.types import CustomerFilter, CustomerRecord

__all__ = ["RecordDesk", "StaffWrite"]

log = logging.getLogger(__name__)

SHOWN = 10
"""Customers per list (a Slack message or view holds at most 50 blocks)."""

StaffWrite = Callable[[CustomerKey, str, str, str | None], Awaitable[str | None]]
"""(customer, staff name, text, inbound id) -> a problem to show, or None when sent."""


class RecordDesk:
    def __init__(
        self,
        app: AsyncApp,
        records: RecordStore,
        renderer: Renderer,
        *,
        is_staff: Callable[[str], Awaitable[bool]],
        display_name: Callable[[str], Awaitable[str]],
        write: StaffWrite,
        scale: str,
        now: Callable[[], datetime],
        month_start: Callable[[datetime], datetime],
    ) -> None:
        self._records = records
        self._renderer = renderer
        self._is_staff = is_staff
        self._display_name = display_name
        self.write = write
        self._scale = scale
        self._now = now
        self._month_start = month_start
        app.action("customer_view")(self._on_view)
        app.view("customer_message")(self._on_message)

    def _say(self, name: str, **context: object) -> str:
        return self._renderer.render(name, context, locale=None, fmt=Format.MRKDWN)

    def _row(self, record: CustomerRecord) -> dict[str, Json]:
        return {
            "id": record.id,
            "name": record.name or "",
            "username": record.username or "",
            "stage": record.stage,
            "score": record.last_score,
            "scale": record.last_scale or self._scale,
        }

    def list_blocks(
        self, title: str, found: Sequence[CustomerRecord], query: str | None = None
    ) -> list[dict[str, Any]]:
        """A heading and one section per customer, each with a View button."""
        heading = self._say("staff_customer_list", title=title, count=len(found), query=query)
        blocks: list[dict[str, Any]] = [_section(heading)]
        label = self._renderer.render("button_view", {}, locale=None, fmt=Format.TEXT)
        for record in found[:SHOWN]:
            text = self._say("staff_customer_row", customer=self._row(record))
            section = _section(text)
            section["accessory"] = {
                "type": "button",
                "action_id": "customer_view",
                "text": {"type": "plain_text", "text": label[:75]},
                "value": record.id,
            }
            blocks.append(section)
        return blocks

    async def home_blocks(self) -> list[dict[str, Any]]:
        """The App Home lists: detractors this month, promoters who have not referred, open
        conversations."""
        now = self._now()
        detractors = await self._records.customers(
            CustomerFilter(
                score=(self._scale, *_range(self._scale, "detractor")),
                scored_since=self._month_start(now),
            ),
            SHOWN,
        )
        promoters = await self._records.customers(
            CustomerFilter(
                score=(self._scale, *_range(self._scale, "promoter")), has_referred=False
            ),
            SHOWN,
        )
        talking = await self._records.customers(CustomerFilter(has_open_conversation=True), SHOWN)
        return [
            *self.list_blocks("detractors", detractors),
            {"type": "divider"},
            *self.list_blocks("promoters", promoters),
            {"type": "divider"},
            *self.list_blocks("conversations", talking),
        ]

    async def find(self, query: str) -> list[dict[str, Any]]:
        return self.list_blocks("found", await self._records.find(query, SHOWN), query=query)

    async def open_view(self, client: AsyncWebClient, trigger_id: str, customer_id: str) -> bool:
        view = await self._records.view(CustomerKey.parse(customer_id), people=25)
        if view is None:
            return False
        body = self._say("staff_customer_view", customer=view)
        blocks: list[dict[str, Any]] = [_section(chunk) for chunk in _chunks(body)][:40]
        modal: dict[str, Any] = {
            "type": "modal",
            "callback_id": "customer_message",
            "private_metadata": json.dumps({"customer": view["id"]}),
            "title": {"type": "plain_text", "text": "Customer"},
            "close": {"type": "plain_text", "text": "Close"},
            "blocks": blocks,
        }
        if not view.get("opted_out"):
            label = self._renderer.render("button_message", {}, locale=None, fmt=Format.TEXT)
            blocks.append(_section(self._say("staff_message_form", customer=view)))
            blocks.append(
                {
                    "type": "input",
                    "block_id": "message",
                    "optional": True,
                    "label": {"type": "plain_text", "text": label[:75]},
                    "element": {
                        "type": "plain_text_input",
                        "action_id": "value",
                        "multiline": True,
                        "max_length": 3000,
                    },
                }
            )
            modal["submit"] = {"type": "plain_text", "text": label[:24]}
        await client.views_open(trigger_id=trigger_id, view=modal)
        return True

    async def _on_view(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user = body["user"]["id"]
        if not await self._is_staff(user):
            return
        await self.open_view(client, body["trigger_id"], body["actions"][0]["value"])

    async def _on_message(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        if not await self._is_staff(user):
            await ack(response_action="errors", errors={"message": self._say("staff_not_allowed")})
            return
        customer = json.loads(view.get("private_metadata") or "{}").get("customer", "")
        value = (view["state"]["values"].get("message", {}).get("value", {}) or {}).get("value")
        text = (value or "").strip()
        if not text:
            await ack()  # closed without writing
            return
        inbound = f"slack:view:{view.get('id', '')}:{view.get('hash', '')}"
        problem = await self.write(
            CustomerKey.parse(customer), await self._display_name(user), text, inbound
        )
        if problem is not None:
            await ack(response_action="errors", errors={"message": problem[:2000]})
            return
        await ack()


def _range(scale: str, group: ScoreGroup) -> tuple[int, int]:
    return group_scores(scale, group)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000] or " "}}


def _chunks(text: str, size: int = 2900) -> list[str]:
    """A long text as section-sized parts, cut at line ends."""
    parts: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        if len(current) + len(line) > size and current:
            parts.append(current)
            current = ""
        current += line[:size]
    if current.strip():
        parts.append(current)
    return parts
