"""A `Change` as rows per statement kind, the same for every backend (each backend has its own
statements for the kinds, in the order of `ORDER`)."""

from __future__ import annotations

from bot.flows.model import (
    BadgeAwarded,
    CampaignStep,
    CaseChanged,
    CaseOpened,
    Line,
    LinkTokenUsed,
    OrderApplied,
    PurchaseRow,
    Record,
    ReferralConverted,
    ReferralJoined,
    ReferralWithdrawn,
    RefundApplied,
    ScoreComment,
    ScoreRow,
    ShopLinked,
    WorkQueued,
)
from bot.storage.codec import buttons_to_json, customer_to_row, dump, epoch
from bot.storage.shop_rows import SHOP_KINDS, shop_record_rows
from bot.storage.types import Change

__all__ = ["ORDER", "Rows", "change_rows", "narrow_customer"]

Rows = dict[str, list[tuple[object, ...]]]

ORDER = (
    "customer",
    "customer_set",
    "inbound",
    "job_done",
    "cancel",
    "jobs",
    "journey",
    "purchase",
    "score",
    "score_comment",
    "case_open",
    "case_claimed",
    "case_resolved",
    "case_open_again",
    "referral",
    "referral_converted",
    "badge",
    "line",
    "campaign_step",
    "responded",
    *SHOP_KINDS,
    "outbox",
    "sent",
    "exposure",
    "retry",
    "failed",
    "inbox_add",
    "inbox_remove",
    "staff_thread",
    "staff_post",
    "template_version",
    "meta",
)
"""Statement kinds in the order a unit's rows are written. Every unit follows this order, so
merging many units' rows per kind keeps each unit's own order (cancel jobs before scheduling)."""


def change_rows(change: Change) -> tuple[Rows, list[tuple[object, ...]]]:
    """The rows of `change` by kind, and its outbox rows (without their ids, which the backend
    gives out when it writes them)."""
    customer = change.customer
    cid = customer.id
    at = epoch(change.at)
    rows: Rows = {"customer": [customer_to_row(customer)]}
    if change.inbound_id is not None:
        rows["inbound"] = [(change.inbound_id, cid, at)]
    if change.job_done is not None:
        rows["job_done"] = [(at, change.job_done)]
    if change.cancel:
        rows["cancel"] = [
            (at, cid, kind.value) for cancel in change.cancel for kind in sorted(cancel.kinds)
        ]
    if change.schedule:
        rows["jobs"] = [
            (
                cid if job.customer is None else job.customer.id,
                job.kind.value,
                job.subject,
                epoch(job.due_at),
                dump(dict(job.payload)),
                at,
            )
            for job in change.schedule
        ]
    if change.log:
        rows["journey"] = [
            (
                cid,
                at,
                entry.event,
                None if entry.from_stage is None else entry.from_stage.value,
                None if entry.to_stage is None else entry.to_stage.value,
                entry.detail,
            )
            for entry in change.log
        ]
    if change.responded:
        rows["responded"] = [(at, cid)]
    for record in change.records:
        for kind, row in _record_rows(record, cid, at):
            rows.setdefault(kind, []).append(row)
    lease = 0.0 if change.outbox_lease_until is None else epoch(change.outbox_lease_until)
    outbox: list[tuple[object, ...]] = [
        (
            cid,
            item.audience,
            item.kind,
            item.template,
            dump(dict(item.context)),
            buttons_to_json(item.buttons),
            item.question_id,
            at,
            at,
            lease,
            int(item.prompted),
        )
        for item in change.outbox
    ]
    return rows, outbox


def narrow_customer(change: Change, rows: Rows) -> None:
    """Replace the full customer row in `rows` by a `customer_set` row, (the indexes in
    `CUSTOMER_COLUMNS` of the columns that changed, their values and the id), when the change
    knows the customer as loaded; a new customer keeps its full row."""
    if change.before is None or change.version is None:
        return
    (row,) = rows.pop("customer")
    old = customer_to_row(change.before)
    changed = tuple(n for n in range(3, len(row)) if row[n] != old[n])
    rows["customer_set"] = [(changed, (*(row[n] for n in changed), row[0]))]


def _record_rows(record: Record, cid: str, at: float) -> list[tuple[str, tuple[object, ...]]]:
    match record:
        case (
            ReferralWithdrawn()
            | OrderApplied()
            | RefundApplied()
            | ShopLinked()
            | LinkTokenUsed()
            | WorkQueued()
        ):
            return shop_record_rows(record, cid, at)
    return [_record_row(record, cid, at)]


def _record_row(record: Record, cid: str, at: float) -> tuple[str, tuple[object, ...]]:
    match record:
        case PurchaseRow(order_id=order_id, amount=amount):
            return "purchase", (order_id, cid, amount, at)
        case ScoreRow(scale=scale, score=score):
            return "score", (cid, scale, score, at)
        case ScoreComment(text=text):
            return "score_comment", (text, cid)
        case CaseOpened(case_id=case_id, reason=reason, trigger=trigger, kind=kind):
            return "case_open", (case_id, cid, reason, trigger, at, kind)
        case CaseChanged(case_id=case_id, status="claimed", by=by):
            return "case_claimed", (by, at, case_id)
        case CaseChanged(case_id=case_id, status="resolved", by=by):
            return "case_resolved", (by, at, case_id)
        case CaseChanged(case_id=case_id):
            return "case_open_again", (case_id,)
        case Line(author=author, text=text, name=name, case_id=case_id):
            return "line", (cid, at, author, name, text, case_id)
        case ReferralJoined(referrer=referrer):
            return "referral", (cid, referrer, at)
        case ReferralConverted():
            return "referral_converted", (at, cid)
        case BadgeAwarded(badge=badge):
            return "badge", (cid, badge, at)
        case CampaignStep(campaign_id=campaign, step=step, status=status, reason=reason):
            deferred = int(status == "deferred")
            sent = at if status == "sent" else None
            return "campaign_step", (campaign, cid, step, status, reason, deferred, at, sent)
    raise AssertionError(record)  # pragma: no cover
