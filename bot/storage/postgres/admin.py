"""Admin dashboard accounts, sessions and failed sign-ins on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.storage.codec import epoch, moment
from bot.storage.postgres.database import Connection, Database
from bot.storage.types import AdminAccount, AdminSession

__all__ = ["PostgresAdmin"]

_ACCOUNT = "name, password_hash, role, created_at, updated_at"
_SESSION = "id, account, credential, address, created_at, expires_at"


def _account(row: Any) -> AdminAccount:
    return AdminAccount(row[0], row[1], row[2], moment(row[3]), moment(row[4]))


def _session(row: Any) -> AdminSession:
    return AdminSession(row[0], row[1], row[2], row[3], moment(row[4]), moment(row[5]))


class PostgresAdmin:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def save_account(self, account: AdminAccount, *, replace: bool = False) -> bool:
        async def save(db: Connection) -> bool:
            inserted = await db.fetchval(
                f"INSERT INTO admin_accounts ({_ACCOUNT}) VALUES ($1, $2, $3, $4, $5) "
                "ON CONFLICT (name) DO NOTHING RETURNING true",
                account.name,
                account.password_hash,
                account.role,
                epoch(account.created_at),
                epoch(account.updated_at),
            )
            if inserted:
                return True
            if not replace:
                return False
            await db.execute(
                "UPDATE admin_accounts SET password_hash = $2, role = $3, updated_at = $4 "
                "WHERE name = $1",
                account.name,
                account.password_hash,
                account.role,
                epoch(account.updated_at),
            )
            await db.execute("DELETE FROM admin_sessions WHERE account = $1", account.name)
            return True

        return await self._db.transaction(save)

    async def account(self, name: str) -> AdminAccount | None:
        row = await self._db.fetchrow(
            f"SELECT {_ACCOUNT} FROM admin_accounts WHERE name = $1", name
        )
        return None if row is None else _account(row)

    async def accounts(self) -> list[AdminAccount]:
        rows = await self._db.fetch(f"SELECT {_ACCOUNT} FROM admin_accounts ORDER BY name")
        return [_account(row) for row in rows]

    async def remove_account(self, name: str) -> bool:
        async def remove(db: Connection) -> bool:
            await db.execute("DELETE FROM admin_sessions WHERE account = $1", name)
            status = await db.execute("DELETE FROM admin_accounts WHERE name = $1", name)
            return status != "DELETE 0"

        return await self._db.transaction(remove)

    async def open_session(self, session: AdminSession) -> None:
        async def open_(db: Connection) -> None:
            await db.execute(
                "DELETE FROM admin_sessions WHERE expires_at <= $1", epoch(session.created_at)
            )
            await db.execute(
                f"INSERT INTO admin_sessions ({_SESSION}) VALUES ($1, $2, $3, $4, $5, $6)",
                session.id,
                session.account,
                session.credential,
                session.address,
                epoch(session.created_at),
                epoch(session.expires_at),
            )

        await self._db.transaction(open_)

    async def session(self, session_id: str, now: datetime) -> AdminSession | None:
        row = await self._db.fetchrow(
            f"SELECT {_SESSION} FROM admin_sessions WHERE id = $1 AND expires_at > $2",
            session_id,
            epoch(now),
        )
        return None if row is None else _session(row)

    async def close_session(self, session_id: str) -> None:
        async def close(db: Connection) -> None:
            await db.execute("DELETE FROM admin_sessions WHERE id = $1", session_id)

        await self._db.transaction(close)

    async def note_failure(self, subjects: Sequence[str], at: datetime, forget: datetime) -> None:
        async def note(db: Connection) -> None:
            await db.execute("DELETE FROM admin_login_failures WHERE at < $1", epoch(forget))
            await db.executemany(
                "INSERT INTO admin_login_failures (subject, at) VALUES ($1, $2)",
                [(subject, epoch(at)) for subject in subjects],
            )

        await self._db.transaction(note)

    async def failures(self, subjects: Sequence[str], since: datetime) -> dict[str, list[datetime]]:
        rows = await self._db.fetch(
            "SELECT subject, at FROM admin_login_failures WHERE at >= $1 "
            "AND subject = ANY($2::text[]) ORDER BY at, id",
            epoch(since),
            list(subjects),
        )
        found: dict[str, list[datetime]] = {}
        for subject, at in rows:
            found.setdefault(str(subject), []).append(moment(at))
        return found

    async def clear_failures(self, subject: str) -> None:
        async def clear(db: Connection) -> None:
            await db.execute("DELETE FROM admin_login_failures WHERE subject = $1", subject)

        await self._db.transaction(clear)
