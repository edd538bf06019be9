"""Text made inert for a terminal or a log line.

A customer chooses their own name and writes what they like; shown raw, `\\x1b[2J` clears the
operator's screen, a carriage return overwrites a log line, and a newline forges one. Every
value a customer controls is passed through `inert` wherever it reaches a terminal or a log
(`customer show`, the playground, the staff log channel, CLI listings): control characters
become visible escapes, everything printable (any script, emoji) stays as it is.
"""

from __future__ import annotations

import re

__all__ = ["inert", "inert_lines"]

# C0 and C1 controls, DEL, and the bidirectional overrides that reorder what is shown
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\x1b": "\\e"}
    if char in named:
        return named[char]
    return f"\\x{ord(char):02x}" if ord(char) <= 0xFF else f"\\u{ord(char):04x}"


def inert(value: object) -> str:
    """`value` as one line with every control character shown as an escape (`\\e[2J`)."""
    return _CONTROL.sub(_escape, str(value))


def inert_lines(value: object) -> str:
    """As `inert`, but keeping line breaks (for multi-line messages shown in a terminal)."""
    return "\n".join(inert(line) for line in str(value).split("\n"))
