"""`escalator admin ...` as an operator runs it: the password piped in, stored only as a hash."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.passwords import verify_password
from bot.storage import open_storage
from tests.cli.test_cli import escalator

PASSWORD = "correct horse battery"


def stored(db: Path) -> dict[str, tuple[str, str]]:
    async def read() -> dict[str, tuple[str, str]]:
        storage = await open_storage(f"sqlite:///{db}")
        try:
            return {a.name: (a.role, a.password_hash) for a in await storage.admin.accounts()}
        finally:
            await storage.close()

    return asyncio.run(read())


def test_admin_add_creates_the_database_and_stores_only_a_hash(tmp_path: Path) -> None:
    db = tmp_path / "new" / "shop.db"
    added = escalator(db, "admin", "add", "Ann", stdin=f"{PASSWORD}\n", extra={"PORT": "8099"})
    assert added.returncode == 0, added.stderr
    assert "added the editor ann; sign in at http://localhost:8099/admin" in added.stdout
    accounts = stored(db)
    role, encoded = accounts["ann"]
    assert role == "editor" and encoded.startswith("scrypt$17$8$1$")
    assert verify_password(PASSWORD, encoded) and PASSWORD not in db.read_bytes().decode("latin-1")

    viewer = escalator(db, "admin", "add", "vic", "--role", "viewer", stdin=f"{PASSWORD}!\n")
    assert viewer.returncode == 0, viewer.stderr
    again = escalator(db, "admin", "add", "ann", stdin=f"{PASSWORD}\n")
    assert again.returncode == 1 and "there is an account 'ann' already" in again.stderr
    replaced = escalator(
        db, "admin", "add", "ann", "--role", "viewer", "--replace", stdin="another long phrase\n"
    )
    assert replaced.returncode == 0 and "sessions ended" in replaced.stdout
    assert stored(db)["ann"][0] == "viewer"
    assert verify_password("another long phrase", stored(db)["ann"][1])

    listed = escalator(db, "admin", "list")
    assert [line.split()[:2] for line in listed.stdout.splitlines()] == [
        ["ann", "viewer"],
        ["vic", "viewer"],
    ]
    removed = escalator(db, "admin", "remove", "VIC")
    assert removed.returncode == 0 and set(stored(db)) == {"ann"}
    assert escalator(db, "admin", "remove", "vic").returncode == 1


def test_admin_refuses_short_passwords_odd_names_and_the_environments_account(
    tmp_path: Path,
) -> None:
    db = tmp_path / "shop.db"
    short = escalator(db, "admin", "add", "ann", stdin="hunter2\n")
    assert short.returncode == 1 and "use at least 12" in short.stderr
    odd = escalator(db, "admin", "add", "<ann>", stdin=f"{PASSWORD}\n")
    assert odd.returncode == 1 and "not an account name" in odd.stderr
    hashed = escalator(db, "admin", "hash", stdin=f"{PASSWORD}\n")
    assert hashed.returncode == 0
    encoded = hashed.stdout.strip()
    assert verify_password(PASSWORD, encoded)
    env = {"ADMIN_PASSWORD_HASH": encoded}
    taken = escalator(db, "admin", "add", "admin", stdin=f"{PASSWORD}\n", extra=env)
    assert taken.returncode == 1 and "ADMIN_PASSWORD_HASH" in taken.stderr
    assert not db.exists()  # every add was refused before the database was touched
    assert escalator(db, "admin", "add", "bob", stdin=f"{PASSWORD}\n", extra=env).returncode == 0
    listed = escalator(db, "admin", "list", extra=env).stdout.splitlines()
    assert listed[0] == "admin                    editor   (ADMIN_PASSWORD_HASH)"
    assert listed[1].split()[:2] == ["bob", "editor"]
