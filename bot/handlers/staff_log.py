"""The staff desk when no Slack is configured: staff notifications go to the log.

Which notification, about which customer and case, is logged at WARNING; its text (what the
customer wrote, their name) only at DEBUG, since customer text stays out of the log at INFO and
above. Either way, control characters are escaped (`bot.logs`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from bot.delivery.outbox import Rendered
from bot.flows.model import CustomerKey
from bot.messages.templates import Format
from bot.storage.types import OutboxRow
from bot.terminal import inert

__all__ = ["LogStaffChannel"]

log = logging.getLogger("escalator.staff")


class LogStaffChannel:
    format = Format.MRKDWN
    extra_context: Mapping[str, object] = {"oncall": "@on-call"}

    async def send(self, row: OutboxRow, message: Rendered) -> str | None:
        case = row.context.get("case_id") or "-"
        log.warning(
            "staff notification %s about %s (case %s); its text is logged at DEBUG",
            row.template,
            inert(row.key.id),
            inert(case),
        )
        log.debug("staff notification %s text: %s", row.template, inert(message.text))
        return None

    async def clear_buttons(self, key: CustomerKey, platform_message_id: str | None) -> None:
        return None
