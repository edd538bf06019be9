"""The seeded simulation with an experiment whose variant B is truly better: the report finds
the lift at 10,000 customers and says there is not enough data at 100."""

from __future__ import annotations

from pathlib import Path

from bot.config import Settings
from bot.experiments import MIN_EXPOSURES
from bot.simulation_experiment import BASE_RATE, run_fast
from tests.conftest import sql_file


async def test_ten_thousand_customers_show_bs_lift(settings: Settings, tmp_path: Path) -> None:
    lift = 0.05
    report = await run_fast(settings, 10_000, 7, lift, tmp_path / "sim.db")
    assert report.enough
    a, b = report.variants
    assert a.exposed + b.exposed == 10_000
    assert 4_700 < a.exposed < 5_300  # equal weights, split by the keyed hash
    (comparison,) = report.comparisons
    assert (comparison.variant, comparison.control) == ("B", "A")
    assert comparison.lift.low > 0  # the interval excludes zero ...
    assert comparison.lift.low < lift < comparison.lift.high  # ... and holds the true lift
    assert comparison.p_value < 0.001
    assert abs(a.rates[report.experiment.goal].value - BASE_RATE) < 0.03
    assert any("B is better than A" in line for line in report.lines())
    # what the report says is what the database holds
    stored = sql_file(
        tmp_path / "sim.db",
        "SELECT variant, count(*), count(replied_at) FROM experiment_exposures GROUP BY variant",
    )
    goal = report.experiment.goal
    assert stored == [(v.label, v.exposed, v.rates[goal].successes) for v in report.variants]


async def test_a_hundred_customers_are_not_enough(settings: Settings, tmp_path: Path) -> None:
    report = await run_fast(settings, 100, 7, 0.05, tmp_path / "sim.db")
    assert not report.enough
    assert all(v.exposed < MIN_EXPOSURES for v in report.variants)
    assert any(line.startswith("not enough data yet") for line in report.lines())
    assert not any("better than" in line for line in report.lines())


async def test_the_same_seed_splits_and_answers_the_same(
    settings: Settings, tmp_path: Path
) -> None:
    first = await run_fast(settings, 300, 3, 0.1, tmp_path / "one.db")
    again = await run_fast(settings, 300, 3, 0.1, tmp_path / "two.db")
    other = await run_fast(settings, 300, 4, 0.1, tmp_path / "three.db")
    assert first.lines() == again.lines()
    assert first.lines() != other.lines()
