"""Statistics for experiment reports: pure functions, no I/O.

- `wilson`: the Wilson score interval for one proportion (good coverage even near 0 or 1 and
  for small samples, unlike the plain normal interval).
- `difference`: the difference of two proportions with Newcombe's hybrid score interval
  (method 10 in Newcombe 1998), built from the two Wilson intervals.
- `two_proportion_test`: the pooled two-proportion z-test, two-sided.

The normal distribution is the standard library's (`statistics.NormalDist`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

__all__ = ["Difference", "ZTest", "difference", "two_proportion_test", "wilson", "z_for"]

_NORMAL = NormalDist()


def z_for(confidence: float) -> float:
    """The two-sided critical value: 1.96 for 0.95."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence}")
    return _NORMAL.inv_cdf(0.5 + confidence / 2)


def _check(successes: int, trials: int) -> None:
    if trials < 0 or not 0 <= successes <= max(trials, 0):
        raise ValueError(f"{successes} successes in {trials} trials")


def wilson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for `successes` out of `trials`; (0, 1) without trials."""
    _check(successes, trials)
    if trials == 0:
        return 0.0, 1.0
    z = z_for(confidence)
    p = successes / trials
    centre = p + z * z / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    scale = 1 + z * z / trials
    # At 0 (or all) successes the bound is exactly 0 (or 1); floating point leaves a crumb.
    low = 0.0 if successes == 0 else (centre - spread) / scale
    high = 1.0 if successes == trials else (centre + spread) / scale
    return low, high


@dataclass(frozen=True)
class Difference:
    """p2 - p1 with its interval: the lift of the second proportion over the first."""

    estimate: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def difference(
    successes1: int, trials1: int, successes2: int, trials2: int, confidence: float = 0.95
) -> Difference:
    """Newcombe's hybrid score interval for p2 - p1 (both groups need trials)."""
    _check(successes1, trials1)
    _check(successes2, trials2)
    if trials1 == 0 or trials2 == 0:
        raise ValueError("both groups need trials")
    p1, p2 = successes1 / trials1, successes2 / trials2
    l1, u1 = wilson(successes1, trials1, confidence)
    l2, u2 = wilson(successes2, trials2, confidence)
    estimate = p2 - p1
    low = estimate - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    high = estimate + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return Difference(estimate, low, high)


@dataclass(frozen=True)
class ZTest:
    z: float
    p_value: float


def two_proportion_test(successes1: int, trials1: int, successes2: int, trials2: int) -> ZTest:
    """The pooled two-proportion z-test of p1 = p2, two-sided. With no variation at all (both
    all successes or all failures) there is no evidence of a difference: z 0, p 1."""
    _check(successes1, trials1)
    _check(successes2, trials2)
    if trials1 == 0 or trials2 == 0:
        raise ValueError("both groups need trials")
    pooled = (successes1 + successes2) / (trials1 + trials2)
    variance = pooled * (1 - pooled) * (1 / trials1 + 1 / trials2)
    if variance == 0:
        return ZTest(0.0, 1.0)
    z = (successes2 / trials2 - successes1 / trials1) / math.sqrt(variance)
    return ZTest(z, 2 * (1 - _NORMAL.cdf(abs(z))))
