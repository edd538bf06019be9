"""The one error root of Escalator and its narrow subclasses.

EscalatorError
├── ConfigError            a setting is missing or invalid (named in the message)
├── TransitionNotAllowed   a flow table has no edge for (state, trigger)
├── InvalidDefinition      a flow table is malformed (checked at import)
├── InvalidInput           an operator's input (CLI argument, duration) is not understood
├── StorageError           the database refused a write or is at the wrong schema
└── DeliveryError          a channel could not deliver a message
    ├── TransientDeliveryError   try again later (network, 5xx, 429)
    └── PermanentDeliveryError   do not retry (400, message rejected)
        └── RecipientUnreachable the customer blocked the bot (403)
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DeliveryError",
    "EscalatorError",
    "InvalidDefinition",
    "InvalidInput",
    "PermanentDeliveryError",
    "RecipientUnreachable",
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


class StorageError(EscalatorError):
    """The database is unusable (schema too new, file not writable, ...)."""


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
