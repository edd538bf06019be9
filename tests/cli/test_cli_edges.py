"""The command line's edges: operator input checked before anything is created, inert terminal
output, global options in one place, one meaning of a bare number, documented exit codes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.app import open_runtime
from bot.clock import ManualClock
from bot.config import load_settings
from bot.flows.model import CustomerKey, Profile, Start, Text
from tests.cli.test_cli import escalator
from tests.conftest import START, RecordingChannel

HOSTILE = "\x1b[2J\x1b[31mHACKED"


def seed(db: Path, key: CustomerKey, name: str, text: str | None = None) -> None:
    async def go() -> None:
        settings = load_settings(DATABASE_URL=f"sqlite:///{db}")
        channel = RecordingChannel()
        async with open_runtime(
            settings, ManualClock(START), {key.channel: channel}, channel
        ) as rt:
            await rt.engine.handle(Start(key=key, profile=Profile(name)))
            if text is not None:
                await rt.engine.handle(Text(key=key, text=text))

    asyncio.run(go())


def test_only_run_and_console_create_a_missing_directory_and_say_so(tmp_path: Path) -> None:
    db = tmp_path / "new" / "dir" / "t.db"
    for command in (["report"], ["templates", "list"], ["customer", "show", "1"]):
        refused = escalator(db, *command)
        assert refused.returncode == 1, (command, refused.stderr)
        assert "DATABASE_URL" in refused.stderr and "Traceback" not in refused.stderr
        assert not db.parent.exists(), command
    console = escalator(db, "console", stdin="/start\n")
    assert console.returncode == 0, console.stderr
    assert f"created the directory {db.parent} for the database" in console.stderr
    assert db.exists()


def test_amounts_must_be_finite_numbers(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    escalator(db, "console", stdin="/start\n")
    for value in ("nan", "inf", "-inf", "-1", "lots"):
        result = escalator(db, "purchase", "console:1", "--order-id", "X", f"--amount={value}")
        assert result.returncode == 2 and "not an amount" in result.stderr, value
    played = escalator(db, "console", stdin="/purchase O-9 nan\n/purchase O-9 inf\n")
    assert played.stdout.count("(playground) not an amount") == 2
    shown = escalator(db, "customer", "show", "console:1").stdout
    assert "purchase" not in shown


def test_an_editor_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    escalator(db, "console", stdin="")
    for editor in ("/no/such/editor", "nowhere-editor --wait", "'unclosed"):
        result = escalator(db, "templates", "edit", "checkin", extra={"EDITOR": editor})
        assert result.returncode == 1, result.stderr
        assert "EDITOR" in result.stderr and "Traceback" not in result.stderr
    assert "v2" not in escalator(db, "templates", "history", "checkin").stdout


def test_customer_values_are_inert_in_the_terminal(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    seed(db, CustomerKey("telegram", "5"), HOSTILE, f"refund {HOSTILE}\r\nforged")
    shown = escalator(db, "customer", "show", "5")
    assert shown.returncode == 0, shown.stderr
    assert "\x1b" not in shown.stdout and "\r" not in shown.stdout
    assert "name      \\e[2J\\e[31mHACKED" in shown.stdout
    assert "captured None" not in shown.stdout
    assert "captured -> captured" in shown.stdout
    preview = escalator(db, "templates", "preview", "welcome", "--customer", "5")
    assert preview.returncode == 0 and "\\e[2J" in preview.stdout and "\x1b" not in preview.stdout
    played = escalator(db, "console", stdin=f"/start\n{HOSTILE} broken\n")
    assert "\x1b" not in played.stdout and "\\e[2J\\e[31mHACKED broken" in played.stdout


def test_a_bare_number_means_the_same_telegram_customer_everywhere(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    seed(db, CustomerKey("telegram", "5"), "Zed")
    assert "customer  telegram:5" in escalator(db, "customer", "show", "5").stdout
    assert "Zed" in escalator(db, "templates", "preview", "welcome", "--customer", "5").stdout
    assert (
        "Zed" in escalator(db, "templates", "preview", "welcome", "--customer", "telegram:5").stdout
    )
    bought = escalator(db, "purchase", "5", "--order-id", "A")
    assert "recorded order A for telegram:5" in bought.stdout
    bad = escalator(db, "customer", "show", "tele gram:5")
    assert bad.returncode == 2 and "not a customer id" in bad.stderr


def test_global_options_go_before_or_after_every_command(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    other = tmp_path / "unused.db"  # DATABASE_URL points elsewhere: --db must win
    escalator(db, "console", stdin="/start\n")
    for command in (
        ["report"],
        ["nps"],
        ["customer", "show", "console:1"],
        ["templates", "list"],
        ["templates", "history", "checkin"],
    ):
        before = escalator(other, "--db", str(db), *command)
        after = escalator(other, *command, "--db", str(db))
        assert before.returncode == after.returncode == 0, (command, before.stderr, after.stderr)
        assert before.stdout == after.stdout
    assert not other.exists()
    templates_level = escalator(other, "templates", "--db", str(db), "list")
    assert templates_level.returncode == 0
    assert escalator(other, "frobnicate").returncode == 2  # usage


def test_report_refuses_an_empty_period_and_nps_names_csat_groups(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    csat = {"SURVEY_SCALE": "csat"}
    escalator(db, "console", stdin="/start\n/wait 2d\n1\n5\n", extra=csat)
    for command in ("report", "nps"):
        empty = escalator(db, command, "--since", "2026-05-02", "--until", "2026-05-01")
        assert empty.returncode == 1 and "is not before --until" in empty.stderr
    nps = escalator(db, "nps", extra=csat).stdout
    assert "CSAT 100.0%" in nps and "satisfied 1" in nps
    assert "promoter" not in nps and "detractor" not in nps


def test_resetting_a_template_at_the_shipped_text_makes_no_version(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    escalator(db, "console", stdin="")
    reset = escalator(db, "templates", "reset", "checkin")
    assert reset.returncode == 0 and "already at the shipped text" in reset.stdout
    history = escalator(db, "templates", "history", "checkin").stdout
    assert history.strip().splitlines() == [history.strip().splitlines()[0]]
    assert "v1" in history


def test_rating_buttons_and_typed_numbers_agree_in_the_playground(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    out = escalator(db, "console", stdin="/start\n/purchase O-1\n/wait 3d\n1\n0\n").stdout
    assert "[0]  [1]  [2]" in out and "[10]" in out and "[1] 0" not in out
    assert escalator(db, "nps").stdout.splitlines()[0] == "NPS -100.0"  # the 0 typed was a 0


def test_simulate_refuses_what_it_cannot_hold(tmp_path: Path) -> None:
    result = escalator(tmp_path / "t.db", "simulate", "--customers", "100000000", "--days", "9")
    assert result.returncode == 1
    assert "1 to 500,000 customers" in result.stderr and "Traceback" not in result.stderr
