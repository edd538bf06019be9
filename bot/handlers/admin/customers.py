"""Customers: the list with the filters of `escalator customers list` and a search, its CSV
(the same spreadsheet writer, formula cells neutralised), and one customer's page: a timeline
of stages, messages and scores with their comments, cases, badges, and the referral tree by
generation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web
from multidict import MultiMapping

from bot.flows.model import CustomerKey, Json
from bot.flows.policy import ScoreGroup, group_scores
from bot.flows.stages import Stage
from bot.handlers.admin.site import Site
from bot.spreadsheet import csv_text
from bot.storage.types import CustomerFilter, CustomerRecord

__all__ = ["Listing", "TimelineItem", "listing_from", "routes", "timeline"]

SHOWN = 200
"""Customers on one page; the CSV holds every match (up to `EXPORTED`)."""
EXPORTED = 100_000
HISTORY = 100
"""Journey entries on a customer's timeline."""
GROUPS: tuple[ScoreGroup, ...] = ("promoter", "passive", "detractor")
HIDDEN_EVENTS = frozenset({"rated", "commented"})
"""Journey entries the timeline shows as scores (with their comments) instead."""


@dataclass(frozen=True)
class Listing:
    """Which customers a request asks for, and what was wrong with the asking."""

    search: str
    where: CustomerFilter
    values: dict[str, str]
    problems: tuple[str, ...]


def listing_from(query: MultiMapping[str], scale: str) -> Listing:
    """The filters of a customers page or CSV request; a bad value is reported and ignored."""
    values = {
        name: query.get(name, "").strip()[:200]
        for name in ("q", "stage", "group", "source", "since", "referred_by", "open_case", "text")
    }
    problems: list[str] = []
    stage = values["stage"] or None
    if stage is not None and stage not in {s.value for s in Stage}:
        problems.append(f"no stage {stage!r}")
        stage = None
    score = None
    if values["group"]:
        group = next((g for g in GROUPS if g == values["group"]), None)
        if group is not None:
            score = (scale, *group_scores(scale, group))
        else:
            problems.append(f"no score group {values['group']!r}")
    active = None
    if values["since"]:
        try:
            active = datetime.strptime(values["since"], "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            problems.append("Active since is not a date (YYYY-MM-DD)")
    where = CustomerFilter(
        stage=stage,
        score=score,
        source=values["source"] or None,
        active_since=active,
        referred_by=values["referred_by"] or None,
        has_open_case=True if values["open_case"] else None,
        text=values["text"] or None,
    )
    return Listing(values["q"], where, values, tuple(problems))


@dataclass(frozen=True)
class TimelineItem:
    at: str
    """`YYYY-MM-DD HH:MM UTC`, as every value of a customer view is written (it sorts)."""
    kind: str
    title: str
    detail: str = ""
    stage: str = ""


def timeline(
    view: dict[str, Json], history: list[tuple[str, str, str, str, str]]
) -> list[TimelineItem]:
    """Stages and journey events, scores with comments, and messages, newest first."""
    items: list[TimelineItem] = []
    for at, event, before, after, detail in history:
        if event in HIDDEN_EVENTS:
            continue
        moved = f"{before or 'new'} → {after}" if after and after != before else ""
        items.append(TimelineItem(at, "stage" if moved else "event", event, detail, moved))
    for score in _dicts(view.get("scores")):
        items.append(
            TimelineItem(
                str(score["at"]),
                "score",
                f"{str(score['scale']).upper()} {score['score']}",
                str(score.get("comment") or ""),
            )
        )
    for line in _dicts(view.get("recent")):
        who = str(line.get("name") or line.get("author") or "")
        items.append(TimelineItem(str(line["at"]), "message", who, str(line.get("text") or "")))
    for case in _dicts(view.get("cases")):
        label = "conversation" if case.get("kind") == "conversation" else "case"
        items.append(
            TimelineItem(
                str(case["opened_at"]), "case", f"{label} opened", str(case["reason"] or "")
            )
        )
        if case.get("closed_at"):
            closer = str(case.get("closed_by") or "")
            items.append(TimelineItem(str(case["closed_at"]), "case", f"{label} closed", closer))
    return sorted(items, key=lambda item: item.at, reverse=True)


def _dicts(value: Json) -> list[dict[str, Json]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _record_row(record: CustomerRecord) -> dict[str, object]:
    return {
        "id": record.id,
        "name": record.name or "",
        "username": record.username or "",
        "stage": record.stage,
        "score": "" if record.last_score is None else record.last_score,
        "comment": record.last_comment or "",
        "purchases": record.purchases,
        "referrals": record.generations[0] if record.generations else 0,
        "last_contact": record.last_contact_at,
        "open_case": record.case_id or "",
    }


def routes(site: Site) -> list[web.RouteDef]:
    records = site.parts.storage.records

    async def found(listing: Listing, limit: int) -> list[CustomerRecord]:
        if listing.search:
            return await records.find(listing.search, limit)
        return await records.customers(listing.where, limit)

    async def customers(request: web.Request) -> web.StreamResponse:
        listing = listing_from(request.query, site.options.scale)
        rows = await found(listing, SHOWN + 1)
        return site.views.page(
            request,
            "customers.html",
            status=400 if listing.problems else 200,
            section="customers",
            listing=listing,
            rows=[_record_row(record) for record in rows[:SHOWN]],
            more=len(rows) > SHOWN,
            stages=[stage.value for stage in Stage],
            groups=GROUPS,
            shown=SHOWN,
        )

    async def spreadsheet(request: web.Request) -> web.StreamResponse:
        listing = listing_from(request.query, site.options.scale)
        rows = await found(listing, EXPORTED)
        return web.Response(
            body=csv_text(rows).encode("utf-8"),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": 'attachment; filename="customers.csv"'},
        )

    async def customer(request: web.Request) -> web.StreamResponse:
        text = request.match_info["id"]
        key = CustomerKey.parse(text, default_channel="telegram")
        view = await records.view(key) if key.external_id and len(text) <= 200 else None
        if view is None:
            return site.views.refusal(
                request, 404, "No such customer", "No customer has this id (or they were erased)."
            )
        entries = await site.parts.storage.journey.history(key, HISTORY)
        history = [
            (
                f"{entry.at:%Y-%m-%d %H:%M UTC}",
                entry.event,
                entry.from_stage or "",
                entry.to_stage or "",
                entry.detail or "",
            )
            for entry in entries
        ]
        return site.views.page(
            request,
            "customer.html",
            section="customers",
            customer=view,
            timeline=timeline(view, history),
        )

    return [
        web.get("/customers", customers),
        web.get("/customers.csv", spreadsheet),
        web.get("/customers/{id}", customer),
    ]
