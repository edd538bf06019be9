"""The command line as an operator uses it: real processes on a real database file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def escalator(
    db: Path, *args: str, stdin: str = "", extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))}
    env["DATABASE_URL"] = f"sqlite:///{db}"
    # commands run on the wall clock: without this, a playground run at night would hold
    # check-ins for the morning (quiet hours are tested on a fixed clock elsewhere)
    env.setdefault("QUIET_HOURS", "off")
    env.update(extra or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
        check=False,
    )


def test_the_escalation_loop_in_the_playground(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    script = "\n".join(
        [
            "/start",
            "/purchase ORDER-1",
            "/wait 3d",
            "Great 😀",
            "3",
            "it arrived broken",
            "!reply So sorry, a replacement is on its way.",
            "/wait 30d",
            "!resolve",
            "/wait 1d",
            "/as 2",
            "/start",
            "/purchase ORDER-2",
            "/wait 3d",
            "1",
            "10",
        ]
    )
    out = escalator(db, "console", stdin=script).stdout
    staff_card = out.index("[staff] :rotating_light: *New escalation* console:1#1")
    assert "*They wrote:* it arrived broken" in out[staff_card:]
    assert "So sorry, a replacement is on its way.\n     \n     — Sam, customer care" in out
    after_wait = out.index("30d later")
    before_resolve = out.index("!resolve")
    assert "bot:" not in out[after_wait:before_resolve]  # no automated message while open
    assert "did we sort it out for you?" in out[before_resolve:]
    assert "What do you love most about us?" in out


def test_purchase_command_is_idempotent_and_customer_show_tells_all(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    escalator(db, "console", stdin="/start\nhello\n")
    first = escalator(db, "purchase", "console:1", "--order-id", "A-7", "--amount", "12.5")
    assert first.returncode == 0, first.stderr
    assert "recorded order A-7 for console:1: stage customer" in first.stdout
    again = escalator(db, "purchase", "console:1", "--order-id", "A-7")
    assert again.returncode == 0 and "already recorded: nothing changed" in again.stdout
    nobody = escalator(db, "purchase", "console:9", "--order-id", "A-8")
    assert nobody.returncode == 1 and "no customer 'console:9'" in nobody.stderr
    assert "Traceback" not in nobody.stderr
    show = escalator(db, "customer", "show", "console:1")
    assert show.returncode == 0
    assert "stage     customer (level 5)" in show.stdout
    assert "first_answer captured -> engaged" in show.stdout
    assert "purchase engaged -> customer (A-7)" in show.stdout
    missing = escalator(db, "customer", "show", "telegram:404")
    assert missing.returncode == 1 and "no customer 'telegram:404'" in missing.stderr


def test_nps_command(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    escalator(db, "console", stdin="/start\n/wait 2d\n1\n10\n/as 2\n/start\n/wait 2d\n1\n0\n")
    out = escalator(db, "nps").stdout
    assert "NPS +0.0" in out and "promoters 1, passives 0, detractors 1" in out
    empty = escalator(db, "nps", "--until", "2000-01-01").stdout
    assert "no responses" in empty
    bad = escalator(db, "nps", "--since", "yesterday")
    assert bad.returncode == 2 and "not a date" in bad.stderr


def test_simulation_is_reproducible_and_report_reads_it_back(tmp_path: Path) -> None:
    args = ("simulate", "--customers", "60", "--days", "30", "--seed", "3")
    first = escalator(tmp_path / "unused.db", *args, "--db", str(tmp_path / "sim.db"))
    second = escalator(tmp_path / "unused.db", *args)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    lines = first.stdout.splitlines()
    assert lines[0] == "simulated 60 customers over 30 days (seed 3)"
    total = int(lines[1].split()[-1])
    stages = [int(line.split()[-1]) for line in lines[2:7]]
    assert total >= 60 and sum(stages) == total
    for label in ("escalations", "referrals", "K-factor", "badges awarded"):
        assert any(line.startswith(label) for line in lines), label
    other_seed = escalator(tmp_path / "unused.db", *args[:-1], "4")
    assert other_seed.stdout != first.stdout
    report = escalator(tmp_path / "sim.db", "report")
    assert report.returncode == 0
    assert report.stdout.splitlines() == lines[1:]
    again = escalator(tmp_path / "unused.db", *args, "--db", str(tmp_path / "sim.db"))
    assert again.returncode == 1 and "fresh database" in again.stderr


def test_referral_in_the_playground(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    first = escalator(db, "console", stdin="/start\n/wait 2d\n1\n10\nlove it\n").stdout
    (link,) = {
        word.rstrip("”") for word in first.split() if word.startswith("https://t.me/escalator_bot?")
    }
    code = link.rsplit("=", 1)[1]
    second = escalator(db, "console", stdin=f"/as 2\n/start {code}\n/purchase O-2\n").stdout
    assert "bot → customer 1: Good news: Customer 2 just joined through your link" in second
    assert "bot → customer 1: Customer 2 just made their first purchase" in second
    assert "bot → customer 1: 🏅 You've earned a badge: First referral!" in second
    show = escalator(db, "customer", "show", "console:1").stdout
    assert "stage     advocate (level 6)" in show


EDITOR = """#!/bin/sh
# A stand-in for $EDITOR: replaces the file being edited with $NEW_TEXT.
printf '%s\\n' "$NEW_TEXT" > "$1"
"""


def test_templates_edit_is_validated_versioned_and_used_by_the_playground(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    editor = tmp_path / "editor.sh"
    editor.write_text(EDITOR)
    editor.chmod(0o755)

    def edit(text: str) -> subprocess.CompletedProcess[str]:
        return escalator(
            db,
            "templates",
            "edit",
            "checkin",
            "--comment",
            "friendlier",
            extra={"EDITOR": str(editor), "NEW_TEXT": text},
        )

    first = escalator(db, "console", stdin="/start\n", extra={"TEMPLATE_REFRESH": "0"})
    assert first.returncode == 0
    typo = edit("Hey {{ frist_name }}, all good?")
    assert typo.returncode == 1
    assert "line 1: unknown variable 'frist_name'" in typo.stderr
    fixed = edit("Hey {{ first_name }}, all good?")
    assert fixed.returncode == 0 and "saved checkin [en] as version 2" in fixed.stdout
    playground = escalator(db, "console", stdin="/wait 2d\n", extra={"TEMPLATE_REFRESH": "0"})
    assert "bot: Hey Customer 1, all good?" in playground.stdout
    history = escalator(db, "templates", "history", "checkin").stdout
    assert "v2" in history and "friendlier" in history
    back = escalator(db, "templates", "rollback", "checkin", "1")
    assert "version 1 is current again (saved as version 3)" in back.stdout
    shown = escalator(db, "templates", "show", "checkin").stdout
    assert "quick check-in" in shown
    preview = escalator(db, "templates", "preview", "welcome", "--locale", "de").stdout
    assert "Ada" in preview and "<b>" not in preview
    unknown = escalator(db, "templates", "show", "nonsense")
    assert unknown.returncode == 1 and "no message named 'nonsense'" in unknown.stderr


def test_templates_set_export_import_and_validate(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    good = tmp_path / "good.j2"
    good.write_text("<b>Thanks!</b> Send /help any time.")
    assert escalator(db, "templates", "set", "help", "--file", str(good)).returncode == 0
    bad = tmp_path / "bad.j2"
    bad.write_text("{{ ''.__class__ }}")
    refused = escalator(db, "templates", "set", "help", "--file", str(bad))
    assert refused.returncode == 1 and "not allowed in a message" in refused.stderr
    out = tmp_path / "export"
    shipped = len(list((ROOT / "templates" / "messages").glob("*/*.j2")))  # every locale's text
    assert f"exported {shipped} texts" in escalator(db, "templates", "export", str(out)).stdout
    assert (out / "en" / "help.j2").read_text() == "<b>Thanks!</b> Send /help any time."
    (out / "de" / "help.j2").write_text("<b>Danke!</b>")
    (out / "en" / "stale_button.j2").write_text("{{ nope }}")
    rejected = escalator(db, "templates", "import", str(out))
    assert rejected.returncode == 1 and "stale_button.j2" in rejected.stderr
    assert "nothing was imported" in rejected.stderr
    (out / "en" / "stale_button.j2").write_text("That button has expired.")
    imported = escalator(db, "templates", "import", str(out))
    assert f"imported 2 changed texts ({shipped - 2} unchanged)" in imported.stdout
    assert escalator(db, "templates", "validate", "--all").returncode == 0
    listing = escalator(db, "templates", "list").stdout
    assert "edited: de" in listing and "edited: en" in listing
