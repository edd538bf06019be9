"""Campaign operations shared by the command line and the Slack admin view: create (checked),
start (planned for the whole segment at once), pause, resume, cancel, and the report as lines.

Every refusal is an `InvalidInput` with one line that says what to do instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from bot.errors import InvalidInput
from bot.flows.campaigns import provided_variables
from bot.flows.segments import check_name, parse_text
from bot.messages.catalog import Catalog, CatalogError
from bot.storage.campaign_types import Campaign, CampaignReport, NewCampaign
from bot.storage.protocols import Storage

__all__ = [
    "CUSTOMER_ATTRIBUTES",
    "MAX_STEPS",
    "CampaignRequest",
    "Started",
    "cancel",
    "create",
    "describe",
    "parse_sequence",
    "pause",
    "report_lines",
    "start",
    "start_campaign",
]

MAX_STEPS = 10
MAX_DAY = 365
CUSTOMER_ATTRIBUTES = frozenset(
    {
        "first_name",
        "stage",
        "source",
        "language",
        "badges",
        "purchases",
        "referrals",
        "segments",
        "bot_username",
    }
)
"""What every customer message provides (`bot.flows.common.attributes`, and the bot's name)."""


@dataclass(frozen=True)
class CampaignRequest:
    name: str
    segment: str
    template: str
    steps: tuple[int, ...] = (0,)
    stop_on_purchase: bool = False
    start_at: datetime | None = None
    author: str = "command line"


def parse_sequence(text: str) -> tuple[int, ...]:
    """`0,7,21`: the days after the start each message goes."""
    try:
        days = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise InvalidInput(f"--sequence {text!r}: expected days like 0,7,21") from None
    if not days or len(days) > MAX_STEPS:
        raise InvalidInput(f"--sequence: 1 to {MAX_STEPS} messages")
    if days[0] < 0 or any(b <= a for a, b in pairwise(days)):
        raise InvalidInput(f"--sequence {text!r}: days must start at 0 or later and increase")
    if days[-1] > MAX_DAY:
        raise InvalidInput(f"--sequence: the last message at most {MAX_DAY} days after the start")
    return days


async def create(
    storage: Storage, catalog: Catalog, request: CampaignRequest, now: datetime
) -> Campaign:
    check_name(request.name, "campaign")
    if await storage.segments.get(request.segment) is None:
        raise InvalidInput(
            f"no segment {request.segment!r} (define it first: escalator segments define)"
        )
    try:
        spec = catalog[request.template]
    except CatalogError as exc:
        raise InvalidInput(str(exc)) from None
    if spec.audience != "customer":
        raise InvalidInput(f"{request.template!r} is not a message to customers")
    provided = CUSTOMER_ATTRIBUTES | provided_variables()
    missing = sorted(
        v.name for v in spec.variables if not v.type.endswith("?") and v.name not in provided
    )
    if missing:
        raise InvalidInput(
            f"{request.template!r} needs {', '.join(missing)}, which a campaign cannot provide "
            "(use campaign_message, or a message that needs only the customer's attributes)"
        )
    if request.start_at is not None and request.start_at < now - timedelta(minutes=1):
        raise InvalidInput("--at is in the past")
    created = await storage.campaigns.create(
        NewCampaign(
            name=request.name,
            segment=request.segment,
            template=request.template,
            steps=request.steps,
            stop_on_purchase=request.stop_on_purchase,
            start_at=request.start_at,
            author=request.author,
            at=now,
        )
    )
    if created is None:
        raise InvalidInput(f"a campaign named {request.name!r} exists already")
    return created


async def _campaign(storage: Storage, name: str) -> Campaign:
    campaign = await storage.campaigns.get(name)
    if campaign is None:
        raise InvalidInput(f"no campaign {name!r} (escalator campaigns list)")
    return campaign


@dataclass(frozen=True)
class Started:
    resumed: bool
    targeted: int = 0
    at: datetime | None = None


async def start(storage: Storage, name: str, scale: str, now: datetime) -> str:
    """Plan a draft for its segment as it is now, or resume a paused campaign."""
    started = await start_campaign(storage, name, scale, now)
    if started.resumed:
        return f"campaign {name} resumed"
    when = "now" if started.at == now else f"at {started.at:%Y-%m-%d %H:%M} UTC"
    return f"campaign {name} started: {started.targeted} customers, first message {when}"


async def start_campaign(storage: Storage, name: str, scale: str, now: datetime) -> Started:
    campaign = await _campaign(storage, name)
    if campaign.status == "paused":
        await storage.campaigns.set_status(campaign.id, "running", now)
        return Started(resumed=True)
    if campaign.status != "draft":
        raise InvalidInput(
            f"campaign {name} is {campaign.status}; only a draft or a paused one starts"
        )
    segment = await storage.segments.get(campaign.segment)
    if segment is None:
        raise InvalidInput(f"its segment {campaign.segment!r} no longer exists")
    at = campaign.start_at if campaign.start_at is not None and campaign.start_at > now else now
    targeted = await storage.campaigns.plan(campaign.id, parse_text(segment.rules), scale, at, now)
    if targeted is None:
        raise InvalidInput(f"campaign {name} was started meanwhile")
    return Started(resumed=False, targeted=targeted, at=at)


async def pause(storage: Storage, name: str, now: datetime) -> str:
    campaign = await _campaign(storage, name)
    if not await storage.campaigns.set_status(campaign.id, "paused", now):
        raise InvalidInput(f"campaign {name} is {campaign.status}; only a running one pauses")
    return f"campaign {name} paused (start resumes it)"


async def cancel(storage: Storage, name: str, now: datetime) -> str:
    campaign = await _campaign(storage, name)
    if not await storage.campaigns.set_status(campaign.id, "cancelled", now):
        raise InvalidInput(f"campaign {name} is cancelled already")
    return f"campaign {name} cancelled: no more of its messages go"


def describe(campaign: Campaign) -> str:
    days = ",".join(str(day) for day in campaign.steps)
    sequence = f" days {days}" if len(campaign.steps) > 1 else ""
    stop = " (stops on purchase)" if campaign.stop_on_purchase else ""
    return (
        f"{campaign.name}  {campaign.status}  segment {campaign.segment}  "
        f"template {campaign.template}{sequence}{stop}"
    )


def report_lines(campaign: Campaign, report: CampaignReport, window: timedelta) -> list[str]:
    skipped = sum(report.skipped.values())
    reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(report.skipped.items()))
    days = window.total_seconds() / 86400
    lines = [
        describe(campaign),
        f"  targeted   {report.targeted}",
        f"  sent       {report.sent}",
        f"  waiting    {report.planned}",
        f"  deferred   {report.deferred}  (waited for the end of quiet hours)",
        f"  skipped    {skipped}" + (f"  ({reasons})" if reasons else ""),
        f"  blocked    {report.blocked}",
    ]
    if campaign.stop_on_purchase:
        lines.append(f"  left       {report.left}  (bought during the sequence)")
    lines.extend(
        [
            f"  within {days:g} days of a message:",
            f"    replied    {report.replies}",
            f"    bought     {report.purchases}",
            f"    referred   {report.referrals}",
        ]
    )
    return lines
