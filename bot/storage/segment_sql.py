"""Segment rules (`bot.flows.segments`) compiled to a parameterised SQL condition over
`customers AS c`, the same for both backends but for how a parameter is written.

Nothing of a rule reaches the SQL text but field names looked up in fixed tables and operators
chosen from fixed sets; every value is a parameter. `ne` and `not_in` include customers without
a value (a customer with no language is "not en"); a `days_since_*` comparison never matches a
customer who has no such moment (never bought), but its `ne` and `exists: false` do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from bot.flows.policy import ScoreGroup, group_scores
from bot.flows.segments import All, Any, Condition, Not, Rule

__all__ = ["Compiled", "Dialect", "compile_rule"]

ParamType = Literal["text", "num", "int"]


@dataclass
class Dialect:
    """How the n-th parameter is written: `?` (SQLite) or `$n::type` (PostgreSQL); and how a
    column is named so that no index is used for it (`scan`)."""

    mark: Callable[[int, ParamType], str]
    scan: Callable[[str], str] = lambda column: column


# SQLite keeps no histogram, so it guesses that a range or an IN on an indexed column is
# selective; for a segment over a stage or "captured more than 30 days ago" (most customers) an
# index walk with a row lookup each costs many times a plain scan. A unary `+` keeps those terms
# off their indexes; PostgreSQL's planner has the statistics to choose by itself.
SQLITE = Dialect(lambda n, kind: "?", lambda column: "+" + column)
POSTGRES = Dialect(
    lambda n, kind: f"${n}::" + {"text": "text", "num": "float8", "int": "int"}[kind]
)
_UNSELECTIVE = frozenset(
    {
        "stage",
        "language",
        "purchases",
        "referrals_made",
        "referrals_converted",
        "days_since_contact",
        "days_since_capture",
    }
)
"""Fields whose conditions usually hold for a large share of customers: scanned, not looked up
through an index (on SQLite)."""

DAY = 86_400.0

_COLUMNS: dict[str, str] = {
    "stage": "c.stage",
    "source": "c.source",
    "language": "c.language",
    "referred_by": "c.referred_by",
    "purchases": "c.purchases",
    "referrals_made": "c.referrals_joined",
    "referrals_converted": "c.referrals_converted",
    "revenue": "(SELECT coalesce(sum(p.amount), 0) FROM purchases p WHERE p.customer_id = c.id)",
}
_MOMENTS: dict[str, str] = {
    "days_since_purchase": "(SELECT max(p.at) FROM purchases p WHERE p.customer_id = c.id)",
    "days_since_contact": "c.last_contact_at",
    "days_since_capture": "c.created_at",
}
_SETS: dict[str, tuple[str, str, str]] = {
    "badge": ("badges", "b", "badge"),
    "tag": ("customer_tags", "t", "tag"),
}
_COMPARE = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_MIRROR = {"gt": "<", "gte": "<=", "lt": ">", "lte": ">="}
"""`days since` an instant compares the other way round with the instant itself."""


@dataclass
class Compiled:
    """A condition over `customers AS c` and its parameters, in order."""

    dialect: Dialect
    now: float
    scale: str
    start: int = 1
    params: list[object] = field(default_factory=list)

    def mark(self, value: object, kind: ParamType) -> str:
        self.params.append(value)
        return self.dialect.mark(self.start + len(self.params) - 1, kind)


def compile_rule(
    rule: Rule, dialect: Dialect, now: datetime, scale: str, start: int = 1
) -> tuple[str, list[object]]:
    """The SQL condition for `rule` at `now` (for `days_since_*`), for ratings on `scale`;
    PostgreSQL parameters are numbered from `start`."""
    out = Compiled(dialect, now.timestamp(), scale, start)
    return _rule(rule, out), out.params


def _rule(rule: Rule, out: Compiled) -> str:
    match rule:
        case All(rules=rules):
            return "(" + " AND ".join(_rule(r, out) for r in rules) + ")"
        case Any(rules=rules):
            return "(" + " OR ".join(_rule(r, out) for r in rules) + ")"
        case Not(rule=inner):
            return _negated(_rule(inner, out))
        case Condition():
            return _condition(rule, out)
    raise AssertionError(rule)  # pragma: no cover


def _negated(sql: str) -> str:
    return f"(NOT (({sql}) IS TRUE))"


def _condition(cond: Condition, out: Compiled) -> str:
    name, op, value = cond.field, cond.op, cond.value
    if name in _SETS:
        return _set(cond, out)
    if name == "case_open":
        return "(c.case_id IS NOT NULL)" if value else "(c.case_id IS NULL)"
    if name == "stopped":
        return "(c.opted_out <> 0)" if value else "(c.opted_out = 0)"
    if name in ("last_score", "score_group"):
        guard = f"c.last_scale = {out.mark(out.scale, 'text')}"
        if op == "exists":
            return f"({guard} AND c.last_score IS NOT NULL)" if value else _negated(guard)
        if name == "score_group":
            return _groups(cond, guard, out)
        test = _compare("c.last_score", op, value, out)
        return _negated(f"{guard} AND {test}") if op == "ne" else f"({guard} AND {test})"
    if name in _MOMENTS:
        moment = _MOMENTS[name]
        return _days(out.dialect.scan(moment) if name in _UNSELECTIVE else moment, op, value, out)
    column = _COLUMNS[name]
    if name in _UNSELECTIVE:
        column = out.dialect.scan(column)
    if op == "exists":
        return f"({column} IS NOT NULL)" if value else f"({column} IS NULL)"
    if op == "starts_with":
        text = str(value)
        return f"(substr({column}, 1, {out.mark(len(text), 'int')}) = {out.mark(text, 'text')})"
    if op in ("in", "not_in"):
        assert isinstance(value, tuple)
        marks = ", ".join(out.mark(item, "text") for item in value)
        test = f"{column} IN ({marks})"
        return _negated(test) if op == "not_in" else f"({test})"
    test = _compare(column, op, value, out)
    return _negated(test) if op == "ne" else f"({test})"


def _compare(column: str, op: str, value: object, out: Compiled) -> str:
    kind: ParamType = "text" if isinstance(value, str) else "num"
    param = float(value) if kind == "num" else value  # type: ignore[arg-type]
    return f"{column} {_COMPARE['eq' if op == 'ne' else op]} {out.mark(param, kind)}"


def _groups(cond: Condition, guard: str, out: Compiled) -> str:
    value = cond.value
    groups: tuple[str, ...] = value if isinstance(value, tuple) else (str(value),)  # type: ignore[assignment]
    ranges = []
    for group in groups:
        low, high = group_scores(out.scale, _group(group))
        ranges.append(
            f"c.last_score BETWEEN {out.mark(float(low), 'num')} AND {out.mark(float(high), 'num')}"
        )
    test = f"{guard} AND ({' OR '.join(ranges)})"
    return _negated(test) if cond.op in ("ne", "not_in") else f"({test})"


def _group(name: str) -> ScoreGroup:
    if name == "promoter":
        return "promoter"
    if name == "passive":
        return "passive"
    return "detractor"


def _days(moment: str, op: str, value: object, out: Compiled) -> str:
    if op == "exists":
        return f"({moment} IS NOT NULL)" if value else f"({moment} IS NULL)"
    days = float(value)  # type: ignore[arg-type]
    if op in ("eq", "ne"):
        # A whole number of days since: the moment lies in (now - (d+1) days, now - d days].
        test = (
            f"{moment} > {out.mark(out.now - (days + 1) * DAY, 'num')} AND "
            f"{moment} <= {out.mark(out.now - days * DAY, 'num')}"
        )
        return _negated(test) if op == "ne" else f"({test})"
    return f"({moment} {_MIRROR[op]} {out.mark(out.now - days * DAY, 'num')})"


def _set(cond: Condition, out: Compiled) -> str:
    table, alias, column = _SETS[cond.field]
    value = cond.value
    items: tuple[str, ...] = value if isinstance(value, tuple) else (str(value),)  # type: ignore[assignment]
    marks = ", ".join(out.mark(item, "text") for item in items)
    exists = (
        f"EXISTS (SELECT 1 FROM {table} {alias} WHERE {alias}.customer_id = c.id "
        f"AND {alias}.{column} IN ({marks}))"
    )
    return f"(NOT {exists})" if cond.op == "has_none" else f"({exists})"
