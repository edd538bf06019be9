"""Customer lists as a spreadsheet opens them: CSV in UTF-8 with a byte order mark (Excel reads
UTF-8 only with it; LibreOffice and Google Sheets accept it), a header row, and every text cell
neutralised against formula injection.

A cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return is taken by spreadsheets
as a formula (`=HYPERLINK(...)`, `@SUM(...)`, DDE payloads); such a cell gets a leading `'`, which
spreadsheets show as text and never evaluate (the OWASP recommendation). Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from bot.storage.types import CustomerRecord

__all__ = ["BOM", "COLUMNS", "csv_text", "neutral", "record_row"]

BOM = "\ufeff"
COLUMNS = (
    "id",
    "name",
    "username",
    "stage",
    "source",
    "last_score",
    "scale",
    "last_comment",
    "purchases",
    "revenue",
    "referrals_gen1",
    "referrals_gen2",
    "referrals_gen3",
    "badges",
    "last_contact",
    "open_case",
)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def neutral(value: object) -> object:
    """A text cell that a spreadsheet will show, never run."""
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def record_row(record: CustomerRecord) -> list[object]:
    return [
        record.id,
        record.name or "",
        record.username or "",
        record.stage,
        record.source or "",
        "" if record.last_score is None else record.last_score,
        record.last_scale or "",
        record.last_comment or "",
        record.purchases,
        "" if record.revenue is None else round(record.revenue, 2),
        *record.generations,
        "; ".join(record.badges),
        "" if record.last_contact_at is None else f"{record.last_contact_at:%Y-%m-%d %H:%M}",
        record.case_id or "",
    ]


def csv_text(records: Sequence[CustomerRecord]) -> str:
    """The whole file, BOM first, CRLF line ends (RFC 4180)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for record in records:
        writer.writerow([neutral(value) for value in record_row(record)])
    return BOM + out.getvalue()
