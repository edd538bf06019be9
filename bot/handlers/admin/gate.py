"""Who may use the dashboard: accounts, sign-in with throttling, sessions.

Accounts are stored (`escalator admin add`) or, for the one account `admin`, given by
`ADMIN_PASSWORD_HASH`. A sign-in is refused without even checking the password once either the
address or the account has `attempts` failures within `window` (`retry_after`, a pure rule), so
guessing costs an attacker the window per few guesses; the account's failures are forgotten on
a successful sign-in, the address's are not. Wrong name and wrong password get the same answer,
and an unknown name costs the same hashing as a known one.

A session is a random token in an HttpOnly cookie; the database keeps its SHA-256 only. It ends
at its expiry, on sign-out, when the account is removed, or when the account's password changes
(the session remembers a fingerprint of the hash it was opened with). The CSRF token of a
session is derived from its token (an HMAC), so it needs no storage and dies with the session.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.passwords import fingerprint, hash_password, verify_password
from bot.storage.protocols import AdminStore
from bot.storage.types import AdminAccount, AdminRole, AdminSession

__all__ = [
    "ENV_ACCOUNT",
    "Admin",
    "Gate",
    "GateOptions",
    "Refused",
    "SignedIn",
    "csrf_token",
    "normal_name",
    "retry_after",
]

ENV_ACCOUNT = "admin"
"""The account whose password is ADMIN_PASSWORD_HASH."""
HASHING_AT_ONCE = 2
"""Password checks running at once (each takes 128 MiB for a few hundred milliseconds)."""


def normal_name(name: str) -> str:
    """Account names are compared without case or surrounding space."""
    return name.strip().casefold()


def retry_after(
    failures: dict[str, list[datetime]], attempts: int, window: timedelta, now: datetime
) -> timedelta | None:
    """How long until a sign-in may be tried, given each subject's failures within the window
    (oldest first); None: now."""
    waits = [
        times[len(times) - attempts] + window - now
        for times in failures.values()
        if len(times) >= attempts
    ]
    wait = max(waits, default=None)
    return wait if wait is not None and wait > timedelta(0) else None


@dataclass(frozen=True)
class GateOptions:
    env_hash: str | None
    """ADMIN_PASSWORD_HASH: the password of the account `admin`."""
    session_ttl: timedelta
    attempts: int
    window: timedelta


@dataclass(frozen=True)
class Admin:
    """The signed-in person of a request."""

    name: str
    role: AdminRole
    session_id: str
    csrf: str

    @property
    def can_edit(self) -> bool:
        return self.role == "editor"


@dataclass(frozen=True)
class SignedIn:
    admin: Admin
    token: str
    """For the cookie; nothing else keeps it."""


@dataclass(frozen=True)
class Refused:
    throttled: timedelta | None = None
    """Set when the sign-in was not even checked: too many failures; try again after this."""


class Gate:
    def __init__(self, store: AdminStore, options: GateOptions, clock: Clock) -> None:
        self._store = store
        self._options = options
        self._clock = clock
        self._hashing = asyncio.Semaphore(HASHING_AT_ONCE)
        # An unknown name is checked against this, so it takes as long as a known one.
        self._decoy: str | None = None

    async def account(self, name: str) -> AdminAccount | None:
        if name == ENV_ACCOUNT and self._options.env_hash is not None:
            stamp = self._clock.now()
            return AdminAccount(ENV_ACCOUNT, self._options.env_hash, "editor", stamp, stamp)
        return await self._store.account(name)

    async def sign_in(self, name: str, password: str, address: str) -> SignedIn | Refused:
        name = normal_name(name)
        now = self._clock.now()
        subjects = [f"address:{address}", f"account:{name}"]
        window = self._options.window
        failures = await self._store.failures(subjects, now - window)
        wait = retry_after(failures, self._options.attempts, window, now)
        if wait is not None:
            return Refused(throttled=wait)
        account = await self.account(name) if name else None
        stored = account.password_hash if account is not None else await self._decoy_hash()
        async with self._hashing:
            matches = await asyncio.to_thread(verify_password, password, stored)
        if account is None or not matches:
            await self._store.note_failure(subjects, self._clock.now(), now - window)
            return Refused()
        await self._store.clear_failures(f"account:{name}")
        token = secrets.token_urlsafe(32)
        opened = self._clock.now()
        session = AdminSession(
            id=_digest(token),
            account=account.name,
            credential=fingerprint(account.password_hash),
            address=address,
            created_at=opened,
            expires_at=opened + self._options.session_ttl,
        )
        await self._store.open_session(session)
        return SignedIn(Admin(account.name, account.role, session.id, csrf_token(token)), token)

    async def admin(self, token: str) -> Admin | None:
        """Who the session with this cookie token belongs to, if it is still good."""
        if not token or len(token) > 200:
            return None
        session = await self._store.session(_digest(token), self._clock.now())
        if session is None:
            return None
        account = await self.account(session.account)
        if account is None or fingerprint(account.password_hash) != session.credential:
            return None
        return Admin(account.name, account.role, session.id, csrf_token(token))

    async def sign_out(self, admin: Admin) -> None:
        await self._store.close_session(admin.session_id)

    async def _decoy_hash(self) -> str:
        if self._decoy is None:
            self._decoy = await asyncio.to_thread(hash_password, secrets.token_urlsafe(16))
        return self._decoy


def csrf_token(token: str) -> str:
    return hmac.new(token.encode(), b"escalator admin csrf", hashlib.sha256).hexdigest()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
