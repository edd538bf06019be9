"""Password hashes for the dashboard: scrypt with its parameters in the hash, checked before use,
and the ADMIN_* settings that carry them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import load_settings
from bot.errors import ConfigError, InvalidInput
from bot.passwords import (
    LOG2_N,
    check_new_password,
    fingerprint,
    hash_password,
    parse_hash,
    verify_password,
)


def test_a_hash_verifies_its_password_only_and_is_salted() -> None:
    encoded = hash_password("correct horse battery")
    assert encoded.startswith(f"scrypt${LOG2_N}$8$1$")  # the OWASP parameters, kept with it
    assert verify_password("correct horse battery", encoded)
    assert not verify_password("correct horse batterY", encoded)
    assert not verify_password("x" * 5000, encoded)  # too long to be anyone's: not hashed
    again = hash_password("correct horse battery")
    assert again != encoded and fingerprint(again) != fingerprint(encoded)
    cheap = hash_password("correct horse battery", log2_n=12)
    assert parse_hash(cheap).log2_n == 12 and verify_password("correct horse battery", cheap)


@pytest.mark.parametrize(
    ("encoded", "says"),
    [
        ("hunter2", "not a password hash"),
        ("bcrypt$12$8$1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", "not a password hash"),
        ("scrypt$x$8$1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", "damaged"),
        ("scrypt$17$8$1$!!$a2V5a2V5a2V5a2V5a2V5a2V5", "damaged"),
        # a cost that would make each sign-in take gigabytes is refused, not run
        ("scrypt$30$8$1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", "out of range"),
        ("scrypt$17$8$64$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", "out of range"),
    ],
)
def test_a_malformed_hash_is_refused_with_a_reason(encoded: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_hash(encoded)
    with pytest.raises(ValueError, match=says):
        verify_password("anything at all", encoded)


def test_new_passwords_are_long_enough_and_bounded() -> None:
    with pytest.raises(InvalidInput, match="at least 12"):
        check_new_password("hunter2")
    with pytest.raises(InvalidInput, match="longer than"):
        check_new_password("x" * 2000)
    check_new_password("four words are plenty")


def test_admin_settings_read_durations_and_check_the_hash() -> None:
    encoded = hash_password("correct horse battery", log2_n=12)
    settings = load_settings(
        ADMIN_PASSWORD_HASH=encoded, ADMIN_SESSION_TTL="30m", ADMIN_LOGIN_WINDOW="1h"
    )
    assert settings.admin_password_hash is not None
    assert settings.admin_password_hash.get_secret_value() == encoded
    assert encoded not in repr(settings)
    assert (settings.admin_session_ttl, settings.admin_login_window) == (
        timedelta(minutes=30),
        timedelta(hours=1),
    )
    assert settings.admin_login_attempts == 5 and not settings.admin_trust_proxy
    assert load_settings(ADMIN_PASSWORD_HASH="").admin_password_hash is None
    with pytest.raises(ConfigError) as caught:
        load_settings(ADMIN_PASSWORD_HASH="hunter2-in-plain-text", ADMIN_SESSION_TTL="0s")
    message = str(caught.value)
    assert "ADMIN_PASSWORD_HASH: not a password hash" in message
    assert "ADMIN_SESSION_TTL: must be a positive duration" in message
    assert "hunter2-in-plain-text" not in message
