"""`DATABASE_URL`: which backend, and where. Only the documented forms are accepted, so a typo
never silently creates a file somewhere unexpected."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

__all__ = ["FORMS", "DatabaseUrl", "parse_database_url"]

FORMS = (
    "sqlite:///relative/path.db, sqlite:////absolute/path.db, "
    "or postgresql://user:password@host:5432/database"
)


@dataclass(frozen=True)
class DatabaseUrl:
    backend: Literal["sqlite", "postgresql"]
    path: Path | None = None
    """The SQLite file."""
    dsn: str | None = field(default=None, repr=False)
    """The PostgreSQL connection string (`postgres://` is accepted as hosts set it). It may hold
    a password: it is never shown (`str()` and `repr()` leave it out)."""

    def __str__(self) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self.path}"
        parts = urlsplit(self.dsn or "")
        where = parts.netloc.rpartition("@")[2] or "localhost"  # never the user's password
        return f"postgresql://{where}{parts.path}"


def parse_database_url(value: str) -> DatabaseUrl:
    """Raise `ValueError` saying what is wrong and what is accepted."""
    text = value.strip()
    if not text:
        raise ValueError(f"is empty: use {FORMS}")
    if text.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(text)
        if not parts.hostname and not parts.path.strip("/"):
            raise ValueError(f"names no host or database: use {FORMS}")
        return DatabaseUrl("postgresql", dsn="postgresql://" + text.split("://", 1)[1])
    if not text.startswith("sqlite:///"):
        raise ValueError(f"{_shown(text)} is not a database URL: use {FORMS}")
    if "?" in text or "#" in text:
        raise ValueError(
            f"{_shown(text)}: options after '?' are not supported; use sqlite:///path/to/file.db"
        )
    path = text.removeprefix("sqlite:///")
    if not path.strip() or path.strip() in {":memory:", "/"}:
        raise ValueError(f"{_shown(text)} names no file: use sqlite:///path/to/file.db")
    return DatabaseUrl("sqlite", path=Path(path))


_PASSWORD = re.compile(r"(://[^/@:]*:)[^/@]*@")


def _shown(text: str) -> str:
    text = _PASSWORD.sub(r"\1***@", text)  # a mistyped URL may still hold a password
    return repr(text if len(text) <= 80 else text[:77] + "...")
