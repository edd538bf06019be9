"""Typed configuration, read once at start-up from the environment (and `.env`).

Every setting is named by the environment variable that sets it. A missing or invalid value is
reported by that name (`ConfigError`), never as a traceback: see `load_settings`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.durations import parse_duration
from bot.errors import ConfigError, InvalidInput

__all__ = ["Settings", "load_settings"]

_PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """All of Escalator's settings. Field names are the environment variable names."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        frozen=True,
    )

    database_url: str = Field(
        default="sqlite:///escalator.db",
        validation_alias="DATABASE_URL",
        description="sqlite:///relative/path, sqlite:////absolute/path, or a bare file path",
    )
    timezone: str = Field(default="UTC", validation_alias="TIMEZONE")
    default_locale: str = Field(default="en", validation_alias="DEFAULT_LOCALE")
    templates_dir: Path = Field(
        default=_PROJECT_ROOT / "templates" / "messages", validation_alias="TEMPLATES_DIR"
    )
    checkin_delay: timedelta = Field(default=timedelta(days=2), validation_alias="CHECKIN_DELAY")
    scheduler_interval: float = Field(
        default=1.0, gt=0, le=3600, validation_alias="SCHEDULER_INTERVAL"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias="LOG_LEVEL"
    )

    telegram_bot_token: SecretStr | None = Field(
        default=None, validation_alias="TELEGRAM_BOT_TOKEN"
    )
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown timezone {value!r} (use an IANA name such as Europe/Berlin)"
            ) from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _sqlite_only(cls, value: str) -> str:
        if "://" in value and not value.startswith("sqlite:///"):
            raise ValueError("only SQLite is supported: use sqlite:///path/to/file.db")
        return value

    @field_validator("checkin_delay", mode="before")
    @classmethod
    def _human_duration(cls, value: object) -> object:
        if isinstance(value, str) and value.strip() and value.strip()[-1].lower() in "wdhms":
            try:
                return parse_duration(value)
            except InvalidInput as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("checkin_delay")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration, e.g. 2d, 36h or P2D")
        return value

    @property
    def database_path(self) -> Path:
        """The SQLite file in DATABASE_URL (`sqlite:///x.db` relative, `sqlite:////x` absolute)."""
        url = self.database_url
        return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else Path(url)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def has_platform(self) -> bool:
        """True when a customer platform is configured; without one the console playground runs."""
        return self.telegram_bot_token is not None


def load_settings(**overrides: object) -> Settings:
    """Read the settings once; raise `ConfigError` naming every bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]) or "settings"
            problems.append(f"{name.upper()}: {error['msg']}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None
