"""The one error root of Escalator and its narrow subclasses.

EscalatorError
├── ConfigError            a setting is missing or invalid (named in the message)
├── TransitionNotAllowed   a flow table has no edge for (state, trigger)
├── InvalidDefinition      a flow table is malformed (checked at import)
├── InvalidInput           an operator's input (CLI argument, duration) is not understood
├── InvariantBroken        a customer's jobs contradict their state (found by a check)
├── RenderBoundExceeded    a template tried to cost more than a message may (bot.messages.bounds;
│                          also a Jinja SecurityError, reported like the sandbox's refusals)
├── StorageError           the database refused a write or is at the wrong schema
│   ├── DatabaseInUse      another running bot holds this SQLite database
│   ├── DuplicateInbound   the event's inbound id was committed before: nothing to do
│   └── StaleCustomer      the customer changed since it was loaded: decide again
└── DeliveryError          a channel could not deliver a message
    ├── TransientDeliveryError   try again later (network, 5xx, 429)
    └── PermanentDeliveryError   do not retry (400, message rejected)
        └── RecipientUnreachable the customer blocked the bot (403)
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AlreadyPolling",
    "ConfigError",
    "DatabaseInUse",
    "DeliveryError",
    "DuplicateInbound",
    "EscalatorError",
    "InvalidDefinition",
    "InvalidInput",
    "InvariantBroken",
    "PermanentDeliveryError",
    "RecipientUnreachable",
    "StaleCustomer",
    "StorageError",
    "TransientDeliveryError",
    "TransitionNotAllowed",
]


class EscalatorError(Exception):
    """Base of every error Escalator raises on purpose."""


class ConfigError(EscalatorError):
    """Configuration is missing or invalid; the message names the variable."""


class InvalidDefinition(EscalatorError):
    """A transition table is malformed: unreachable state, dead end, unknown state."""


class TransitionNotAllowed(EscalatorError):
    def __init__(self, table: str, state: str, trigger: str) -> None:
        super().__init__(f"{table}: no transition from {state!r} on {trigger!r}")
        self.table = table
        self.state = state
        self.trigger = trigger


class InvalidInput(EscalatorError):
    """Operator input that cannot be understood; the message says what was expected."""


class InvariantBroken(EscalatorError):
    """A consistency check found jobs that contradict their customer's state."""

    def __init__(self, problems: list[str]) -> None:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"inconsistent jobs:\n  {shown}{more}")
        self.problems = problems


class StorageError(EscalatorError):
    """The database is unusable (schema too new, file not writable, ...)."""


class DatabaseInUse(StorageError):
    """A second long-running bot on one SQLite file: refused, naming the holder."""

    def __init__(self, database: Path, holder: str) -> None:
        super().__init__(
            f"the database {database} is in use by another running bot ({holder}). "
            "SQLite serves one bot process; to run more than one, use PostgreSQL "
            "(DATABASE_URL=postgresql://...)"
        )
        self.database = database
        self.holder = holder


class AlreadyPolling(StorageError):
    """A second poller on one PostgreSQL database: refused, naming the holder."""

    def __init__(self, holder: str | None) -> None:
        super().__init__(
            "another process is already polling Telegram for this database"
            f" ({holder or 'it is still starting'}). Telegram hands updates to one getUpdates "
            "consumer per bot, so polling runs in one process: stop that one, or run several "
            "with TELEGRAM_MODE=webhook (ESCALATOR_ROLE=web) behind one URL"
        )
        self.holder = holder


class DuplicateInbound(StorageError):
    """The inbound id was committed before: the event has already been handled."""


class StaleCustomer(StorageError):
    """Another writer (a second process, the CLI) changed the customer after it was loaded, so a
    decision computed from the old state must not be written."""

    def __init__(self, customer_id: str) -> None:
        super().__init__(f"customer {customer_id} changed since it was loaded")
        self.customer_id = customer_id


class DeliveryError(EscalatorError):
    """A channel failed to deliver a message."""


class TransientDeliveryError(DeliveryError):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """The platform refused the message for good; retrying would not help."""


class RecipientUnreachable(PermanentDeliveryError):
    """The recipient blocked the bot or no longer exists."""
