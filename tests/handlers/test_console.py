"""The playground: line parsing, and whole scripted sessions through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.flows.model import ButtonPress, Command, Start, Text
from bot.handlers.console import Problem, Quit, SwitchUser, Wait, parse_line

BUTTONS = [("Great 😀", "1:great"), ("Okay 🙂", "1:okay"), ("Not great 😕", "1:bad")]
ROOT = Path(__file__).resolve().parents[2]


def test_lines_become_events_or_playground_actions() -> None:
    assert isinstance(parse_line("/start spring_sale", "1", []), Start)
    start = parse_line("/start spring_sale", "1", [])
    assert isinstance(start, Start) and start.payload == "spring_sale"
    assert parse_line("/wait 2d", "1", []) == Wait(timedelta(days=2))
    assert parse_line("/wait 1d12h", "1", []) == Wait(timedelta(hours=36))
    assert isinstance(parse_line("/wait soon", "1", []), Problem)
    assert parse_line("/as 2", "1", []) == SwitchUser("2")
    assert parse_line("/quit", "1", []) == Quit()
    assert parse_line("   ", "1", []) is None
    command = parse_line("/help@escalator_bot", "1", [])
    assert isinstance(command, Command) and command.name == "help"


def test_buttons_are_pressed_by_label_or_number() -> None:
    by_label = parse_line("okay 🙂", "1", BUTTONS)
    assert isinstance(by_label, ButtonPress) and by_label.data == "1:okay"
    by_number = parse_line("3", "1", BUTTONS)
    assert isinstance(by_number, ButtonPress) and by_number.data == "1:bad"
    assert isinstance(parse_line("4", "1", BUTTONS), Text)
    assert isinstance(parse_line("3", "1", []), Text)


def playground(db: Path, script: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))}
    env["DATABASE_URL"] = f"sqlite:///{db}"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "console", "--db", str(db), *args],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_scripted_session_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    first = playground(db, "/start\n/wait 2d\n1\n/status\n")
    assert "Welcome" in first
    assert "quick check-in" in first
    assert "[1] Great" in first
    assert "wonderful to hear" in first
    assert "Stage: engaged" in first
    second = playground(db, "/status\n")
    assert "Stage: engaged" in second
    assert "first_answer → engaged" in second
    assert "Welcome" not in second


def test_clock_moves_persist_so_scheduled_messages_arrive_once(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    first = playground(db, "/start\n/wait 1d\n")
    assert "quick check-in" not in first
    second = playground(db, "/wait 1d\n")
    assert second.count("quick check-in") == 1
    third = playground(db, "/wait 5d\n")
    assert "quick check-in" not in third


def test_second_customer_and_opt_out(tmp_path: Path) -> None:
    out = playground(tmp_path / "t.db", "/start\n/stop\n/as 2\n/start\n/wait 2d\n")
    assert "won't message you" in out
    assert "you are now customer 2" in out
    assert out.count("quick check-in") == 1  # only customer 2, who did not opt out


def test_playground_answers_bad_lines_and_unknown_commands(tmp_path: Path) -> None:
    out = playground(tmp_path / "t.db", "/start\n/wait later\n/frobnicate\n")
    assert "(playground) not a duration" in out
    assert "I don't know the command /frobnicate" in out


def test_a_new_playground_in_quiet_hours_starts_its_clock_in_the_morning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    span = f"{now - timedelta(hours=1):%H:%M}-{now + timedelta(hours=1):%H:%M}"
    monkeypatch.setenv("QUIET_HOURS", span)
    out = playground(tmp_path / "night.db", "/start\n/wait 2d\n/status\n")
    again = playground(tmp_path / "night.db", "/status\n")
    assert f"it is quiet hours ({span.replace('-', '–')}) or nearly" in out
    assert "[1] Great" in out  # the check-in came after /wait, not held for the morning
    assert "checkin_deferred" not in out
    assert "quiet hours" not in again  # the clock was moved once, when the playground was new
