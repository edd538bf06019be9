"""The knobs flows need from configuration, as one immutable value (no settings import in flows)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from bot.flows.contact import ContactRules
from bot.flows.hours import BusinessHours

__all__ = [
    "DEFAULT_RULES",
    "DEFAULT_TRIGGERS",
    "FlowPolicy",
    "Rule",
    "ScoreGroup",
    "group_scores",
    "score_group",
]

ScoreGroup = Literal["promoter", "passive", "detractor"]


def score_group(scale: str, score: int) -> ScoreGroup:
    """NPS: 9-10 promoters, 7-8 passives, 0-6 detractors. CSAT: 5 satisfied ("promoter"),
    4 ("passive"), 1-3 dissatisfied; reports call CSAT's groups satisfied / neutral /
    dissatisfied, the flows use one name for both scales."""
    if scale == "nps":
        return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
    return "promoter" if score >= 5 else "passive" if score >= 4 else "detractor"


def group_scores(scale: str, group: ScoreGroup) -> tuple[int, int]:
    """The lowest and highest score of `group` on `scale` (the inverse of `score_group`), so
    storage can filter by group without knowing the rule."""
    scores = range(0, 11) if scale == "nps" else range(1, 6)
    members = [score for score in scores if score_group(scale, score) == group]
    return min(members), max(members)


DEFAULT_TRIGGERS = (
    "refund",
    "broken",
    "cancel",
    "complaint",
    "damaged",
    "defective",
    "never arrived",
    "wrong item",
    "money back",
    "speak to a human",
)


Metric = Literal["converted_referrals", "joined_referrals", "promoter_streak"]


@dataclass(frozen=True)
class Rule:
    """A recognition rule: when `metric` reaches `at_least`, award `badge` (once) and announce it
    with `template`; `stage` (ambassador) lifts the customer too. Monthly rules (`metric` None)
    are awarded by the monthly job to the month's top referrer."""

    badge: str
    template: str
    metric: Metric | None = None
    at_least: int = 1
    stage: Literal["ambassador"] | None = None


DEFAULT_RULES = (
    Rule("First referral", "badge_awarded", "converted_referrals", 1),
    Rule("Brand ambassador", "badge_ambassador", "converted_referrals", 3, stage="ambassador"),
    Rule("Loyal fan", "badge_awarded", "promoter_streak", 2),
    Rule("Top referrer of {month}", "badge_top_referrer"),
)


@dataclass(frozen=True)
class FlowPolicy:
    checkin_delay: timedelta = timedelta(days=2)
    """From capture to the first check-in."""
    post_purchase_checkin: timedelta = timedelta(days=3)
    periodic_checkin: timedelta = timedelta(days=30)
    """Between check-ins for customers who bought."""
    survey_scale: Literal["nps", "csat"] = "nps"
    survey_throttle: timedelta = timedelta(days=30)
    """A customer is not asked for a rating again within this window."""
    max_reasks: int = 2
    recovery_delay: timedelta = timedelta(days=1)
    """From a resolved case to "did we sort it out?"."""
    escalation_triggers: tuple[str, ...] = DEFAULT_TRIGGERS
    escalation_sla: timedelta | None = timedelta(minutes=30)
    """An unclaimed case is brought back to staff's attention after this long."""
    sla_reminders: int = 2
    recognition_rules: tuple[Rule, ...] = DEFAULT_RULES
    advocate_on: Literal["join", "conversion"] = "join"
    """A referrer becomes an advocate when a friend joins, or only when one buys."""
    referral_secret: bytes = b"escalator"
    """Keys referral codes so they cannot be guessed from customer ids (set per deployment)."""
    max_text_length: int = 4000
    """Longer customer text is accepted but trimmed where it is stored or quoted back."""
    referral_reward_delay: timedelta = timedelta(0)
    """From a referred friend's first purchase to the referrer's reward (told, counted, badges):
    a purchase reversed within it withdraws the conversion (a shop's return window)."""
    link_secret: bytes = b"escalator-link"
    """Signs the shop's link tokens (set per deployment)."""
    shop_linking: bool = False
    """A shop sends its orders (a webhook secret is set): customers may link by phone or by
    typing an order number."""
    phone_country: str | None = None
    """The calling code for phone numbers written without one (`0170 ...` -> `49170...`)."""
    order_number_window: timedelta = timedelta(days=30)
    """A typed order number links only an order placed within this window."""
    link_attempts: int = 5
    """Typed order numbers that matched nothing, per customer per day, before the bot stops
    looking them up (order numbers are often sequential: they must not be guessed)."""
    reversal_follow_up: Literal["both", "customer", "staff", "none"] = "both"
    """After a refund or cancellation: a recovery message to the customer, a case for staff."""
    business_hours: BusinessHours | None = None
    """When a person answers conversations; None: no promise about when."""
    inbox_autoclose: timedelta = timedelta(days=2)
    """A conversation nobody wrote in for this long closes itself."""
    contact: ContactRules = field(default_factory=ContactRules)
    """The contact budget and quiet hours every unprompted message keeps."""
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        words = sorted((w.strip().lower() for w in self.escalation_triggers if w.strip()), key=len)
        alternatives = "|".join(re.escape(word) for word in reversed(words)) or r"(?!x)x"
        object.__setattr__(self, "_pattern", re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE))

    def trigger_in(self, text: str) -> str | None:
        """The first configured trigger word in `text`, if any."""
        match = self._pattern.search(text)
        return match.group(0).lower() if match else None

    @property
    def scale_range(self) -> range:
        return range(0, 11) if self.survey_scale == "nps" else range(1, 6)

    def score_group(self, score: int) -> ScoreGroup:
        return score_group(self.survey_scale, score)
