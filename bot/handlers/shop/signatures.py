"""Webhook signatures, checked on the raw body bytes in constant time.

- Shopify and WooCommerce: base64 of HMAC-SHA256(secret, body).
- The generic form: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>` (several `v1`
  may be given, one per secret while a secret is being rotated); refused when `t` is more than
  `tolerance` away from now, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta

__all__ = ["TOLERANCE", "base64_hmac_valid", "sign_timestamped", "timestamped_problem"]

TOLERANCE = timedelta(minutes=5)


def _ascii(text: str) -> bytes:
    return text.strip().encode("ascii", "replace")


def base64_hmac_valid(secret: bytes, body: bytes, given: str | None) -> bool:
    if not given:
        return False
    expected = base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, _ascii(given))


def sign_timestamped(secret: bytes, body: bytes, timestamp: int) -> str:
    """The `X-Escalator-Signature` value for `body` at `timestamp` (what a shop sends)."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def timestamped_problem(
    secret: bytes,
    body: bytes,
    header: str | None,
    now: datetime,
    tolerance: timedelta = TOLERANCE,
) -> str | None:
    """Why the signature is not acceptable, or None when it is."""
    if not header:
        return "missing signature"
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.strip().isdigit() and len(value.strip()) <= 12:
            timestamp = int(value.strip())
        elif name == "v1":
            signatures.append(value.strip())
    if timestamp is None or not signatures:
        return "malformed signature header"
    skew = abs(now.timestamp() - timestamp)
    if skew > tolerance.total_seconds():
        return "signature timestamp too old or in the future"
    expected = _ascii(hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest())
    matched = False
    for given in signatures:  # every one is compared: the time taken says nothing
        matched |= hmac.compare_digest(expected, _ascii(given.lower()))
    return None if matched else "bad signature"
