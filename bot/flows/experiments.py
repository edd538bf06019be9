"""Experiments: variants of one message, and which variant a customer gets.

Pure: definitions are checked here (names, labels, weights, the goal), and assignment is a
keyed hash of (experiment, customer) mapped onto the weights, so the same customer gets the same
variant in every process, and nobody can work out or steer another customer's variant without
the install's key. Stickiness is the storage's part: the variant a customer was first shown is
recorded and wins over what the hash says after a change of weights.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from bot.errors import InvalidInput

__all__ = [
    "MAX_VARIANTS",
    "MAX_WINDOW_DAYS",
    "Experiment",
    "Goal",
    "Variant",
    "assign",
    "check_label",
    "check_name",
    "check_variants",
]

MAX_VARIANTS = 10
MAX_WEIGHT = 1000
MAX_WINDOW_DAYS = 90

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,19}")


class Goal(StrEnum):
    """The outcome an experiment is judged by (all of them are reported)."""

    REPLY = "reply"
    RATING = "rating"
    PURCHASE = "purchase"
    REFERRAL = "referral"


@dataclass(frozen=True)
class Variant:
    label: str
    weight: int
    source: str
    """The template text this variant renders (validated like any version of the message)."""


@dataclass(frozen=True)
class Experiment:
    name: str
    template: str
    locale: str
    goal: Goal
    window_days: int
    """Outcomes count when they happen within this many days of the exposure."""
    variants: tuple[Variant, ...]
    author: str
    created_at: datetime
    status: Literal["running", "stopped"] = "running"
    stopped_at: datetime | None = None
    shipped: str | None = None
    """The variant made the message's current version when the experiment stopped."""

    def variant(self, label: str) -> Variant:
        for variant in self.variants:
            if variant.label.lower() == label.lower():
                return variant
        labels = ", ".join(v.label for v in self.variants)
        raise InvalidInput(f"experiment {self.name} has no variant {label!r} (variants: {labels})")


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            f"not an experiment name: {name!r} (lowercase letters, digits, - and _, up to 64)"
        )
    return name


def check_label(label: str) -> str:
    if not _LABEL.fullmatch(label):
        raise InvalidInput(
            f"not a variant label: {label!r} (letters, digits, - and _, up to 20, e.g. A or B)"
        )
    return label


def check_variants(variants: Sequence[Variant]) -> tuple[Variant, ...]:
    if not 2 <= len(variants) <= MAX_VARIANTS:
        raise InvalidInput(f"an experiment needs 2 to {MAX_VARIANTS} variants, not {len(variants)}")
    seen: set[str] = set()
    for variant in variants:
        check_label(variant.label)
        if variant.label.lower() in seen:
            raise InvalidInput(f"variant {variant.label!r} is named twice")
        seen.add(variant.label.lower())
        if not 1 <= variant.weight <= MAX_WEIGHT:
            raise InvalidInput(
                f"variant {variant.label}: weight {variant.weight} is not 1 to {MAX_WEIGHT}"
            )
    return tuple(variants)


def assign(key: bytes, experiment: str, customer_id: str, variants: Sequence[Variant]) -> str:
    """The variant the weights give this customer: HMAC-SHA256 of (experiment, customer) under
    the install's key, read as a point in [0, 1) and placed among the cumulative weights."""
    message = f"{experiment}\x00{customer_id}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64
    total = sum(variant.weight for variant in variants)
    reached = 0
    for variant in variants:
        reached += variant.weight
        if point * total < reached:
            return variant.label
    return variants[-1].label  # pragma: no cover - point < 1 always lands above
