"""Roles on SQLite: one bot process serves the file (`bot.storage.claim`), so a role is only
ever contended inside this process, and is held until released."""

from __future__ import annotations

import os

__all__ = ["SQLiteRoles"]


class _Held:
    def __init__(self, roles: SQLiteRoles, role: str) -> None:
        self._roles = roles
        self._role = role

    async def alive(self) -> bool:
        return self._role in self._roles.held

    async def release(self) -> None:
        self._roles.held.discard(self._role)


class SQLiteRoles:
    def __init__(self) -> None:
        self.held: set[str] = set()

    async def try_hold(self, role: str) -> _Held | None:
        if role in self.held:
            return None
        self.held.add(role)
        return _Held(self, role)

    async def holder(self, role: str) -> str | None:
        return f"this process (pid {os.getpid()})" if role in self.held else None
