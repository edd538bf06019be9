"""`escalator campaigns ...` as an operator runs them on a real SQLite file (through the same
entry point as the `escalator` command; `test_segments_cli` runs it as a process)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.cli.test_cli import escalator
from tests.cli.test_segments_cli import PROMOTERS, _seed, cli


def test_an_operator_creates_starts_pauses_and_reads_a_campaign(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    asyncio.run(_seed(db))
    assert cli(db, "segments", "define", "quiet-promoters", PROMOTERS).returncode == 0
    created = cli(
        db,
        "campaigns",
        "create",
        "ask-friends",
        "--segment",
        "quiet-promoters",
        "--template",
        "referral_invite",
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == (
        "campaign ask-friends created (draft): escalator campaigns start ask-friends"
    )
    started = escalator(db, "campaigns", "start", "ask-friends")
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "campaign ask-friends started: 2 customers, first message now"
    again = cli(db, "campaigns", "start", "ask-friends")
    assert again.returncode == 1 and "is running" in again.stderr
    listed = cli(db, "campaigns", "list")
    assert listed.stdout.strip() == (
        "ask-friends  running  segment quiet-promoters  template referral_invite"
    )
    shown = cli(db, "campaigns", "show", "ask-friends")
    lines = shown.stdout.splitlines()
    assert lines[1:3] == ["  targeted   2", "  sent       0"]
    assert "  waiting    2" in lines
    assert cli(db, "campaigns", "pause", "ask-friends").stdout.strip() == (
        "campaign ask-friends paused (start resumes it)"
    )
    assert cli(db, "campaigns", "start", "ask-friends").stdout.strip() == (
        "campaign ask-friends resumed"
    )
    assert cli(db, "campaigns", "cancel", "ask-friends").returncode == 0
    shown = cli(db, "campaigns", "show", "ask-friends")
    assert "  skipped    2  (cancelled 2)" in shown.stdout.splitlines()


def test_campaign_mistakes_are_one_clear_line(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    asyncio.run(_seed(db))
    assert cli(db, "segments", "define", "everyone", '{"stopped": false}').returncode == 0
    base = ("campaigns", "create", "x", "--segment", "everyone", "--template")
    cases = [
        ((*base, "referral_joined"), 1, "needs friend"),
        ((*base, "staff_help"), 1, "not a message to customers"),
        (
            ("campaigns", "create", "x", "--segment", "nobody", "--template", "welcome"),
            1,
            "no segment",
        ),
        ((*base, "welcome", "--sequence", "7,0"), 2, "must start at 0 or later and increase"),
        ((*base, "welcome", "--sequence", "a,b"), 2, "expected days like 0,7,21"),
        ((*base, "welcome", "--at", "yesterday-ish"), 2, "not a time"),
        ((*base, "welcome", "--at", "2020-01-01T10:00"), 1, "--at is in the past"),
        (("campaigns", "show", "nothing"), 1, "no campaign 'nothing'"),
        (("campaigns", "pause", "nothing"), 1, "no campaign 'nothing'"),
    ]
    for args, code, message in cases:
        result = cli(db, *args)
        assert result.returncode == code, (args, result.stderr)
        last = result.stderr.strip().splitlines()[-1]  # argparse puts its usage first
        assert message in last and last.startswith("escalator"), (args, result.stderr)
    assert cli(db, "campaigns", "list").stdout.startswith("no campaigns yet")
    later = cli(db, *base, "welcome", "--at", "2h", "--sequence", "0,7,21", "--stop-on-purchase")
    assert later.returncode == 0, later.stderr
    listed = cli(db, "campaigns", "list").stdout
    assert "days 0,7,21 (stops on purchase)" in listed
    started = cli(db, "campaigns", "start", "x")
    assert "first message at " in started.stdout
