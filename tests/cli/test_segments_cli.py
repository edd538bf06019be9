"""`escalator segments ...` and `escalator customer tag`, as an operator runs them on a real
SQLite file: once as a real process, the rest through the same entry point in this process
(a process start costs seconds; the parser, exit codes and output are the same)."""

from __future__ import annotations

import asyncio
import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

from bot.cli import main
from bot.flows.common import new_customer
from bot.flows.model import CustomerKey, Profile, ReferralJoined, ScoreRow
from bot.storage import open_storage
from bot.storage.types import Change
from tests.cli.test_cli import escalator
from tests.conftest import START

PROMOTERS = '{"score_group": "promoter", "referrals_made": 0}'


async def _seed(db: Path) -> None:
    store = await open_storage(f"sqlite:///{db}", create=True)
    try:
        for n, score, referrals in ((1, 10, 0), (2, 9, 1), (3, 4, 0), (4, 9, 0)):
            customer = new_customer(
                CustomerKey("telegram", str(n)), Profile(f"<b>P{n}</b>", "en"), START
            ).evolve(referrals_joined=referrals)
            records = (ScoreRow("nps", score),)
            await store.journey.commit(
                Change(customer=customer, at=START, version=None, records=records)
            )
        friend = new_customer(CustomerKey("telegram", "5"), Profile("F", "en"), START)
        await store.journey.commit(
            Change(
                customer=friend.evolve(referred_by="telegram:2"),
                at=START,
                version=None,
                records=(ReferralJoined("telegram:2"),),
            )
        )
    finally:
        await store.close()


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def cli(db: Path, *args: str) -> Ran:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([*args, "--db", str(db)])
        except SystemExit as exit_:  # argparse refuses a command line with 2
            code = int(exit_.code or 0)
    return Ran(code, out.getvalue(), err.getvalue())


def test_an_operator_defines_previews_lists_and_deletes_a_segment(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    asyncio.run(_seed(db))
    defined = escalator(
        db, "segments", "define", "quiet-promoters", PROMOTERS, "--description", "ask them"
    )
    assert defined.returncode == 0, defined.stderr
    assert defined.stdout.strip() == "segment quiet-promoters defined: 2 customers match now"

    preview = escalator(db, "segments", "preview", "quiet-promoters", "--sample", "1")
    assert preview.returncode == 0, preview.stderr
    lines = preview.stdout.splitlines()
    assert lines[0] == "segment quiet-promoters: 2 customers"
    assert len(lines) == 3 and lines[2] == "  ... and 1 more"
    assert lines[1].split()[0] in {"telegram:1", "telegram:4"}

    listed = cli(db, "segments", "list")
    assert "quiet-promoters" in listed.stdout and "ask them" in listed.stdout
    shown = cli(db, "segments", "show", "quiet-promoters")
    assert "customers now: 2" in shown.stdout

    tried = cli(db, "segments", "preview", "--rule", '{"score_group": "detractor"}')
    assert tried.stdout.splitlines()[0] == "the rule: 1 customers"
    assert "telegram:3" in tried.stdout

    assert cli(db, "segments", "delete", "quiet-promoters").returncode == 0
    gone = cli(db, "segments", "show", "quiet-promoters")
    assert gone.returncode == 1
    assert "no segment 'quiet-promoters'" in gone.stderr


def test_bad_rules_are_refused_with_a_clear_line_and_nothing_is_saved(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    asyncio.run(_seed(db))
    cases = {
        '{"score_group": "happy"}': "'happy' is not a score_group",
        '{"shoe_size": 42}': "unknown field 'shoe_size'",
        '{"purchases": {"gte": "two"}}': "purchases is a number",
        '{"stage": {"gt": "customer"}}': "operator 'gt' does not apply to stage",
        "stage = 'x'; DROP TABLE customers": "the rule is not JSON",
        '{"any": []}': "expected a non-empty list of rules",
    }
    for rule, message in cases.items():
        result = cli(db, "segments", "define", "bad", rule)
        assert result.returncode == 2, (rule, result.stderr)
        assert message in result.stderr, (rule, result.stderr)
        assert "Traceback" not in result.stderr
    assert cli(db, "segments", "list").stdout.startswith("no segments yet")
    bad_name = cli(db, "segments", "define", "Not A Name", PROMOTERS)
    assert bad_name.returncode == 2 and "segment name" in bad_name.stderr
    assert cli(db, "customers", "list").returncode == 0  # the table is still there


def test_staff_tags_from_the_command_line_select_customers(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    asyncio.run(_seed(db))
    tagged = cli(db, "customer", "tag", "telegram:3", "VIP", "--by", "sam")
    assert tagged.returncode == 0, tagged.stderr
    assert tagged.stdout.strip() == "telegram:3: tagged vip"
    again = cli(db, "customer", "tag", "3", "vip")
    assert again.stdout.strip() == "telegram:3 already had tag vip"
    assert cli(db, "customer", "tag", "3").stdout.strip() == "vip"
    vip = cli(db, "segments", "preview", "--rule", '{"tag": "vip"}')
    assert vip.stdout.splitlines()[0] == "the rule: 1 customers"
    removed = cli(db, "customer", "tag", "3", "vip", "--remove")
    assert removed.stdout.strip() == "telegram:3: tag vip removed"
    nobody = cli(db, "customer", "tag", "telegram:99", "vip")
    assert nobody.returncode == 1 and "no customer" in nobody.stderr
    assert cli(db, "customer", "tag", "3", "no spaces!").returncode == 2
