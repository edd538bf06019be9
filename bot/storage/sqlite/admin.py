"""Admin dashboard accounts, sessions and failed sign-ins on SQLite."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.storage.codec import epoch, moment
from bot.storage.sqlite.reader import Reader
from bot.storage.sqlite.writer import Writer
from bot.storage.types import AdminAccount, AdminSession

__all__ = ["SQLiteAdmin"]

_ACCOUNT = "name, password_hash, role, created_at, updated_at"
_SESSION = "id, account, credential, address, created_at, expires_at"


def _account(row: tuple[Any, ...]) -> AdminAccount:
    return AdminAccount(row[0], row[1], row[2], moment(row[3]), moment(row[4]))


def _session(row: tuple[Any, ...]) -> AdminSession:
    return AdminSession(row[0], row[1], row[2], row[3], moment(row[4]), moment(row[5]))


class SQLiteAdmin:
    def __init__(self, writer: Writer, reader: Reader) -> None:
        self._writer = writer
        self._reader = reader

    async def save_account(self, account: AdminAccount, *, replace: bool = False) -> bool:
        row = (
            account.name,
            account.password_hash,
            account.role,
            epoch(account.created_at),
            epoch(account.updated_at),
        )

        def save(db: sqlite3.Connection) -> bool:
            exists = db.execute(
                "SELECT 1 FROM admin_accounts WHERE name = ?", (account.name,)
            ).fetchone()
            if exists and not replace:
                return False
            if exists:
                db.execute(
                    "UPDATE admin_accounts SET password_hash = ?, role = ?, updated_at = ? "
                    "WHERE name = ?",
                    (account.password_hash, account.role, row[4], account.name),
                )
                db.execute("DELETE FROM admin_sessions WHERE account = ?", (account.name,))
            else:
                db.execute(f"INSERT INTO admin_accounts ({_ACCOUNT}) VALUES (?, ?, ?, ?, ?)", row)
            return True

        return await self._writer.call(save)

    async def account(self, name: str) -> AdminAccount | None:
        row = await self._reader.one(
            f"SELECT {_ACCOUNT} FROM admin_accounts WHERE name = ?", (name,)
        )
        return None if row is None else _account(row)

    async def accounts(self) -> list[AdminAccount]:
        rows = await self._reader.rows(f"SELECT {_ACCOUNT} FROM admin_accounts ORDER BY name")
        return [_account(row) for row in rows]

    async def remove_account(self, name: str) -> bool:
        def remove(db: sqlite3.Connection) -> bool:
            db.execute("DELETE FROM admin_sessions WHERE account = ?", (name,))
            return db.execute("DELETE FROM admin_accounts WHERE name = ?", (name,)).rowcount > 0

        return await self._writer.call(remove)

    async def open_session(self, session: AdminSession) -> None:
        def open_(db: sqlite3.Connection) -> None:
            db.execute(
                "DELETE FROM admin_sessions WHERE expires_at <= ?", (epoch(session.created_at),)
            )
            db.execute(
                f"INSERT INTO admin_sessions ({_SESSION}) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    session.id,
                    session.account,
                    session.credential,
                    session.address,
                    epoch(session.created_at),
                    epoch(session.expires_at),
                ),
            )

        await self._writer.call(open_)

    async def session(self, session_id: str, now: datetime) -> AdminSession | None:
        row = await self._reader.one(
            f"SELECT {_SESSION} FROM admin_sessions WHERE id = ? AND expires_at > ?",
            (session_id, epoch(now)),
        )
        return None if row is None else _session(row)

    async def close_session(self, session_id: str) -> None:
        def close(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM admin_sessions WHERE id = ?", (session_id,))

        await self._writer.call(close)

    async def note_failure(self, subjects: Sequence[str], at: datetime, forget: datetime) -> None:
        def note(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM admin_login_failures WHERE at < ?", (epoch(forget),))
            db.executemany(
                "INSERT INTO admin_login_failures (subject, at) VALUES (?, ?)",
                [(subject, epoch(at)) for subject in subjects],
            )

        await self._writer.call(note)

    async def failures(self, subjects: Sequence[str], since: datetime) -> dict[str, list[datetime]]:
        rows = await self._reader.rows(
            "SELECT subject, at FROM admin_login_failures WHERE at >= ? AND subject IN "
            "(SELECT value FROM json_each(?)) ORDER BY at, id",
            (epoch(since), json.dumps(list(subjects))),
        )
        found: dict[str, list[datetime]] = {}
        for subject, at in rows:
            found.setdefault(str(subject), []).append(moment(at))
        return found

    async def clear_failures(self, subject: str) -> None:
        def clear(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM admin_login_failures WHERE subject = ?", (subject,))

        await self._writer.call(clear)
