"""The staff desk when no Slack is configured: staff notifications go to the log."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from bot.delivery.outbox import Rendered
from bot.flows.model import CustomerKey
from bot.messages.templates import Format
from bot.storage.types import OutboxRow

__all__ = ["LogStaffChannel"]

log = logging.getLogger("escalator.staff")


class LogStaffChannel:
    format = Format.MRKDWN
    extra_context: Mapping[str, object] = {"oncall": "@on-call"}

    async def send(self, row: OutboxRow, message: Rendered) -> str | None:
        log.warning("staff notification about %s: %s", row.key.id, message.text)
        return None

    async def clear_buttons(self, key: CustomerKey, platform_message_id: str | None) -> None:
        return None
