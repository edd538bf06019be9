"""The SQL of experiments, the same on both backends (`?` placeholders; PostgreSQL gets them
numbered, `records_sql.numbered`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from bot.flows.experiments import Experiment, Goal, Variant
from bot.storage.codec import epoch, moment
from bot.storage.types import VariantOutcomes

__all__ = [
    "EXPERIMENT_COLUMNS",
    "EXPOSE",
    "INSERT_EXPERIMENT",
    "INSERT_VARIANT",
    "OUTCOMES",
    "RESPONDED",
    "STOP",
    "VARIANTS",
    "experiment_from",
    "experiment_row",
    "outcome_params",
    "outcomes_from",
    "variant_rows",
]

EXPERIMENT_COLUMNS = (
    "name, template, locale, goal, window_days, status, author, created_at, stopped_at, shipped"
)
INSERT_EXPERIMENT = (
    f"INSERT INTO experiments ({EXPERIMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_VARIANT = (
    "INSERT INTO experiment_variants (experiment, label, position, weight, source) "
    "VALUES (?, ?, ?, ?, ?)"
)
VARIANTS = (
    "SELECT experiment, label, weight, source FROM experiment_variants "
    "ORDER BY experiment, position"
)
STOP = (
    "UPDATE experiments SET status = 'stopped', stopped_at = ?, shipped = ? "
    "WHERE name = ? AND status = 'running'"
)

EXPOSE = (
    "INSERT INTO experiment_exposures (experiment, customer_id, variant, at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (experiment, customer_id) DO NOTHING"
)
"""The first exposure of a customer to an experiment decides their variant; later ones (the
same message again, a retry) change nothing."""

RESPONDED = (
    "UPDATE experiment_exposures SET replied_at = ? WHERE customer_id = ? AND replied_at IS NULL"
)
"""Takes (at, customer id): the customer's first message after each exposure is its reply."""

# After the exposure, not at the same moment: what the customer did before seeing the message
# (the rating that brought the referral prompt, say) is not its outcome.
_WITHIN = "> e.at AND {at} <= e.at + ?"
OUTCOMES = f"""
SELECT e.variant, count(*),
    sum(CASE WHEN e.replied_at <= e.at + ? THEN 1 ELSE 0 END),
    sum(CASE WHEN e.first_score IS NULL THEN 0 ELSE 1 END),
    coalesce(sum(e.first_score), 0),
    sum(CASE WHEN EXISTS (SELECT 1 FROM purchases p WHERE p.customer_id = e.customer_id
        AND p.at {_WITHIN.format(at="p.at")}) THEN 1 ELSE 0 END),
    sum(CASE WHEN EXISTS (SELECT 1 FROM referrals r WHERE r.referrer_id = e.customer_id
        AND r.joined_at {_WITHIN.format(at="r.joined_at")}) THEN 1 ELSE 0 END)
FROM (
    SELECT x.variant, x.customer_id, x.at, x.replied_at,
        (SELECT s.score FROM scores s WHERE s.customer_id = x.customer_id
            AND s.at > x.at AND s.at <= x.at + ? ORDER BY s.at, s.id LIMIT 1) AS first_score
    FROM experiment_exposures x WHERE x.experiment = ?
) e
GROUP BY e.variant
"""
"""Per variant: exposed, replied, rated, the sum of first ratings, purchased and referred a
friend (who joined), each within the window after the customer's exposure."""


def outcome_params(name: str, window: timedelta) -> tuple[object, ...]:
    seconds = window.total_seconds()
    return (seconds, seconds, seconds, seconds, name)


def outcomes_from(experiment: Experiment, rows: Sequence[Sequence[Any]]) -> list[VariantOutcomes]:
    """Every variant of the experiment, in its order, with zeros where nobody saw it yet."""
    found = {str(row[0]): row for row in rows}
    result: list[VariantOutcomes] = []
    for variant in experiment.variants:
        row = found.get(variant.label)
        if row is None:
            result.append(VariantOutcomes(variant.label, 0, 0, 0, 0.0, 0, 0))
            continue
        result.append(
            VariantOutcomes(
                variant.label,
                int(row[1]),
                int(row[2] or 0),
                int(row[3] or 0),
                float(row[4] or 0),
                int(row[5] or 0),
                int(row[6] or 0),
            )
        )
    return result


def experiment_row(experiment: Experiment) -> tuple[object, ...]:
    return (
        experiment.name,
        experiment.template,
        experiment.locale,
        experiment.goal.value,
        experiment.window_days,
        experiment.status,
        experiment.author,
        epoch(experiment.created_at),
        None if experiment.stopped_at is None else epoch(experiment.stopped_at),
        experiment.shipped,
    )


def variant_rows(experiment: Experiment) -> list[tuple[object, ...]]:
    return [
        (experiment.name, v.label, position, v.weight, v.source)
        for position, v in enumerate(experiment.variants)
    ]


def experiment_from(row: Sequence[Any], variants: Sequence[Variant]) -> Experiment:
    return Experiment(
        name=str(row[0]),
        template=str(row[1]),
        locale=str(row[2]),
        goal=Goal(row[3]),
        window_days=int(row[4]),
        status="running" if row[5] == "running" else "stopped",
        author=str(row[6]),
        created_at=moment(row[7]),
        stopped_at=None if row[8] is None else moment(row[8]),
        variants=tuple(variants),
        shipped=None if row[9] is None else str(row[9]),
    )
