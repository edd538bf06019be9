"""Conversions between typed values and database rows, shared by every backend.

Times are UTC epoch seconds (a float), JSON values are compact text, and a customer is the
columns of `CUSTOMER_COLUMNS`, mapped by name: `customer_from_row` reads a row selected with
exactly those columns, in that order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from bot.flows.dialogue import DialogueState
from bot.flows.model import Button, Customer, CustomerKey, HistoryEntry, Json
from bot.flows.stages import Stage

__all__ = [
    "CUSTOMER_COLUMNS",
    "CUSTOMER_LIST",
    "buttons_from_json",
    "buttons_to_json",
    "customer_from_row",
    "customer_to_row",
    "dump",
    "epoch",
    "history_from_row",
    "load_json",
    "moment",
]

CUSTOMER_COLUMNS = (
    "id",
    "channel",
    "external_id",
    "stage",
    "dialogue",
    "question_id",
    "first_name",
    "language",
    "source",
    "opted_out",
    "unreachable",
    "created_at",
    "updated_at",
    "reasks",
    "last_survey_at",
    "pending_score",
    "case_id",
    "case_claimed_by",
    "cases_opened",
    "referral_code",
    "referred_by",
    "referrals_joined",
    "referrals_converted",
    "purchases",
    "promoter_streak",
    "badges",
    "leaderboard_opt_in",
    "username",
    "conversation_id",
    "conversations_opened",
    "last_contact_at",
    "timezone",
    "contacts",
)
CUSTOMER_LIST = ", ".join(CUSTOMER_COLUMNS)
_AT = {name: index for index, name in enumerate(CUSTOMER_COLUMNS)}


def epoch(value: datetime) -> float:
    return value.timestamp()


def moment(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""`json.dumps` with these options builds an encoder per call: one, built once, is kept."""


def dump(value: Json | Mapping[str, Json]) -> str:
    if not value and isinstance(value, list | dict):
        return "[]" if isinstance(value, list) else "{}"
    return _ENCODE(value)


def load_json(text: str) -> dict[str, Json]:
    return cast(dict[str, Json], json.loads(text))


def customer_to_row(customer: Customer) -> tuple[object, ...]:
    """The values of `CUSTOMER_COLUMNS`, in that order."""
    return (
        customer.id,
        customer.key.channel,
        customer.key.external_id,
        customer.stage.value,
        customer.dialogue.value,
        customer.question_id,
        customer.first_name,
        customer.language,
        customer.source,
        int(customer.opted_out),
        int(customer.unreachable),
        epoch(customer.created_at),
        epoch(customer.updated_at),
        customer.reasks,
        None if customer.last_survey_at is None else epoch(customer.last_survey_at),
        customer.pending_score,
        customer.case_id,
        customer.case_claimed_by,
        customer.cases_opened,
        customer.referral_code,
        customer.referred_by,
        customer.referrals_joined,
        customer.referrals_converted,
        customer.purchases,
        customer.promoter_streak,
        dump(list(customer.badges)),
        int(customer.leaderboard_opt_in),
        customer.username,
        customer.conversation_id,
        customer.conversations_opened,
        None if customer.last_contact_at is None else epoch(customer.last_contact_at),
        customer.timezone,
        dump([epoch(at) for at in customer.contacts]),
    )


def customer_from_row(row: Sequence[Any], history: tuple[HistoryEntry, ...] = ()) -> Customer:
    """A customer from a row of `CUSTOMER_COLUMNS`."""
    at = _AT
    last_survey = row[at["last_survey_at"]]
    last_contact = row[at["last_contact_at"]]
    return Customer(
        key=CustomerKey(row[at["channel"]], row[at["external_id"]]),
        stage=Stage(row[at["stage"]]),
        dialogue=DialogueState(row[at["dialogue"]]),
        question_id=int(row[at["question_id"]]),
        first_name=row[at["first_name"]],
        language=row[at["language"]],
        source=row[at["source"]],
        opted_out=bool(row[at["opted_out"]]),
        unreachable=bool(row[at["unreachable"]]),
        created_at=moment(row[at["created_at"]]),
        updated_at=moment(row[at["updated_at"]]),
        reasks=int(row[at["reasks"]]),
        last_survey_at=None if last_survey is None else moment(last_survey),
        pending_score=row[at["pending_score"]],
        case_id=row[at["case_id"]],
        case_claimed_by=row[at["case_claimed_by"]],
        cases_opened=int(row[at["cases_opened"]]),
        referral_code=row[at["referral_code"]],
        referred_by=row[at["referred_by"]],
        referrals_joined=int(row[at["referrals_joined"]]),
        referrals_converted=int(row[at["referrals_converted"]]),
        purchases=int(row[at["purchases"]]),
        promoter_streak=int(row[at["promoter_streak"]]),
        badges=tuple(json.loads(row[at["badges"]])),
        leaderboard_opt_in=bool(row[at["leaderboard_opt_in"]]),
        history=history,
        username=row[at["username"]],
        conversation_id=row[at["conversation_id"]],
        conversations_opened=int(row[at["conversations_opened"]]),
        last_contact_at=None if last_contact is None else moment(last_contact),
        timezone=row[at["timezone"]],
        contacts=tuple(moment(value) for value in json.loads(row[at["contacts"]])),
    )


def history_from_row(row: Sequence[Any]) -> HistoryEntry:
    """From (at, event, from_stage, to_stage, detail)."""
    return HistoryEntry(
        at=moment(row[0]), event=row[1], from_stage=row[2], to_stage=row[3], detail=row[4]
    )


def buttons_to_json(rows: tuple[tuple[Button, ...], ...]) -> str:
    return dump(
        [
            [{"template": b.template, "data": b.data, "context": dict(b.context)} for b in row]
            for row in rows
        ]
    )


def buttons_from_json(text: str) -> tuple[tuple[Button, ...], ...]:
    rows = cast(list[list[dict[str, Any]]], json.loads(text))
    return tuple(
        tuple(Button(b["template"], b["data"], b.get("context", {})) for b in row) for row in rows
    )
