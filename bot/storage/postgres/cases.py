"""Escalation cases on PostgreSQL: whom they concern, where their card lives, the staff view."""

from __future__ import annotations

from bot.flows.model import CustomerKey
from bot.storage.codec import moment
from bot.storage.postgres.database import Connection, Database
from bot.storage.postgres.statements import WRITES
from bot.storage.types import CaseView

__all__ = ["PostgresCases"]

RECENT_LINES = 6
RECENT_SCORES = 5


def _when(value: float | None) -> str | None:
    return None if value is None else moment(value).strftime("%Y-%m-%d %H:%M UTC")


class PostgresCases:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def customer_of(self, case_id: str) -> CustomerKey | None:
        value = await self._db.fetchval("SELECT customer_id FROM cases WHERE id = $1", case_id)
        return None if value is None else CustomerKey.parse(value)

    async def latest(self) -> str | None:
        value = await self._db.fetchval(
            "SELECT id FROM cases WHERE kind = 'case' "
            "ORDER BY greatest(opened_at, coalesce(resolved_at, 0)) DESC, "
            "seq DESC LIMIT 1"
        )
        return None if value is None else str(value)

    async def save_thread(self, case_id: str, channel: str, ts: str) -> None:
        async def save(db: Connection) -> None:
            await db.execute(WRITES["staff_thread"], case_id, channel, ts)

        await self._db.transaction(save)

    async def thread(self, case_id: str) -> tuple[str, str] | None:
        row = await self._db.fetchrow(
            "SELECT channel, ts FROM staff_threads WHERE case_id = $1", case_id
        )
        return None if row is None else (str(row[0]), str(row[1]))

    async def case_at(self, channel: str, ts: str) -> str | None:
        value = await self._db.fetchval(
            "SELECT case_id FROM staff_threads WHERE channel = $1 AND ts = $2", channel, ts
        )
        return None if value is None else str(value)

    async def view(self, case_id: str) -> CaseView | None:
        row = await self._db.fetchrow(
            "SELECT c.id, c.status, c.reason, c.trigger_text, c.opened_at, c.claimed_by, "
            "c.resolved_by, c.resolved_at, c.reopened, c.customer_id, u.first_name, u.stage, "
            "u.language, c.kind FROM cases c LEFT JOIN customers u ON u.id = c.customer_id "
            "WHERE c.id = $1",
            case_id,
        )
        if row is None:
            return None
        customer_id = row[9]
        scores = await self._db.fetch(
            "SELECT scale, score, comment, at FROM scores WHERE customer_id = $1 "
            "ORDER BY id DESC LIMIT $2",
            customer_id,
            RECENT_SCORES,
        )
        lines = await self._db.fetch(
            "SELECT at, author, name, text FROM conversation WHERE customer_id = $1 "
            "ORDER BY id DESC LIMIT $2",
            customer_id,
            RECENT_LINES,
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
