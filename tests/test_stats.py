"""The statistics of experiment reports against published values (Newcombe 1998, "Two-sided
confidence intervals for the single proportion" and "Interval estimation for the difference
between independent proportions") and hand-worked ones."""

from __future__ import annotations

import math

import pytest

from bot.stats import difference, two_proportion_test, wilson, z_for


def test_critical_value_of_a_95_percent_interval() -> None:
    assert z_for(0.95) == pytest.approx(1.959964, abs=1e-6)
    with pytest.raises(ValueError):
        z_for(1.0)


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),  # Newcombe 1998, table I
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        (0, 10, 0.0, 0.2775),
    ],
)
def test_wilson_interval_matches_published_values(
    successes: int, trials: int, low: float, high: float
) -> None:
    got = wilson(successes, trials)
    assert got == pytest.approx((low, high), abs=5e-5)


def test_wilson_interval_is_exact_at_the_edges_and_wide_open_without_trials() -> None:
    assert wilson(0, 7)[0] == 0.0
    assert wilson(7, 7)[1] == 1.0
    assert wilson(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson(5, 4)


@pytest.mark.parametrize(
    ("a", "b", "low", "high"),
    [
        ((48, 80), (56, 70), 0.0524, 0.3339),  # Newcombe 1998 (difference), method 10
        ((3, 10), (9, 10), 0.1705, 0.8090),
    ],
)
def test_difference_interval_matches_newcombe(
    a: tuple[int, int], b: tuple[int, int], low: float, high: float
) -> None:
    got = difference(a[0], a[1], b[0], b[1])
    assert got.estimate == pytest.approx(b[0] / b[1] - a[0] / a[1])
    assert (got.low, got.high) == pytest.approx((low, high), abs=5e-5)
    assert got.excludes_zero


def test_difference_that_may_be_noise_includes_zero() -> None:
    assert not difference(30, 100, 34, 100).excludes_zero
    assert difference(34, 100, 30, 100).estimate < 0


def test_two_proportion_test_by_hand() -> None:
    # pooled p = 0.375; se = sqrt(0.375 * 0.625 * (1/100 + 1/100)) = 0.0684653; z = 0.15 / se
    result = two_proportion_test(30, 100, 45, 100)
    assert result.z == pytest.approx(0.15 / math.sqrt(0.375 * 0.625 * 0.02))
    assert result.z == pytest.approx(2.19089, abs=1e-5)
    assert result.p_value == pytest.approx(0.028460, abs=1e-6)
    # the direction changes the sign, not the two-sided p-value
    assert two_proportion_test(45, 100, 30, 100).p_value == pytest.approx(result.p_value)


def test_two_proportion_test_without_variation_finds_nothing() -> None:
    assert two_proportion_test(0, 50, 0, 60).p_value == 1.0
    assert two_proportion_test(50, 50, 60, 60).p_value == 1.0
    with pytest.raises(ValueError):
        two_proportion_test(1, 0, 1, 2)
