"""Experiments on SQLite: definitions and exposures through the writer, reads on the reader."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.errors import InvalidInput
from bot.flows.experiments import Experiment, Variant
from bot.storage import experiments_sql as sql
from bot.storage.codec import epoch
from bot.storage.sqlite.reader import Reader
from bot.storage.sqlite.writer import Writer
from bot.storage.types import Exposure, VariantOutcomes

__all__ = ["SQLiteExperiments"]


class SQLiteExperiments:
    def __init__(self, writer: Writer, reader: Reader) -> None:
        self._writer = writer
        self._reader = reader

    async def create(self, experiment: Experiment) -> None:
        def create(db: sqlite3.Connection) -> None:
            _refuse_clash(
                db.execute(
                    "SELECT name FROM experiments WHERE name = ? OR (template = ? AND "
                    "locale = ? AND status = 'running')",
                    (experiment.name, experiment.template, experiment.locale),
                ).fetchall(),
                experiment,
            )
            db.execute(sql.INSERT_EXPERIMENT, sql.experiment_row(experiment))
            db.executemany(sql.INSERT_VARIANT, sql.variant_rows(experiment))

        await self._writer.call(create)

    async def get(self, name: str) -> Experiment | None:
        found = await self._load("WHERE name = ?", (name,))
        return found[0] if found else None

    async def all(self) -> list[Experiment]:
        return await self._load("", ())

    async def running(self) -> list[Experiment]:
        return await self._load("WHERE status = 'running'", ())

    async def _load(self, where: str, params: tuple[object, ...]) -> list[Experiment]:
        rows = await self._reader.rows(
            f"SELECT {sql.EXPERIMENT_COLUMNS} FROM experiments {where} "
            "ORDER BY created_at DESC, name",
            params,
        )
        if not rows:
            return []
        variants = _variants(await self._reader.rows(sql.VARIANTS))
        return [sql.experiment_from(row, variants.get(str(row[0]), [])) for row in rows]

    async def stop(self, name: str, at: datetime, shipped: str | None) -> bool:
        def stop(db: sqlite3.Connection) -> bool:
            return db.execute(sql.STOP, (epoch(at), shipped, name)).rowcount > 0

        return await self._writer.call(stop)

    async def assigned(self, experiment: str, customer_id: str) -> str | None:
        value = await self._reader.value(
            "SELECT variant FROM experiment_exposures WHERE experiment = ? AND customer_id = ?",
            (experiment, customer_id),
        )
        return None if value is None else str(value)

    async def expose(self, exposures: Sequence[Exposure], at: datetime) -> None:
        rows: list[tuple[object, ...]] = [
            (e.experiment, e.customer_id, e.variant, epoch(at)) for e in exposures
        ]
        await self._writer.rows({"exposure": rows})

    async def note_replies(self, customer_ids: Sequence[str], at: datetime) -> None:
        await self._writer.rows({"responded": [(epoch(at), ident) for ident in customer_ids]})

    async def outcomes(self, name: str) -> list[VariantOutcomes]:
        experiment = await self.get(name)
        if experiment is None:
            return []
        window = timedelta(days=experiment.window_days)
        rows = await self._reader.rows(sql.OUTCOMES, sql.outcome_params(name, window))
        return sql.outcomes_from(experiment, rows)


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
