"""Logging set up once per process: what libraries may say at INFO, and secrets redacted.

The bot token is part of every Bot API URL (`.../bot<token>/sendMessage`), and httpx logs each
request URL at INFO; Bolt logs Slack request bodies (what customers wrote, relayed in threads);
a rejected token can come back inside an error message. So, by default:

- httpx and httpcore log only warnings and errors (their INFO is one line per API call);
- Bolt's request-body lines are dropped at any level but DEBUG;
- every record, whoever logs it and at whatever level, has the configured secrets and anything
  shaped like a Telegram bot token replaced by `[redacted]` before it is written;
- control characters in a record become visible escapes (`bot.terminal.inert`), so a value
  cannot forge or erase log lines.

Customer text is our own code's to keep out of INFO: it logs customers by id, never by what
they wrote (the staff log channel shows a notification's text at DEBUG only).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

from bot.terminal import inert

__all__ = ["Redactor", "configure_logging"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_BOT_TOKEN = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}")
_QUIET = ("httpx", "httpcore")
_BOLT = "slack_bolt"


class Redactor(logging.Filter):
    """Rewrites each record's message: secrets out, control characters escaped; drops Bolt's
    request-body lines unless DEBUG logging was asked for."""

    def __init__(self, secrets: Iterable[str], *, keep_bodies: bool) -> None:
        super().__init__()
        # longest first, so a secret containing another is replaced whole
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)
        self._keep_bodies = keep_bodies

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return _BOT_TOKEN.sub("[redacted]", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not self._keep_bodies and record.name.startswith(_BOLT):
            if "request body" in message.lower():
                return False
            if message.startswith("Unhandled request"):
                # Bolt quotes the whole request (a channel message: customer text) and advice
                message = "Unhandled request (its body is logged only at DEBUG)"
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        record.msg = inert(self.redact(message))
        record.args = None
        return True


def configure_logging(level: str, *, secrets: Iterable[str] = ()) -> Redactor:
    """Log to stderr at `level` (LOG_LEVEL), with the rules above; return the filter."""
    redactor = Redactor(secrets, keep_bodies=level == "DEBUG")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(redactor)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level))
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    return redactor
