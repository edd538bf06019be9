"""Segments: named sets of customers, defined by rules that are data (JSON), never SQL.

A rule is a JSON object. Each key names a field, and its value is either a plain value (equals)
or an object of operators; several keys must all hold:

    {"score_group": "promoter", "referrals_made": 0}
    {"stage": {"in": ["captured", "engaged"]}, "days_since_capture": {"gte": 3}}
    {"any": [{"tag": "vip"}, {"revenue": {"gte": 500}}], "not": {"case_open": true}}

`all`, `any` (lists of rules) and `not` (one rule) combine rules. The fields, their types and
operators are in `FIELDS`; `parse` checks a rule against them and returns a typed tree, or
raises `InvalidRule` with a message that says what is wrong and where. Storage compiles the
tree to a parameterised query (`bot.storage.segment_sql`): values are always parameters.

Limits keep a rule cheap to check and to run: at most `MAX_CONDITIONS` conditions, nested at
most `MAX_DEPTH` deep, lists of at most `MAX_LIST` values, strings of at most `MAX_TEXT`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

from bot.errors import InvalidInput
from bot.flows.stages import Stage

__all__ = [
    "FIELDS",
    "MAX_CONDITIONS",
    "NAME",
    "All",
    "Any",
    "Condition",
    "FieldSpec",
    "InvalidRule",
    "Kind",
    "Not",
    "Rule",
    "check_name",
    "check_tag",
    "parse",
    "parse_text",
]

MAX_CONDITIONS = 50
MAX_DEPTH = 6
MAX_LIST = 100
MAX_TEXT = 200
MAX_RULE_TEXT = 10_000
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class InvalidRule(InvalidInput):
    """A segment rule that cannot be used; the message says where and why."""


class Kind(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    FLAG = "flag"
    SET = "set"
    """A customer holds several values (badges, tags): `has`, `has_any`, `has_none`."""


_OPERATORS: dict[Kind, frozenset[str]] = {
    Kind.TEXT: frozenset({"eq", "ne", "in", "not_in", "starts_with", "exists"}),
    Kind.NUMBER: frozenset({"eq", "ne", "gt", "gte", "lt", "lte", "exists"}),
    Kind.FLAG: frozenset({"eq"}),
    Kind.SET: frozenset({"has", "has_any", "has_none"}),
}


@dataclass(frozen=True)
class FieldSpec:
    kind: Kind
    help: str
    choices: tuple[str, ...] = ()


_STAGES = tuple(stage.value for stage in Stage)

FIELDS: dict[str, FieldSpec] = {
    "stage": FieldSpec(Kind.TEXT, "the escalator stage", _STAGES),
    "last_score": FieldSpec(Kind.NUMBER, "the last rating given (on SURVEY_SCALE)"),
    "score_group": FieldSpec(
        Kind.TEXT, "group of the last rating", ("promoter", "passive", "detractor")
    ),
    "source": FieldSpec(Kind.TEXT, "the /start payload they came with (a campaign)"),
    "purchases": FieldSpec(Kind.NUMBER, "purchases recorded"),
    "revenue": FieldSpec(Kind.NUMBER, "sum of their recorded purchase amounts"),
    "days_since_purchase": FieldSpec(Kind.NUMBER, "days since the last purchase"),
    "days_since_contact": FieldSpec(Kind.NUMBER, "days since they last wrote or pressed"),
    "days_since_capture": FieldSpec(Kind.NUMBER, "days since they started the bot"),
    "language": FieldSpec(Kind.TEXT, "their language code (en, de, ...)"),
    "badge": FieldSpec(Kind.SET, "badges awarded"),
    "referred_by": FieldSpec(Kind.TEXT, "the customer id who referred them"),
    "referrals_made": FieldSpec(Kind.NUMBER, "friends who joined through their link"),
    "referrals_converted": FieldSpec(Kind.NUMBER, "of those, friends who bought"),
    "case_open": FieldSpec(Kind.FLAG, "a complaint (case) is open"),
    "stopped": FieldSpec(Kind.FLAG, "they sent /stop"),
    "tag": FieldSpec(Kind.SET, "tags staff put on them (/escalator tag)"),
}

Value: TypeAlias = str | int | float | bool | tuple[str, ...] | tuple[float, ...]


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Value


@dataclass(frozen=True)
class All:
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Any:
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Not:
    rule: Rule


Rule: TypeAlias = Condition | All | Any | Not


def check_name(name: str, what: str = "segment") -> str:
    """A segment's (or a campaign's, `what`) name: safe in a command line and a Slack view."""
    if not NAME.match(name):
        raise InvalidRule(
            f"{what} name {name!r}: use 1-63 lower-case letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return name


def check_tag(tag: str) -> str:
    """A staff tag, as stored: lower case; the same alphabet as segment names."""
    value = tag.strip().lower()
    if not NAME.match(value):
        raise InvalidRule(
            f"tag {tag!r}: use 1-63 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return value


def parse_text(text: str) -> Rule:
    """A rule from its JSON text."""
    if len(text) > MAX_RULE_TEXT:
        raise InvalidRule(f"the rule is {len(text)} characters; at most {MAX_RULE_TEXT}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRule(
            f"the rule is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    return parse(data)


def parse(data: object) -> Rule:
    counter = [0]
    rule = _rule(data, "rule", 0, counter)
    return rule


def _rule(data: object, where: str, depth: int, counter: list[int]) -> Rule:
    if depth > MAX_DEPTH:
        raise InvalidRule(f"{where}: nested more than {MAX_DEPTH} deep")
    if not isinstance(data, dict) or not data:
        raise InvalidRule(
            f'{where}: expected a JSON object of conditions, like {{"stage": "customer"}}'
        )
    parts: list[Rule] = []
    for key, value in data.items():
        here = f"{where}.{key}"
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                raise InvalidRule(f"{here}: expected a non-empty list of rules")
            inner = tuple(
                _rule(item, f"{here}[{n}]", depth + 1, counter) for n, item in enumerate(value)
            )
            parts.append(All(inner) if key == "all" else Any(inner))
        elif key == "not":
            parts.append(Not(_rule(value, here, depth + 1, counter)))
        elif key in FIELDS:
            parts.extend(_conditions(key, value, here, counter))
        else:
            raise InvalidRule(
                f"{here}: unknown field {key!r} (fields: {', '.join(FIELDS)}; "
                "combine with all, any, not)"
            )
    return parts[0] if len(parts) == 1 else All(tuple(parts))


def _conditions(name: str, value: object, where: str, counter: list[int]) -> list[Condition]:
    spec = FIELDS[name]
    if isinstance(value, dict):
        if not value:
            raise InvalidRule(f"{where}: expected at least one operator")
        pairs = list(value.items())
    else:
        pairs = [("has" if spec.kind is Kind.SET else "eq", value)]
    found = []
    for op, operand in pairs:
        counter[0] += 1
        if counter[0] > MAX_CONDITIONS:
            raise InvalidRule(f"more than {MAX_CONDITIONS} conditions in one rule")
        allowed = _OPERATORS[spec.kind]
        if op not in allowed:
            raise InvalidRule(
                f"{where}: operator {op!r} does not apply to {name} "
                f"(use {', '.join(sorted(allowed))})"
            )
        found.append(Condition(name, op, _operand(spec, name, op, operand, where)))
    return found


def _operand(spec: FieldSpec, name: str, op: str, value: object, where: str) -> Value:
    if op == "exists" or spec.kind is Kind.FLAG:
        if not isinstance(value, bool):
            raise InvalidRule(f"{where}: {op} takes true or false, not {json.dumps(value)}")
        return value
    if op in ("in", "not_in", "has_any", "has_none"):
        if not isinstance(value, list) or not value or len(value) > MAX_LIST:
            raise InvalidRule(f"{where}: {op} takes a list of 1 to {MAX_LIST} values")
        return tuple(_text(spec, name, item, where) for item in value)
    if spec.kind is Kind.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidRule(f"{where}: {name} is a number, not {json.dumps(value)}")
        if value != value or value in (float("inf"), float("-inf")):  # NaN, infinities
            raise InvalidRule(f"{where}: {name} must be a finite number")
        return value
    return _text(spec, name, value, where)


def _text(spec: FieldSpec, name: str, value: object, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
        raise InvalidRule(f"{where}: {name} takes text of 1 to {MAX_TEXT} characters")
    if spec.choices and value not in spec.choices:
        raise InvalidRule(f"{where}: {value!r} is not a {name} (one of: {', '.join(spec.choices)})")
    return value
