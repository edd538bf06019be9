"""Read models assembled from several tables, for people: the staff's view of a case."""

from __future__ import annotations

from typing import Any

import aiosqlite

from bot.flows.model import Json
from bot.storage.codec import moment

__all__ = ["case_view"]

RECENT_LINES = 6
RECENT_SCORES = 5


def _when(value: float | None) -> str | None:
    return None if value is None else moment(value).strftime("%Y-%m-%d %H:%M UTC")


async def case_view(db: aiosqlite.Connection, case_id: str) -> dict[str, Json] | None:
    rows = list(
        await db.execute_fetchall(
            "SELECT c.id, c.status, c.reason, c.trigger_text, c.opened_at, c.claimed_by, "
            "c.resolved_by, c.resolved_at, c.reopened, c.customer_id, u.first_name, u.stage, "
            "u.language FROM cases c LEFT JOIN customers u ON u.id = c.customer_id "
            "WHERE c.id = ?",
            (case_id,),
        )
    )
    if not rows:
        return None
    row: Any = rows[0]
    customer_id = row[9]
    scores = await db.execute_fetchall(
        "SELECT scale, score, comment, at FROM scores WHERE customer_id = ? "
        "ORDER BY id DESC LIMIT ?",
        (customer_id, RECENT_SCORES),
    )
    lines = await db.execute_fetchall(
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
        "scores": [
            {"scale": s[0], "score": s[1], "comment": s[2], "at": _when(s[3])}
            for s in reversed(list(scores))
        ],
        "recent": [
            {"at": _when(line[0]), "author": line[1], "name": line[2], "text": line[3]}
            for line in reversed(list(lines))
        ],
    }
