"""Escalation cases on SQLite: who they are about, where their card lives, and the staff view."""

from __future__ import annotations

from typing import Any

from bot.flows.model import CustomerKey
from bot.storage.codec import moment
from bot.storage.sqlite.reader import Reader
from bot.storage.sqlite.writer import Writer
from bot.storage.types import CaseView

__all__ = ["SQLiteCases"]

RECENT_LINES = 6
RECENT_SCORES = 5


def _when(value: float | None) -> str | None:
    return None if value is None else moment(value).strftime("%Y-%m-%d %H:%M UTC")


class SQLiteCases:
    def __init__(self, writer: Writer, reader: Reader) -> None:
        self._writer = writer
        self._reader = reader

    async def customer_of(self, case_id: str) -> CustomerKey | None:
        value = await self._reader.value("SELECT customer_id FROM cases WHERE id = ?", (case_id,))
        return None if value is None else CustomerKey.parse(value)

    async def latest(self) -> str | None:
        value = await self._reader.value(
            "SELECT id FROM cases WHERE kind = 'case' "
            "ORDER BY max(opened_at, coalesce(resolved_at, 0)) DESC, "
            "rowid DESC LIMIT 1"
        )
        return None if value is None else str(value)

    async def save_thread(self, case_id: str, channel: str, ts: str) -> None:
        await self._writer.rows({"staff_thread": [(case_id, channel, ts)]})

    async def thread(self, case_id: str) -> tuple[str, str] | None:
        row = await self._reader.one(
            "SELECT channel, ts FROM staff_threads WHERE case_id = ?", (case_id,)
        )
        return None if row is None else (str(row[0]), str(row[1]))

    async def case_at(self, channel: str, ts: str) -> str | None:
        value = await self._reader.value(
            "SELECT case_id FROM staff_threads WHERE channel = ? AND ts = ?", (channel, ts)
        )
        return None if value is None else str(value)

    async def view(self, case_id: str) -> CaseView | None:
        row: Any = await self._reader.one(
            "SELECT c.id, c.status, c.reason, c.trigger_text, c.opened_at, c.claimed_by, "
            "c.resolved_by, c.resolved_at, c.reopened, c.customer_id, u.first_name, u.stage, "
            "u.language, c.kind FROM cases c LEFT JOIN customers u ON u.id = c.customer_id "
            "WHERE c.id = ?",
            (case_id,),
        )
        if row is None:
            return None
        customer_id = row[9]
        scores = await self._reader.rows(
            "SELECT scale, score, comment, at FROM scores WHERE customer_id = ? "
            "ORDER BY id DESC LIMIT ?",
            (customer_id, RECENT_SCORES),
        )
        lines = await self._reader.rows(
            "SELECT at, author, name, text FROM conversation WHERE customer_id = ? "
            "ORDER BY id DESC LIMIT ?",
            (customer_id, RECENT_LINES),
        )
        minutes = None if row[7] is None else round((row[7] - row[4]) / 60)
        return {
            "id": row[0],
            "status": row[1],
            "reason": row[2],
            "trigger": row[3],
            "opened_at": _when(row[4]),
            "claimed_by": row[5],
            "resolved_by": row[6],
            "resolved_at": _when(row[7]),
            "minutes_to_resolve": minutes,
            "reopened": row[8],
            "customer_id": customer_id,
            "customer_name": row[10] or "",
            "stage": row[11],
            "language": row[12],
            "kind": row[13],
            "scores": [
                {"scale": s[0], "score": s[1], "comment": s[2], "at": _when(s[3])}
                for s in reversed(scores)
            ],
            "recent": [
                {"at": _when(line[0]), "author": line[1], "name": line[2], "text": line[3]}
                for line in reversed(lines)
            ],
        }
