"""Link tokens and the identities orders are matched by: pure functions, time passed in."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.api import link_url
from bot.errors import InvalidInput
from bot.flows.linking import (
    LinkToken,
    TokenRefusal,
    email_key,
    is_link_payload,
    mint,
    order_number_key,
    peek,
    phone_key,
    verify,
)
from bot.flows.referral import is_referral_payload

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRET = b"link-secret"
TELEGRAM_START = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # Bot API: deep-link parameter rules


def test_a_token_fits_telegram_and_round_trips() -> None:
    token = mint(SECRET, "c", "SHOP-123", NOW + timedelta(days=30))
    assert TELEGRAM_START.match(token) and len(token) <= 64
    assert is_link_payload(token) and not is_referral_payload(token)
    found = verify(SECRET, token, NOW)
    assert isinstance(found, LinkToken)
    assert (found.kind, found.value) == ("c", "SHOP-123")
    assert found.expires_at == NOW + timedelta(days=30)
    assert peek(token) == (found.token_id, "c", "SHOP-123")


def test_the_signature_is_what_a_shop_template_computes() -> None:
    """A shop can build the token itself: HMAC-SHA256(secret, "<kind><value>.<expires>"), the
    first 20 hex digits (Liquid's `hmac_sha256` filter, PHP's `hash_hmac`)."""
    expires = int((NOW + timedelta(days=7)).timestamp())
    signature = hmac.new(SECRET, f"o820982911946154508.{expires}".encode(), hashlib.sha256)
    token = f"link-{signature.hexdigest()[:20]}-{expires}-o820982911946154508"
    assert mint(SECRET, "o", "820982911946154508", NOW + timedelta(days=7)) == token
    assert isinstance(verify(SECRET, token, NOW), LinkToken)


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda t: t.replace("SHOP-123", "SHOP-124"), "invalid"),  # another customer
        (lambda t: t[:-1], "invalid"),
        (lambda t: t.replace("-c", "-o"), "invalid"),  # another kind
        (lambda t: "link-" + "0" * 20 + t[25:], "invalid"),  # a made-up signature
        (lambda t: "link-nonsense", "invalid"),
        (lambda t: t + "x" * 40, "invalid"),  # over 64 characters
    ],
)
def test_a_forged_token_is_refused(tamper: object, reason: str) -> None:
    token = mint(SECRET, "c", "SHOP-123", NOW + timedelta(days=1))
    forged = tamper(token)  # type: ignore[operator]
    assert verify(SECRET, forged, NOW) == TokenRefusal(reason)  # type: ignore[arg-type]


def test_another_secret_and_an_expired_token_are_refused() -> None:
    token = mint(SECRET, "c", "SHOP-123", NOW + timedelta(hours=1))
    assert verify(b"other", token, NOW) == TokenRefusal("invalid")
    assert verify(SECRET, token, NOW + timedelta(hours=1)) == TokenRefusal("expired")
    assert isinstance(verify(SECRET, token, NOW + timedelta(minutes=59)), LinkToken)


def test_values_that_cannot_fit_a_telegram_link_are_refused_with_the_reason() -> None:
    with pytest.raises(InvalidInput, match="letters, digits"):
        mint(SECRET, "c", "SHOP 123", NOW)
    with pytest.raises(InvalidInput, match="at most 26 characters"):
        mint(SECRET, "c", "X" * 27, NOW + timedelta(days=1))
    assert len(mint(SECRET, "c", "X" * 26, NOW + timedelta(days=1))) == 64


def test_link_url_is_a_t_me_start_link() -> None:
    url = link_url("shop_bot", SECRET, customer_ref="SHOP-123", now=NOW)
    assert url.startswith("https://t.me/shop_bot?start=link-")
    token = url.split("start=", 1)[1]
    found = verify(SECRET, token, NOW)
    assert isinstance(found, LinkToken) and found.expires_at == NOW + timedelta(days=30)
    with pytest.raises(InvalidInput):
        link_url("shop_bot", SECRET, now=NOW)
    with pytest.raises(InvalidInput):
        link_url("shop bot", SECRET, order_id="1", now=NOW)


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("+49 170 1234567", None, "491701234567"),
        ("0049 (170) 123-4567", None, "491701234567"),
        ("491701234567", None, "491701234567"),  # as Telegram's contact gives it
        ("+491701234567", None, "491701234567"),
        ("0170 1234567", "49", "491701234567"),
        ("0170 1234567", None, None),  # national, country unknown: not comparable
        ("+1 (415) 555-0100", None, "14155550100"),
        ("12345", None, None),
        ("call me", None, None),
        (None, None, None),
    ],
)
def test_phone_numbers_compare_as_e164_digits(
    raw: str | None, country: str | None, expected: str | None
) -> None:
    assert phone_key(raw, country) == expected


def test_emails_and_order_numbers_are_normalised() -> None:
    assert email_key("  Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"
    assert email_key("not an email") is None and email_key("a@b") is None
    assert order_number_key("#1001") == order_number_key("1001") == "1001"
    assert order_number_key("Order no. 1001") == "1001"
    assert order_number_key("xpav284ct") == "XPAV284CT"
    assert order_number_key("###") is None and order_number_key("ümlaut1") is None
