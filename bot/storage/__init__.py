"""Storage behind a small async protocol; SQLite (aiosqlite) is the implementation."""

from bot.storage.base import Change, DuplicateInbound, Loaded, Storage
from bot.storage.sqlite import SQLiteStorage

__all__ = ["Change", "DuplicateInbound", "Loaded", "SQLiteStorage", "Storage"]
