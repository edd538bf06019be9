"""Experiments on PostgreSQL: the shared SQL (`bot.storage.experiments_sql`), numbered."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.errors import InvalidInput
from bot.flows.experiments import Experiment, Variant
from bot.storage import experiments_sql as sql
from bot.storage.codec import epoch
from bot.storage.postgres.database import Connection, Database
from bot.storage.postgres.statements import WRITES
from bot.storage.records_sql import numbered
from bot.storage.types import Exposure, VariantOutcomes

__all__ = ["PostgresExperiments"]

_CLASH = numbered(
    "SELECT name FROM experiments WHERE name = ? OR (template = ? AND locale = ? "
    "AND status = 'running')"
)
_ASSIGNED = numbered(
    "SELECT variant FROM experiment_exposures WHERE experiment = ? AND customer_id = ?"
)


class PostgresExperiments:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, experiment: Experiment) -> None:
        async def create(db: Connection) -> None:
            # Two admins creating at once: the unique indexes refuse the second one.
            clash = await db.fetch(_CLASH, experiment.name, experiment.template, experiment.locale)
            _refuse_clash([tuple(row) for row in clash], experiment)
            await db.execute(numbered(sql.INSERT_EXPERIMENT), *sql.experiment_row(experiment))
            await db.executemany(numbered(sql.INSERT_VARIANT), sql.variant_rows(experiment))

        await self._db.transaction(create)

    async def get(self, name: str) -> Experiment | None:
        found = await self._load("WHERE name = $1", (name,))
        return found[0] if found else None

    async def all(self) -> list[Experiment]:
        return await self._load("", ())

    async def running(self) -> list[Experiment]:
        return await self._load("WHERE status = 'running'", ())

    async def _load(self, where: str, params: tuple[object, ...]) -> list[Experiment]:
        rows = await self._db.fetch(
            f"SELECT {sql.EXPERIMENT_COLUMNS} FROM experiments {where} "
            "ORDER BY created_at DESC, name",
            *params,
        )
        if not rows:
            return []
        variants = _variants([tuple(row) for row in await self._db.fetch(sql.VARIANTS)])
        return [sql.experiment_from(tuple(row), variants.get(str(row[0]), [])) for row in rows]

    async def stop(self, name: str, at: datetime, shipped: str | None) -> bool:
        async def stop(db: Connection) -> bool:
            status = await db.execute(numbered(sql.STOP), epoch(at), shipped, name)
            return str(status).split()[-1] != "0"

        return await self._db.transaction(stop)

    async def assigned(self, experiment: str, customer_id: str) -> str | None:
        value = await self._db.fetchval(_ASSIGNED, experiment, customer_id)
        return None if value is None else str(value)

    async def expose(self, exposures: Sequence[Exposure], at: datetime) -> None:
        rows = [(e.experiment, e.customer_id, e.variant, epoch(at)) for e in exposures]
        if not rows:
            return

        async def write(db: Connection) -> None:
            await db.executemany(WRITES["exposure"], rows)

        await self._db.transaction(write)

    async def note_replies(self, customer_ids: Sequence[str], at: datetime) -> None:
        rows = [(epoch(at), ident) for ident in customer_ids]
        if not rows:
            return

        async def write(db: Connection) -> None:
            await db.executemany(WRITES["responded"], rows)

        await self._db.transaction(write)

    async def outcomes(self, name: str) -> list[VariantOutcomes]:
        experiment = await self.get(name)
        if experiment is None:
            return []
        window = timedelta(days=experiment.window_days)
        rows = await self._db.fetch(numbered(sql.OUTCOMES), *sql.outcome_params(name, window))
        return sql.outcomes_from(experiment, [tuple(row) for row in rows])


def _variants(rows: Sequence[Sequence[Any]]) -> dict[str, list[Variant]]:
    found: dict[str, list[Variant]] = {}
    for row in rows:
        found.setdefault(str(row[0]), []).append(Variant(str(row[1]), int(row[2]), str(row[3])))
    return found


def _refuse_clash(rows: Sequence[Sequence[Any]], experiment: Experiment) -> None:
    names = {str(row[0]) for row in rows}
    if experiment.name in names:
        raise InvalidInput(f"there is already an experiment named {experiment.name}")
    if names:
        raise InvalidInput(
            f"experiment {names.pop()} already runs on {experiment.template} "
            f"[{experiment.locale}]: stop it first"
        )
