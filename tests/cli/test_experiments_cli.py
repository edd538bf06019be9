"""`escalator experiments ...` and `simulate --experiment-lift`, run as an operator runs them."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli import main
from tests.cli.test_cli import escalator
from tests.conftest import sql_file

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """`escalator ARGS` in this process (a subprocess costs seconds of start-up each)."""
    for name in ("TELEGRAM_BOT_TOKEN", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)

    def run(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse's usage errors
            code = int(exit_.code or 0)
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, out, err)

    return run


def test_create_read_and_ship_an_experiment(tmp_path: Path, run: Run) -> None:
    escalator = run
    db = tmp_path / "shop.db"
    b = tmp_path / "b.j2"
    b.write_text("A gift for a friend: https://t.me/{{ bot_username }}?start={{ code }}\n")
    create = escalator(
        db,
        *("experiments", "create", "invite", "--template", "referral_invite"),
        *("--variant", "A:3=current", "--variant", f"B={b}", "--goal", "referral"),
        "--author",
        "ann",
    )
    assert create.returncode == 0, create.stderr
    assert create.stdout.strip() == (
        "experiment invite started on referral_invite [en]: A 75%, B 25%; "
        "goal referral within 7 days"
    )
    again = escalator(
        db, "experiments", "create", "other", "--template", "referral_invite",
        "--variant", "A=current", "--variant", f"B={b}",
    )  # fmt: skip
    assert again.returncode == 1
    assert again.stderr.strip() == (
        "escalator: experiment invite already runs on referral_invite [en]: stop it first"
    )
    bad = tmp_path / "bad.j2"
    bad.write_text("Hello {{ nobody_knows }}")
    invalid = escalator(
        db, "experiments", "create", "x", "--template", "welcome",
        "--variant", "A=current", "--variant", f"B={bad}",
    )  # fmt: skip
    assert invalid.returncode == 1 and "variant B" in invalid.stderr
    usage = escalator(db, "experiments", "create", "x", "--template", "welcome", "--variant", "B")
    assert usage.returncode == 2 and "not a variant" in usage.stderr

    listed = escalator(db, "experiments", "list")
    assert listed.returncode == 0 and listed.stdout.split()[:2] == ["invite", "running"]
    shown = escalator(db, "experiments", "show", "invite")
    assert "--- variant B (weight 1) ---" in shown.stdout and "A gift for a friend" in shown.stdout
    report = escalator(db, "experiments", "report", "invite")
    assert report.returncode == 0
    assert "variant A (weight 3): 0 exposed" in report.stdout
    assert "not enough data yet" in report.stdout
    unknown = escalator(db, "experiments", "report", "nope")
    assert unknown.returncode == 1 and "no experiment named 'nope'" in unknown.stderr

    stop = escalator(db, "experiments", "stop", "invite", "--ship", "B", "--author", "ann")
    assert stop.returncode == 0, stop.stderr
    assert "variant B is now referral_invite [en] version 2" in stop.stdout
    history = escalator(db, "templates", "history", "referral_invite")
    assert "experiment invite: variant B shipped" in history.stdout
    current = escalator(db, "templates", "show", "referral_invite")
    assert current.stdout.startswith("A gift for a friend")
    assert sql_file(db, "SELECT status, shipped FROM experiments") == [("stopped", "B")]
    twice = escalator(db, "experiments", "stop", "invite")
    assert twice.returncode == 1 and "already stopped" in twice.stderr


def test_simulate_an_experiment_fast_and_through_the_bot(tmp_path: Path, run: Run) -> None:
    fast = escalator(  # once as an operator runs it
        tmp_path / "unused.db",
        *("simulate", "--customers", "100", "--experiment-lift", "0.05", "--fast"),
    )
    assert fast.returncode == 0, fast.stderr
    assert fast.stdout.startswith("simulated 100 customers shown the referral prompt once")
    assert "not enough data yet" in fast.stdout
    alone = run(tmp_path / "unused.db", "simulate", "--fast")
    assert alone.returncode == 1 and "--experiment-lift" in alone.stderr

    db = tmp_path / "sim.db"
    args = ("simulate", "--customers", "50", "--days", "30", "--experiment-lift", "0.2")
    full = run(tmp_path / "unused.db", *args, "--db", str(db))
    assert full.returncode == 0, full.stderr
    assert "experiment sim-referral-prompt on referral_invite [en]" in full.stdout
    # every customer sent the prompt was exposed once, to the variant the outbox rendered
    prompted = sql_file(
        db, "SELECT count(DISTINCT customer_id) FROM outbox WHERE template = 'referral_invite'"
    )
    exposed = sql_file(db, "SELECT variant, count(*) FROM experiment_exposures GROUP BY variant")
    assert prompted[0][0] > 0 and sum(n for _, n in exposed) == prompted[0][0]
    assert {v for v, _ in exposed} == {"A", "B"}
