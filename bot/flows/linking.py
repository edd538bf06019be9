"""Who a chat is in the shop: link tokens, and the normalised identities orders are matched by.

A link token is a Telegram `/start` payload that ties a chat to the shop's customer (`c`, the
shop's customer id) or to one order (`o`, the shop's order id), signed and expiring:

    link-<signature>-<expires>-<kind><value>

`expires` is a Unix time in seconds; `signature` is the first 20 hex digits of
HMAC-SHA256(secret, "<kind><value>.<expires>"). The whole token is at most 64 characters of
`A-Za-z0-9_-` (Telegram's rule for start parameters), so `value` is at most 26 characters. It is
simple enough for a shop to compute in its own templates (Shopify Liquid has `hmac_sha256`,
PHP `hash_hmac`). Tokens are single-use: the storage remembers who redeemed each one.

Referral codes start with `ref-` and campaign names must start with neither that nor `link-`,
so the three kinds of payload never mix.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from bot.errors import InvalidInput

__all__ = [
    "PREFIX",
    "LinkToken",
    "TokenRefusal",
    "email_key",
    "is_link_payload",
    "mint",
    "order_number_key",
    "peek",
    "phone_key",
    "verify",
]

PREFIX = "link-"
MAX_LENGTH = 64
SIGNATURE_HEX = 20
_TOKEN = re.compile(r"^link-([0-9a-f]{20})-([0-9]{1,12})-([co])([A-Za-z0-9_-]{1,64})$")
_VALUE = re.compile(r"^[A-Za-z0-9_-]+$")

Kind = Literal["c", "o"]


@dataclass(frozen=True)
class LinkToken:
    kind: Kind
    """`c`: the shop's customer id; `o`: the shop's order id."""
    value: str
    expires_at: datetime
    token_id: str
    """The signature: what makes the token single-use."""


@dataclass(frozen=True)
class TokenRefusal:
    reason: Literal["invalid", "expired"]


def is_link_payload(payload: str | None) -> bool:
    return payload is not None and payload.strip().startswith(PREFIX)


def _signature(secret: bytes, kind: str, value: str, expires: int) -> str:
    message = f"{kind}{value}.{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:SIGNATURE_HEX]


def mint(secret: bytes, kind: Kind, value: str, expires_at: datetime) -> str:
    """A token for `value`; `InvalidInput` when it cannot fit Telegram's 64 characters."""
    value = value.strip()
    if not _VALUE.match(value):
        raise InvalidInput(
            f"{value!r} cannot go in a Telegram link: use letters, digits, _ and - only"
        )
    expires = int(expires_at.timestamp())
    token = f"{PREFIX}{_signature(secret, kind, value, expires)}-{expires}-{kind}{value}"
    if len(token) > MAX_LENGTH:
        room = MAX_LENGTH - (len(token) - len(value))
        raise InvalidInput(f"{value!r} is too long for a Telegram link (at most {room} characters)")
    return token


def peek(payload: str) -> tuple[str, Kind, str] | None:
    """(token id, kind, value) of a well-formed token, before its signature is checked: what
    to read from storage to decide about it."""
    found = _TOKEN.match(payload.strip())
    if found is None or len(payload.strip()) > MAX_LENGTH:
        return None
    signature, _, kind, value = found.groups()
    return signature, "c" if kind == "c" else "o", value


def verify(secret: bytes, payload: str, now: datetime) -> LinkToken | TokenRefusal:
    """The token's content, if it is well formed, signed with `secret` and not expired."""
    payload = payload.strip()
    found = _TOKEN.match(payload) if len(payload) <= MAX_LENGTH else None
    if found is None:
        return TokenRefusal("invalid")
    signature, expires_text, kind, value = found.groups()
    expires = int(expires_text)
    expected = _signature(secret, kind, value, expires)
    if not hmac.compare_digest(expected, signature):
        return TokenRefusal("invalid")
    expires_at = datetime.fromtimestamp(expires, UTC)
    if expires_at <= now:
        return TokenRefusal("expired")
    assert kind in ("c", "o")
    return LinkToken("c" if kind == "c" else "o", value, expires_at, signature)


def phone_key(raw: str | None, country: str | None = None) -> str | None:
    """A phone number as E.164 digits without the `+` (`491701234567`), so that a number from a
    shop's checkout and one shared on Telegram compare equal; None when it is not one.

    `+49 170 1234567`, `0049 170 1234567` and `491701234567` are the same number; `0170 1234567`
    is too when `country` is `49` (a national number has its trunk `0` replaced by the code).
    """
    if raw is None:
        return None
    text = raw.strip()
    international = text.startswith(("+", "00"))
    digits = "".join(ch for ch in text if ch.isdigit())
    if text.startswith("00"):
        digits = digits[2:]
    elif not international and digits.startswith("0"):
        if country is None:
            return None  # a national number, and we do not know the country
        digits = country + digits[1:]
    if not 8 <= len(digits) <= 15 or digits.startswith("0"):
        return None
    return digits


def email_key(raw: str | None) -> str | None:
    """An email address as compared: trimmed, case-folded; None when it is not one."""
    if raw is None:
        return None
    text = raw.strip().casefold()
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain or any(ch.isspace() for ch in text):
        return None
    return text[:254]


_NUMBER_NOISE = re.compile(r"[\s#.:/_-]")
_NUMBER_KEY = re.compile(r"^[A-Z0-9]{1,64}$")
_NUMBER_WORDS = re.compile(r"^(?:(?:ORDER|BESTELLUNG|NUMBER|NO|NR)\b\.?\s*)+")


def order_number_key(raw: str | None) -> str | None:
    """An order number as compared: `#1001`, `1001` and `no. 1001` are the same; letters are
    upper-cased (`xpav284ct` = `XPAV284CT`); None when nothing is left."""
    if raw is None:
        return None
    text = raw.strip().upper()
    text = _NUMBER_WORDS.sub("", text)
    key = _NUMBER_NOISE.sub("", text)
    return key if _NUMBER_KEY.match(key) else None
