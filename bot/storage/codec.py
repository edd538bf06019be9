"""Conversions between typed values and SQLite rows (times are UTC epoch seconds)."""

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
    "CUSTOMER_FIELDS",
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
    "id, channel, external_id, stage, dialogue, question_id, first_name, language, source, "
    "opted_out, unreachable, created_at, updated_at, reasks, last_survey_at, pending_score, "
    "case_id, case_claimed_by, cases_opened, referral_code, referred_by, referrals_joined, "
    "referrals_converted, purchases, promoter_streak, badges, leaderboard_opt_in"
)
CUSTOMER_FIELDS = len(CUSTOMER_COLUMNS.split(","))


def epoch(value: datetime) -> float:
    return value.timestamp()


def moment(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def dump(value: Json | Mapping[str, Json]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def load_json(text: str) -> dict[str, Json]:
    return cast(dict[str, Json], json.loads(text))


def customer_to_row(customer: Customer) -> tuple[object, ...]:
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
    )


def customer_from_row(row: Sequence[Any], history: tuple[HistoryEntry, ...] = ()) -> Customer:
    return Customer(
        key=CustomerKey(row[1], row[2]),
        stage=Stage(row[3]),
        dialogue=DialogueState(row[4]),
        question_id=int(row[5]),
        first_name=row[6],
        language=row[7],
        source=row[8],
        opted_out=bool(row[9]),
        unreachable=bool(row[10]),
        created_at=moment(row[11]),
        updated_at=moment(row[12]),
        reasks=int(row[13]),
        last_survey_at=None if row[14] is None else moment(row[14]),
        pending_score=row[15],
        case_id=row[16],
        case_claimed_by=row[17],
        cases_opened=int(row[18]),
        referral_code=row[19],
        referred_by=row[20],
        referrals_joined=int(row[21]),
        referrals_converted=int(row[22]),
        purchases=int(row[23]),
        promoter_streak=int(row[24]),
        badges=tuple(json.loads(row[25])),
        leaderboard_opt_in=bool(row[26]),
        history=history,
    )


def history_from_row(row: Sequence[Any]) -> HistoryEntry:
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
