"""The admin store's contract (dashboard accounts, sessions, failed sign-ins) on every backend
(`conftest.BACKENDS`)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.storage import Storage
from bot.storage.types import AdminAccount, AdminSession
from tests.conftest import START
from tests.storage.conftest import Opener

HOUR = timedelta(hours=1)


def account(name: str, role: str = "editor", hashed: str = "scrypt$h1") -> AdminAccount:
    return AdminAccount(name, hashed, role, START, START)  # type: ignore[arg-type]


def session(
    ident: str, name: str, *, at: timedelta = timedelta(0), ttl: timedelta = HOUR
) -> AdminSession:
    return AdminSession(ident, name, "fp1", "127.0.0.1", START + at, START + at + ttl)


async def test_accounts_are_added_once_replaced_on_purpose_and_removed(store: Storage) -> None:
    assert await store.admin.accounts() == []
    assert await store.admin.save_account(account("ann"))
    assert await store.admin.save_account(account("bob", "viewer"))
    assert not await store.admin.save_account(account("ann", "viewer", "scrypt$other"))
    assert await store.admin.account("ann") == account("ann")
    assert [a.name for a in await store.admin.accounts()] == ["ann", "bob"]
    assert await store.admin.account("nobody") is None

    later = AdminAccount("ann", "scrypt$h2", "viewer", START, START + HOUR)
    assert await store.admin.save_account(later, replace=True)
    stored = await store.admin.account("ann")
    assert stored is not None
    assert (stored.password_hash, stored.role, stored.created_at, stored.updated_at) == (
        "scrypt$h2",
        "viewer",
        START,
        START + HOUR,
    )
    assert await store.admin.remove_account("bob")
    assert not await store.admin.remove_account("bob")
    assert [a.name for a in await store.admin.accounts()] == ["ann"]


async def test_sessions_last_until_they_expire_and_end_with_their_account(store: Storage) -> None:
    await store.admin.save_account(account("ann"))
    await store.admin.save_account(account("bob"))
    await store.admin.open_session(session("s-ann", "ann"))
    await store.admin.open_session(session("s-bob", "bob"))
    assert await store.admin.session("s-ann", START) == session("s-ann", "ann")
    assert await store.admin.session("s-ann", START + HOUR - timedelta(seconds=1)) is not None
    assert await store.admin.session("s-ann", START + HOUR) is None  # expired at its expiry
    assert await store.admin.session("s-unknown", START) is None

    await store.admin.close_session("s-ann")
    assert await store.admin.session("s-ann", START) is None
    # replacing an account (a new password) ends its sessions; removing it too
    await store.admin.open_session(session("s-ann-2", "ann"))
    await store.admin.save_account(account("ann", hashed="scrypt$new"), replace=True)
    assert await store.admin.session("s-ann-2", START) is None
    assert await store.admin.session("s-bob", START) is not None
    await store.admin.remove_account("bob")
    assert await store.admin.session("s-bob", START) is None


async def test_opening_a_session_forgets_expired_ones(opener: Opener) -> None:
    store = await opener()
    await store.admin.open_session(session("old", "ann", ttl=timedelta(minutes=5)))
    await store.admin.open_session(session("new", "ann", at=2 * HOUR))
    # deleted, not just hidden: asked with a time before its expiry, it is gone all the same
    assert await store.admin.session("old", START) is None
    other = await opener()  # another process sees the same
    assert await other.admin.session("new", START + 2 * HOUR) is not None


async def test_failed_sign_ins_are_counted_per_subject_within_a_window(store: Storage) -> None:
    minute = timedelta(minutes=1)
    subjects = ["address:10.0.0.1", "account:ann"]
    for n in range(3):
        await store.admin.note_failure(subjects, START + n * minute, START - HOUR)
    await store.admin.note_failure(["address:10.0.0.2", "account:ann"], START + 3 * minute, START)
    found = await store.admin.failures([*subjects, "address:10.0.0.9"], START)
    assert found == {
        "address:10.0.0.1": [START, START + minute, START + 2 * minute],
        "account:ann": [START + n * minute for n in range(4)],
    }
    assert await store.admin.failures(subjects, START + 2 * minute) == {
        "address:10.0.0.1": [START + 2 * minute],
        "account:ann": [START + 2 * minute, START + 3 * minute],
    }
    # a success forgets the account's failures, not the address's
    await store.admin.clear_failures("account:ann")
    assert await store.admin.failures(subjects, START) == {
        "address:10.0.0.1": [START, START + minute, START + 2 * minute]
    }
    # a later failure forgets everything before its `forget`
    await store.admin.note_failure(["address:10.0.0.3"], START + HOUR, START + 2 * minute)
    assert await store.admin.failures(["address:10.0.0.1", "address:10.0.0.2"], START) == {
        "address:10.0.0.1": [START + 2 * minute],
        "address:10.0.0.2": [START + 3 * minute],
    }


async def test_failures_noted_by_two_processes_at_once_are_all_counted(opener: Opener) -> None:
    one, two = await opener(), await opener()
    subjects = ["address:10.0.0.1", "account:ann"]
    await asyncio.gather(
        *(
            store.admin.note_failure(subjects, START + n * timedelta(seconds=1), START - HOUR)
            for n in range(10)
            for store in (one, two)
        )
    )
    found = await one.admin.failures(subjects, START - HOUR)
    assert {subject: len(times) for subject, times in found.items()} == {
        "address:10.0.0.1": 20,
        "account:ann": 20,
    }
