"""Reading fields of a webhook's JSON: what is required is checked and named when it is wrong
(`InvalidInput`, answered 400 with the message); what is optional is taken when it is usable."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.errors import InvalidInput

__all__ = ["amount", "currency", "identifier", "moment", "obj", "text"]

_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
MAX_ID = 128


def obj(value: object, name: str = "the body") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{name} is not a JSON object")
    return value


def identifier(data: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    """An id: a positive whole number or a non-empty string of at most 128 printable
    characters."""
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{name} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInput(f"{name} must be a number or a string")
    text_value = str(value).strip()
    if not text_value or len(text_value) > MAX_ID or not text_value.isprintable():
        raise InvalidInput(f"{name} must be 1 to {MAX_ID} printable characters")
    return text_value


def text(data: dict[str, Any] | None, name: str, limit: int = 256) -> str | None:
    """An optional string (anything else is ignored), trimmed and cut to `limit`."""
    if data is None:
        return None
    value = data.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:limit]


def amount(data: dict[str, Any], name: str) -> Decimal | None:
    """An optional money amount: a decimal string (`"49.90"`, as shops send them) or a number."""
    value = data.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInput(f'{name} must be a decimal amount such as "49.90"')
    try:
        parsed = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidInput(f'{name} must be a decimal amount such as "49.90"') from None
    if not parsed.is_finite() or abs(parsed) >= Decimal(10) ** 12:
        raise InvalidInput(f"{name} is out of range")
    return parsed


def currency(data: dict[str, Any], name: str = "currency") -> str | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _CURRENCY.match(value.strip()):
        raise InvalidInput(f"{name} must be a three-letter ISO 4217 code such as EUR")
    return value.strip().upper()


def moment(value: object, *, naive_utc: bool = True) -> datetime | None:
    """An optional time: ISO 8601 (with an offset, or UTC when it has none) or Unix seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        if not naive_utc:
            return None
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
