from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.durations import format_duration, parse_duration
from bot.errors import ConfigError, InvalidInput

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_and_database_url_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    settings = load_settings(_env_file=None)
    assert settings.database.path == Path("escalator.db")
    assert settings.checkin_delay == timedelta(days=2)
    assert not settings.has_platform
    assert load_settings(DATABASE_URL="sqlite:////var/x.db").database.path == Path("/var/x.db")
    assert load_settings(CHECKIN_DELAY="36h").checkin_delay == timedelta(hours=36)


def test_postgresql_urls_select_postgresql_and_never_show_the_password() -> None:
    for scheme in ("postgresql", "postgres"):
        settings = load_settings(DATABASE_URL=f"{scheme}://ann:s3cret@db.example:5432/shop")
        target = settings.database
        assert target.backend == "postgresql"
        assert target.dsn == "postgresql://ann:s3cret@db.example:5432/shop"
        assert str(target) == "postgresql://db.example:5432/shop"
        assert "s3cret" not in repr(target) and "s3cret" not in repr(settings)
    with pytest.raises(ConfigError) as caught:
        load_settings(DATABASE_URL="postgresql+asyncpg://ann:s3cret@db.example/shop")
    assert "is not a database URL" in str(caught.value) and "s3cret" not in str(caught.value)


def test_invalid_values_are_reported_by_name() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(TIMEZONE="Mars/Olympus", CHECKIN_DELAY="soon", DATABASE_URL="mysql://x")
    message = str(caught.value)
    assert "TIMEZONE" in message and "Mars/Olympus" in message
    assert "CHECKIN_DELAY" in message
    assert "DATABASE_URL" in message and "is not a database URL" in message


def test_bad_environment_gives_a_message_not_a_traceback(tmp_path: Path) -> None:
    env = dict(os.environ, CHECKIN_DELAY="-5m", DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "console"],
        input="",
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "CHECKIN_DELAY" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_the_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    for command in ("run", "console", "customer"):
        assert command in result.stdout


def test_durations_parse_and_format() -> None:
    assert parse_duration("2d") == timedelta(days=2)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert format_duration(timedelta(days=1, hours=2)) == "1d 2h"
    for bad in ("", "2x", "d", "5 days", "99999d"):
        with pytest.raises(InvalidInput):
            parse_duration(bad)


def test_slack_settings_are_checked_together() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(SLACK_BOT_TOKEN="xoxb-1")
    message = str(caught.value)
    assert "SLACK_ESCALATION_CHANNEL" in message and "SLACK_SIGNING_SECRET" in message
    assert "SLACK_STAFF_USERS" in message
    with pytest.raises(ConfigError, match="SLACK_ONCALL"):
        load_settings(SLACK_ONCALL="@here")
    ok = load_settings(
        SLACK_BOT_TOKEN="xoxb-1",
        SLACK_APP_TOKEN="xapp-1",
        SLACK_ESCALATION_CHANNEL="C1",
        SLACK_STAFF_USERS="U1, U2",
        SLACK_ADMIN_USERS="U9",
    )
    assert ok.staff_user_ids == frozenset({"U1", "U2", "U9"})


def test_a_web_process_takes_telegram_updates_from_its_webhook() -> None:
    token = "123456:TEST-TOKEN"
    assert load_settings().escalator_role == "all" and load_settings().work_lease == 30
    with pytest.raises(ConfigError, match=r"ESCALATOR_ROLE=web .* set TELEGRAM_MODE=webhook"):
        load_settings(TELEGRAM_BOT_TOKEN=token, ESCALATOR_ROLE="web", TELEGRAM_MODE="polling")
    worker = load_settings(TELEGRAM_BOT_TOKEN=token, ESCALATOR_ROLE="worker")
    assert worker.escalator_role == "worker"  # takes no updates: any mode
    with pytest.raises(ConfigError, match="ESCALATOR_ROLE"):
        load_settings(ESCALATOR_ROLE="cron")
    with pytest.raises(ConfigError, match="WORK_LEASE"):
        load_settings(WORK_LEASE="0")


def test_run_role_web_without_a_webhook_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from bot.cli import main

    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:TEST-TOKEN")
    monkeypatch.setenv("TELEGRAM_MODE", "polling")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 't.db'}")
    assert main(["run", "--role", "web"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("escalator: --role web: ESCALATOR_ROLE=web takes Telegram's updates")
    assert "Traceback" not in error and not (tmp_path / "t.db").exists()
