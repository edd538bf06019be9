"""Experiment definitions and keyed, weighted assignment (pure)."""

from __future__ import annotations

from collections import Counter

import pytest

from bot.errors import InvalidInput
from bot.flows.experiments import Variant, assign, check_name, check_variants

KEY = b"k" * 32
AB = (Variant("A", 50, "a"), Variant("B", 50, "b"))


def test_assignment_is_deterministic_per_customer_and_experiment() -> None:
    first = [assign(KEY, "prompt", f"tg:{n}", AB) for n in range(200)]
    again = [assign(KEY, "prompt", f"tg:{n}", AB) for n in range(200)]
    assert first == again
    other = [assign(KEY, "welcome", f"tg:{n}", AB) for n in range(200)]
    assert other != first  # another experiment splits people another way
    assert [assign(b"x" * 32, "prompt", f"tg:{n}", AB) for n in range(200)] != first


def test_assignment_follows_the_weights() -> None:
    variants = (Variant("A", 80, "a"), Variant("B", 20, "b"))
    counts = Counter(assign(KEY, "e", f"c{n}", variants) for n in range(20_000))
    assert counts["A"] + counts["B"] == 20_000
    assert 0.185 < counts["B"] / 20_000 < 0.215
    even = Counter(assign(KEY, "e", f"c{n}", AB) for n in range(20_000))
    assert 0.485 < even["B"] / 20_000 < 0.515


def test_definitions_are_checked() -> None:
    assert check_name("referral-prompt_2") == "referral-prompt_2"
    for bad in ("", "Has Space", "x" * 65, "-lead"):
        with pytest.raises(InvalidInput):
            check_name(bad)
    with pytest.raises(InvalidInput, match="2 to 10 variants"):
        check_variants((Variant("A", 1, "a"),))
    with pytest.raises(InvalidInput, match="named twice"):
        check_variants((Variant("A", 1, "a"), Variant("a", 1, "b")))
    with pytest.raises(InvalidInput, match="weight 0"):
        check_variants((Variant("A", 1, "a"), Variant("B", 0, "b")))
    with pytest.raises(InvalidInput, match="not a variant label"):
        check_variants((Variant("A", 1, "a"), Variant("B C", 1, "b")))
