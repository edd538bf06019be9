"""Password hashes for the admin dashboard: scrypt, from the standard library (OpenSSL).

scrypt is memory-hard (a guess costs memory as well as time, which is what makes graphics cards
and custom chips slow at it) and comes with Python, so there is no compiled dependency to
install. The parameters are the OWASP recommendation (n = 2**17, r = 8, p = 1: 128 MiB and a
few hundred milliseconds per guess here) and travel with each hash, so they can be raised later
without breaking the hashes already stored:

    scrypt$17$8$1$<salt, base64>$<key, base64>

A hash read from the environment or the database is checked before it is used: parameters far
above the recommendation would let a mistyped `ADMIN_PASSWORD_HASH` make each sign-in cost
gigabytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from bot.errors import InvalidInput

__all__ = [
    "MAX_LENGTH",
    "MIN_LENGTH",
    "check_new_password",
    "fingerprint",
    "hash_password",
    "parse_hash",
    "verify_password",
]

LOG2_N = 17
BLOCK = 8
PARALLEL = 1
SALT_BYTES = 16
KEY_BYTES = 32
MIN_LENGTH = 12
MAX_LENGTH = 1024
"""Longer passwords are refused rather than hashed: hashing is bounded like everything else."""
_MAX_LOG2_N = 20
_MAX_BLOCK = 16
_MAX_PARALLEL = 4


@dataclass(frozen=True)
class ScryptHash:
    log2_n: int
    block: int
    parallel: int
    salt: bytes
    key: bytes

    def derive(self, password: str) -> bytes:
        n = 2**self.log2_n
        return hashlib.scrypt(
            password.encode("utf-8"),
            salt=self.salt,
            n=n,
            r=self.block,
            p=self.parallel,
            dklen=len(self.key),
            # hashlib's default cap (32 MiB) is below what n = 2**17 needs (128 MiB)
            maxmem=2 * 128 * self.block * n * self.parallel + 1024 * 1024,
        )


def hash_password(password: str, *, log2_n: int = LOG2_N) -> str:
    """A new hash of `password` (a fresh salt each time). `log2_n` below the default is for
    tests that make many accounts; every hash says its own cost."""
    shape = ScryptHash(log2_n, BLOCK, PARALLEL, secrets.token_bytes(SALT_BYTES), b"\0" * KEY_BYTES)
    key = shape.derive(password)
    return "$".join(["scrypt", str(log2_n), str(BLOCK), str(PARALLEL), _b64(shape.salt), _b64(key)])


def parse_hash(encoded: str) -> ScryptHash:
    """Read a stored hash; `ValueError` says what is wrong with it."""
    parts = encoded.strip().split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError(
            "not a password hash: expected scrypt$17$8$1$<salt>$<key> "
            "(make one with `escalator admin hash`)"
        )
    try:
        log2_n, block, parallel = (int(part) for part in parts[1:4])
        salt, key = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        raise ValueError("a damaged password hash: its numbers or base64 do not read") from None
    if not (10 <= log2_n <= _MAX_LOG2_N and 1 <= block <= _MAX_BLOCK):
        raise ValueError(f"password hash parameters out of range (n=2**{log2_n}, r={block})")
    if not (1 <= parallel <= _MAX_PARALLEL and len(salt) >= 8 and len(key) >= 16):
        raise ValueError("password hash parameters out of range (p, salt or key length)")
    return ScryptHash(log2_n, block, parallel, salt, key)


def verify_password(password: str, encoded: str) -> bool:
    """Whether `password` is the one `encoded` was made from (compared in constant time). A
    password longer than `MAX_LENGTH` never is; a malformed hash raises `ValueError`."""
    stored = parse_hash(encoded)
    if len(password) > MAX_LENGTH:
        return False
    return hmac.compare_digest(stored.derive(password), stored.key)


def check_new_password(password: str) -> None:
    """Refuse a password too short to resist guessing, or too long to hash."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(
            f"the password has {len(password)} characters; use at least {MIN_LENGTH} "
            "(a few unrelated words make a long one easy to remember)"
        )
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"the password is longer than {MAX_LENGTH} characters")


def fingerprint(encoded: str) -> str:
    """A short digest of a stored hash: sessions remember it, so changing the password ends
    every session opened with the old one."""
    return hashlib.sha256(encoded.strip().encode()).hexdigest()[:32]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    if not text:
        raise ValueError("empty")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
