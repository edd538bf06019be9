"""Human durations (`2d`, `36h`, `90m`, `1d12h`, `45s`) used by settings and the playground."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.errors import InvalidInput

__all__ = ["format_duration", "parse_duration"]

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([wdhms])", re.IGNORECASE)
_UNITS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_MAX = timedelta(days=3650)


def parse_duration(text: str) -> timedelta:
    """Parse `2d`, `1d12h`, `90m`; raise `InvalidInput` with an example otherwise."""
    compact = text.strip().replace(" ", "")
    if not compact:
        raise InvalidInput("empty duration: write e.g. 2d, 36h, 90m or 45s")
    position = 0
    seconds = 0.0
    for match in _PART.finditer(compact):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2).lower()]
        position = match.end()
    if position != len(compact) or position == 0:
        raise InvalidInput(f"not a duration: {text!r}; write e.g. 2d, 36h, 90m or 45s")
    result = timedelta(seconds=seconds)
    if result > _MAX:
        raise InvalidInput(f"duration too long: {text!r} (at most 3650d)")
    return result


def format_duration(value: timedelta) -> str:
    """The inverse of `parse_duration`, for messages: `2d 3h`, `45m`, `0s`."""
    remaining = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, remaining = divmod(remaining, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return " ".join(parts) or "0s"
