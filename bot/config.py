"""Typed configuration, read once at start-up from the environment (and `.env`).

Every setting is named by the environment variable that sets it. A missing or invalid value is
reported by that name (`ConfigError`), never as a traceback: see `load_settings`.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.durations import parse_duration
from bot.errors import ConfigError, InvalidInput
from bot.flows.contact import ContactRules, parse_budget, parse_quiet_hours, parse_zones
from bot.flows.hours import BusinessHours, parse_business_hours
from bot.flows.policy import DEFAULT_RULES, DEFAULT_TRIGGERS, Rule
from bot.passwords import parse_hash
from bot.storage.url import DatabaseUrl, parse_database_url

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
        repr=False,  # it may hold a password
        description=(
            "sqlite:///relative/path.db, sqlite:////absolute/path.db, "
            "or postgresql://user:password@host:5432/database (also postgres://)"
        ),
    )
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL",
        validation_alias="SQLITE_SYNCHRONOUS",
        description="FULL: a commit survives a power loss; NORMAL: only a crash of the process",
    )
    timezone: str = Field(default="UTC", validation_alias="TIMEZONE")
    default_locale: str = Field(default="en", validation_alias="DEFAULT_LOCALE")
    templates_dir: Path = Field(
        default=_PROJECT_ROOT / "templates" / "messages", validation_alias="TEMPLATES_DIR"
    )
    checkin_delay: timedelta = Field(default=timedelta(days=2), validation_alias="CHECKIN_DELAY")
    post_purchase_checkin: timedelta = Field(
        default=timedelta(days=3), validation_alias="POST_PURCHASE_CHECKIN"
    )
    periodic_checkin: timedelta = Field(
        default=timedelta(days=30), validation_alias="PERIODIC_CHECKIN"
    )
    survey_scale: Literal["nps", "csat"] = Field(default="nps", validation_alias="SURVEY_SCALE")
    survey_throttle: timedelta = Field(
        default=timedelta(days=30), validation_alias="SURVEY_THROTTLE"
    )
    recovery_delay: timedelta = Field(default=timedelta(days=1), validation_alias="RECOVERY_DELAY")
    escalation_triggers: str = Field(
        default=",".join(DEFAULT_TRIGGERS), validation_alias="ESCALATION_TRIGGERS"
    )
    referral_secret: SecretStr | None = Field(default=None, validation_alias="REFERRAL_SECRET")
    advocate_on: Literal["join", "conversion"] = Field(
        default="join", validation_alias="ADVOCATE_ON"
    )
    recognition_rules_file: Path | None = Field(default=None, validation_alias="RECOGNITION_RULES")
    template_refresh: float = Field(
        default=2.0,
        ge=0,
        le=300,
        validation_alias="TEMPLATE_REFRESH",
        description="seconds between checks for new template versions",
    )
    scheduler_interval: float = Field(
        default=1.0, gt=0, le=3600, validation_alias="SCHEDULER_INTERVAL"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias="LOG_LEVEL"
    )

    telegram_bot_token: SecretStr | None = Field(
        default=None, validation_alias="TELEGRAM_BOT_TOKEN"
    )
    bot_username: str = Field(
        default="escalator_bot",
        validation_alias="BOT_USERNAME",
        description="used in referral links when Telegram has not told us (the playground)",
    )
    telegram_api_base_url: str = Field(
        default="https://api.telegram.org/bot", validation_alias="TELEGRAM_API_BASE_URL"
    )
    telegram_api_base_file_url: str | None = Field(
        default=None, validation_alias="TELEGRAM_API_BASE_FILE_URL"
    )
    telegram_mode: Literal["polling", "webhook"] = Field(
        default="polling", validation_alias="TELEGRAM_MODE"
    )
    telegram_webhook_url: str | None = Field(default=None, validation_alias="TELEGRAM_WEBHOOK_URL")
    telegram_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias="TELEGRAM_WEBHOOK_SECRET"
    )
    telegram_rate_overall: float = Field(
        default=30.0, gt=0, validation_alias="TELEGRAM_RATE_OVERALL"
    )
    telegram_rate_per_chat: float = Field(
        default=1.0, gt=0, validation_alias="TELEGRAM_RATE_PER_CHAT"
    )
    host: str = Field(default="0.0.0.0", validation_alias="HOST")  # noqa: S104 - a server's bind
    port: int = Field(default=8080, ge=1, le=65535, validation_alias="PORT")
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias="SLACK_SIGNING_SECRET"
    )
    slack_api_base_url: str = Field(
        default="https://slack.com/api/", validation_alias="SLACK_API_BASE_URL"
    )
    slack_escalation_channel: str | None = Field(
        default=None, validation_alias="SLACK_ESCALATION_CHANNEL"
    )
    slack_staff_users: str = Field(default="", validation_alias="SLACK_STAFF_USERS")
    slack_staff_group: str | None = Field(default=None, validation_alias="SLACK_STAFF_GROUP")
    slack_admin_users: str = Field(default="", validation_alias="SLACK_ADMIN_USERS")
    slack_oncall: str | None = Field(default=None, validation_alias="SLACK_ONCALL")
    escalation_sla: timedelta = Field(
        default=timedelta(minutes=30), validation_alias="ESCALATION_SLA"
    )
    business_hours: str | None = Field(
        default=None,
        validation_alias="BUSINESS_HOURS",
        description="when staff answer, e.g. 'mon-fri 09:00-18:00 Europe/Berlin'",
    )
    inbox_autoclose: timedelta = Field(
        default=timedelta(days=2), validation_alias="INBOX_AUTOCLOSE"
    )
    slack_inbox_channel: str | None = Field(default=None, validation_alias="SLACK_INBOX_CHANNEL")
    slack_thread_default: Literal["customer", "note"] = Field(
        default="customer",
        validation_alias="SLACK_THREAD_DEFAULT",
        description="where a staff reply in a thread goes unless it starts with send: or note:",
    )
    # --- the shop: order webhooks, linking a chat to the shop's customer -----------------------
    shopify_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias="SHOPIFY_WEBHOOK_SECRET"
    )
    woocommerce_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias="WOOCOMMERCE_WEBHOOK_SECRET"
    )
    purchases_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias="PURCHASES_WEBHOOK_SECRET"
    )
    shop_link_secret: SecretStr | None = Field(
        default=None,
        validation_alias="SHOP_LINK_SECRET",
        description="signs link tokens; generated per database when unset",
    )
    shop_phone_country: str | None = Field(
        default=None,
        validation_alias="SHOP_PHONE_COUNTRY",
        description="calling code for phone numbers written without one, e.g. 49",
    )
    referral_reward_delay: timedelta = Field(
        default=timedelta(0), validation_alias="REFERRAL_REWARD_DELAY"
    )
    order_reversal_follow_up: Literal["both", "customer", "staff", "none"] = Field(
        default="both", validation_alias="ORDER_REVERSAL_FOLLOW_UP"
    )

    @field_validator("business_hours")
    @classmethod
    def _business_hours(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parse_business_hours(value)  # a ValueError says what is wrong
        return value.strip()

    @field_validator("inbox_autoclose", "campaign_attribution", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        if isinstance(value, str) and value.strip() and value.strip()[-1].lower() in "wdhms":
            try:
                return parse_duration(value)
            except InvalidInput as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("inbox_autoclose")
    @classmethod
    def _autoclose_positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration, e.g. 2d, 36h or P2D")
        return value

    def hours(self) -> BusinessHours | None:
        """BUSINESS_HOURS, read (a time zone left out is TIMEZONE's)."""
        if self.business_hours is None:
            return None
        return parse_business_hours(self.business_hours, self.timezone)

    @property
    def inbox_channel(self) -> str | None:
        """Where conversations go: SLACK_INBOX_CHANNEL, else the escalation channel."""
        return self.slack_inbox_channel or self.slack_escalation_channel

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
    def _database_url(cls, value: str) -> str:
        parse_database_url(value)  # a ValueError names what is accepted
        return value.strip()

    @field_validator(
        "checkin_delay",
        "post_purchase_checkin",
        "periodic_checkin",
        "survey_throttle",
        "recovery_delay",
        "escalation_sla",
        "referral_reward_delay",
        mode="before",
    )
    @classmethod
    def _human_duration(cls, value: object) -> object:
        if isinstance(value, str) and value.strip() and value.strip()[-1].lower() in "wdhms":
            try:
                return parse_duration(value)
            except InvalidInput as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("checkin_delay", "post_purchase_checkin", "periodic_checkin", "recovery_delay")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration, e.g. 2d, 36h or P2D")
        return value

    @field_validator(
        "shopify_webhook_secret",
        "woocommerce_webhook_secret",
        "purchases_webhook_secret",
        "shop_link_secret",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `SHOPIFY_WEBHOOK_SECRET=` in a .env file means "no Shopify", not an empty key
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("referral_reward_delay")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("must not be negative (0 rewards at once; e.g. 14d)")
        return value

    @field_validator("shop_phone_country")
    @classmethod
    def _calling_code(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        code = value.strip().removeprefix("+")
        if not (code.isdigit() and 1 <= len(code) <= 3 and not code.startswith("0")):
            raise ValueError("must be a country calling code: 1 to 3 digits, e.g. 49 or 1")
        return code

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _secret_alphabet(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _SECRET.match(value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @model_validator(mode="after")
    def _webhook_needs_url_and_secret(self) -> Settings:
        if self.telegram_bot_token is not None and self.telegram_mode == "webhook":
            missing = [
                name
                for name, value in (
                    ("TELEGRAM_WEBHOOK_URL", self.telegram_webhook_url),
                    ("TELEGRAM_WEBHOOK_SECRET", self.telegram_webhook_secret),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"TELEGRAM_MODE=webhook needs {' and '.join(missing)}")
        problem = role_problem(self)
        if problem is not None:
            raise ValueError(problem)
        return self

    @field_validator("slack_oncall")
    @classmethod
    def _slack_id(cls, value: str | None) -> str | None:
        if value and not re.match(r"^[UWS][A-Z0-9]{2,20}$", value.strip()):
            raise ValueError("must be a Slack user id (U…) or user group id (S…)")
        return value.strip() if value else None

    @model_validator(mode="after")
    def _slack_is_complete(self) -> Settings:
        if self.slack_bot_token is None:
            return self
        missing = []
        if not self.slack_escalation_channel:
            missing.append("SLACK_ESCALATION_CHANNEL")
        if self.slack_app_token is None and self.slack_signing_secret is None:
            missing.append("SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode)")
        if not (self.staff_user_ids or self.slack_staff_group):
            missing.append("SLACK_STAFF_USERS or SLACK_STAFF_GROUP")
        if missing:
            raise ValueError(f"SLACK_BOT_TOKEN is set, so Slack also needs {', '.join(missing)}")
        return self

    @field_validator("recognition_rules_file")
    @classmethod
    def _rules_parse(cls, value: Path | None) -> Path | None:
        if value is not None:
            _load_rules(value)  # reported at start-up, by name, if unreadable or invalid
        return value

    def recognition_rules(self) -> tuple[Rule, ...]:
        if self.recognition_rules_file is None:
            return DEFAULT_RULES
        return _load_rules(self.recognition_rules_file)

    def secrets(self) -> list[str]:
        """Every secret value set, so that logging can keep them out of every line."""
        values = (
            self.telegram_bot_token,
            self.telegram_webhook_secret,
            self.slack_bot_token,
            self.slack_app_token,
            self.slack_signing_secret,
            self.referral_secret,
            self.shopify_webhook_secret,
            self.woocommerce_webhook_secret,
            self.purchases_webhook_secret,
            self.shop_link_secret,
        )
        return [value.get_secret_value() for value in values if value is not None]

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None

    @property
    def staff_user_ids(self) -> frozenset[str]:
        return _ids(self.slack_staff_users) | self.admin_user_ids

    @property
    def admin_user_ids(self) -> frozenset[str]:
        return _ids(self.slack_admin_users)

    @property
    def telegram_base_url(self) -> str:
        """PTB's base URL (the token is appended): a server root gets `/bot` added."""
        return _bot_url(self.telegram_api_base_url, "bot")

    @property
    def telegram_base_file_url(self) -> str:
        if self.telegram_api_base_file_url:
            return _bot_url(self.telegram_api_base_file_url, "file/bot")
        root = self.telegram_base_url.removesuffix("/bot")
        return f"{root}/file/bot"

    @property
    def telegram_webhook_path(self) -> str:
        """The path of TELEGRAM_WEBHOOK_URL, where the web server accepts updates."""
        path = urlsplit(self.telegram_webhook_url or "").path
        return path if path not in {"", "/"} else "/telegram/webhook"

    @property
    def database(self) -> DatabaseUrl:
        return parse_database_url(self.database_url)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def shop_webhooks(self) -> bool:
        """A shop sends its orders: the web server runs for its webhooks, in polling mode too."""
        return any(
            secret is not None
            for secret in (
                self.shopify_webhook_secret,
                self.woocommerce_webhook_secret,
                self.purchases_webhook_secret,
            )
        )

    @property
    def has_platform(self) -> bool:
        """True when a customer platform is configured; without one the console playground runs."""
        return self.telegram_bot_token is not None

    # --- delivery and shutdown ----------------------------------------------------------
    telegram_reply_rate: float = Field(
        default=1000.0,
        gt=0,
        validation_alias="TELEGRAM_REPLY_RATE",
        description="replies per second to Telegram, all chats together (a ceiling, not a budget)",
    )
    escalator_role: Literal["all", "web", "worker"] = Field(
        default="all",
        validation_alias="ESCALATOR_ROLE",
        description=(
            "what `escalator run` does: all (one process does everything), web (takes updates "
            "from Telegram's webhook, Slack and the shop, and answers them; any number behind "
            "one URL) or worker (only delivers messages and runs jobs); several processes need "
            "PostgreSQL"
        ),
    )
    work_lease: float = Field(
        default=30.0,
        ge=1,
        le=3600,
        validation_alias="WORK_LEASE",
        description=(
            "seconds a claimed message, job or update stays with the process that took it "
            "(renewed while it works on it): how long the work of a process that died waits "
            "before another takes it over"
        ),
    )
    shutdown_grace: float = Field(
        default=5.0,
        ge=0,
        le=300,
        validation_alias="SHUTDOWN_GRACE",
        description="seconds SIGTERM waits for sends already on their way before exiting",
    )

    # --- the admin dashboard (/admin on PORT) ------------------------------------------------
    admin_password_hash: SecretStr | None = Field(
        default=None,
        validation_alias="ADMIN_PASSWORD_HASH",
        description=(
            "the password of the account `admin` (an editor), as `escalator admin hash` prints "
            "it; the dashboard is on when this is set or accounts exist (`escalator admin add`)"
        ),
    )
    admin_session_ttl: timedelta = Field(
        default=timedelta(hours=12),
        validation_alias="ADMIN_SESSION_TTL",
        description="how long a sign-in lasts, e.g. 12h or 30m",
    )
    admin_login_attempts: int = Field(
        default=5,
        ge=1,
        le=100,
        validation_alias="ADMIN_LOGIN_ATTEMPTS",
        description="failed sign-ins from one address, or for one account, before more wait",
    )
    admin_login_window: timedelta = Field(
        default=timedelta(minutes=15),
        validation_alias="ADMIN_LOGIN_WINDOW",
        description="the period ADMIN_LOGIN_ATTEMPTS counts over, e.g. 15m",
    )
    admin_trust_proxy: bool = Field(
        default=False,
        validation_alias="ADMIN_TRUST_PROXY",
        description=(
            "behind a reverse proxy (Heroku's router, nginx): the client's address is the last "
            "X-Forwarded-For entry; leave off when clients reach the bot directly"
        ),
    )

    # --- unprompted messages: the contact budget, quiet hours, campaigns ----------------------
    contact_budget: str = Field(
        default="3/7d",
        validation_alias="CONTACT_BUDGET",
        description=(
            "unprompted messages (check-ins, surveys, nurture, campaigns) per customer per "
            "period, e.g. 3/7d; replies do not count"
        ),
    )
    quiet_hours: str = Field(
        default="21:00-09:00",
        validation_alias="QUIET_HOURS",
        description="no unprompted message in this span of the customer's local time; off: none",
    )
    default_timezones: str = Field(
        default="",
        validation_alias="DEFAULT_TIMEZONES",
        description=(
            "the time zone of customers by language, e.g. de=Europe/Berlin,en=Europe/London "
            "(others: TIMEZONE)"
        ),
    )
    campaign_attribution: timedelta = Field(
        default=timedelta(days=7),
        validation_alias="CAMPAIGN_ATTRIBUTION",
        description="purchases and referrals this long after a campaign message count for it",
    )

    @field_validator("contact_budget", "quiet_hours", "default_timezones")
    @classmethod
    def _contact_rule(cls, value: str, info: ValidationInfo) -> str:
        parse = {
            "contact_budget": parse_budget,
            "quiet_hours": parse_quiet_hours,
            "default_timezones": parse_zones,
        }[info.field_name or ""]
        try:
            parse(value)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None
        return value.strip()

    def contact_rules(self) -> ContactRules:
        count, window = parse_budget(self.contact_budget)
        return ContactRules(
            budget=count,
            window=window,
            quiet=parse_quiet_hours(self.quiet_hours),
            default_zones=parse_zones(self.default_timezones),
            fallback_zone=self.timezone,
        )

    @field_validator("admin_password_hash", mode="before")
    @classmethod
    def _admin_hash(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                return None  # `ADMIN_PASSWORD_HASH=` in a .env file: no such account
            parse_hash(value)  # a ValueError says what is wrong, never the value
            return value.strip()
        return value

    @field_validator("admin_session_ttl", "admin_login_window", mode="before")
    @classmethod
    def _admin_duration(cls, value: object) -> object:
        if isinstance(value, str) and value.strip() and value.strip()[-1].lower() in "wdhms":
            try:
                return parse_duration(value)
            except InvalidInput as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("admin_session_ttl", "admin_login_window")
    @classmethod
    def _admin_positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration, e.g. 12h or 15m")
        return value


_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def role_problem(settings: Settings) -> str | None:
    """Why the process role does not fit the other settings, or None."""
    if (
        settings.telegram_bot_token is not None
        and settings.escalator_role == "web"
        and settings.telegram_mode != "webhook"
    ):
        return (
            "ESCALATOR_ROLE=web takes Telegram's updates from its webhook: "
            "set TELEGRAM_MODE=webhook (polling is for a single process, ESCALATOR_ROLE=all)"
        )
    return None


class _RuleModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    badge: str = Field(min_length=1, max_length=80)
    template: str = Field(default="badge_awarded", pattern=r"^[a-z0-9_]+$")
    metric: Literal["converted_referrals", "joined_referrals", "promoter_streak"] | None = None
    at_least: int = Field(default=1, ge=1)
    stage: Literal["ambassador"] | None = None


def _load_rules(path: Path) -> tuple[Rule, ...]:
    """Rules from a JSON file: a list of {badge, metric, at_least, template, stage}."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        models = [_RuleModel.model_validate(item) for item in raw]
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path} is not a valid rules file: {exc}") from None
    return tuple(Rule(**model.model_dump()) for model in models)


def _ids(text: str) -> frozenset[str]:
    return frozenset(part.strip() for part in text.split(",") if part.strip())


def _bot_url(url: str, suffix: str) -> str:
    url = url.strip().rstrip("/")
    if "{token}" in url or url.endswith("/" + suffix):
        return url
    return f"{url}/{suffix}"


def load_settings(**overrides: object) -> Settings:
    """Read the settings once; raise `ConfigError` naming every bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]).upper()
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{name}: {message}" if name else message)
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None
