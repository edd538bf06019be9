"""Purchases (escalator level 5), and purchases undone: a cancellation or refund.

A purchase lifts the customer to `customer`, converts their referral if it is their first, and
plans the post-purchase check-in. A counted purchase reversed in full (cancelled, refunded) puts
back what can be put back: the purchase counter, the check-in about it, and a referral conversion
whose reward has not gone out yet. Stages never move down: the customer did transact.

A refund is a tough moment (seed 001 §3: "a customer is vulnerable ... a chance to forge a
strong relationship"), so by `FlowPolicy.reversal_follow_up` the customer gets a recovery
message and staff a case for a person to reach out.
"""

from __future__ import annotations

from datetime import datetime

from bot.flows import referral
from bot.flows.common import advance_stage
from bot.flows.escalation import open_case, staff_message
from bot.flows.model import (
    CancelJobs,
    Customer,
    Decision,
    JobKind,
    LogEntry,
    OrderApplied,
    OrderKey,
    OutMessage,
    PurchaseReversed,
    PurchaseRow,
    Record,
    ReferralWithdrawn,
    RefundApplied,
    RefundIssued,
    ScheduleJob,
)
from bot.flows.policy import FlowPolicy
from bot.flows.stages import StageTrigger

__all__ = ["purchase", "refund", "reverse"]

_CHECKIN = CancelJobs(frozenset({JobKind.CHECKIN}))


def purchase(
    customer: Customer,
    order_id: str,
    amount: float | None,
    now: datetime,
    policy: FlowPolicy,
    *,
    order: OrderKey | None = None,
    refunds: tuple[str, ...] = (),
) -> Decision:
    """A transaction: the customer climbs to `customer`; a check-in follows in a few days."""
    customer = customer.evolve(purchases=customer.purchases + 1)
    moved = advance_stage(customer, StageTrigger.PURCHASE, order_id)
    if not moved.log:
        moved = Decision(
            customer=customer,
            log=(LogEntry("purchase", customer.stage, customer.stage, order_id),),
        )
    records: list[Record] = [PurchaseRow(order_id, amount)]
    if order is not None:
        records.append(OrderApplied(order, "purchase"))
        records.extend(RefundApplied(order.source, refund_id) for refund_id in refunds)
    return moved.then(referral.converted(moved.customer, now, policy.referral_reward_delay)).then(
        Decision(
            customer=moved.customer,
            records=tuple(records),
            cancel=(_CHECKIN,),
            schedule=(
                ScheduleJob(
                    JobKind.CHECKIN, now + policy.post_purchase_checkin, {"reason": "post_purchase"}
                ),
            ),
        )
    )


def reverse(
    customer: Customer, event: PurchaseReversed, now: datetime, policy: FlowPolicy
) -> Decision:
    """A counted order was cancelled or refunded in full."""
    purchases = max(0, customer.purchases - 1)
    customer = customer.evolve(purchases=purchases)
    records: list[Record] = [OrderApplied(event.order, "reversed")]
    records.extend(RefundApplied(event.order.source, refund_id) for refund_id in event.refunds)
    cancel: tuple[CancelJobs, ...] = ()
    if purchases == 0:
        # The purchase that converted their referral (their first) is undone; so is the
        # check-in asking how it went.
        cancel = (_CHECKIN,)
        if customer.referred_by is not None:
            records.append(ReferralWithdrawn(customer.referred_by))
    undone = Decision(
        customer=customer,
        cancel=cancel,
        records=tuple(records),
        log=(
            LogEntry(
                "purchase_reversed",
                customer.stage,
                customer.stage,
                f"{event.order.ref} {event.reason}",
            ),
        ),
    )
    return undone.then(
        _follow_up(
            undone.customer,
            event.order_number,
            event.reason,
            event.amount,
            event.currency,
            now,
            policy,
        )
    )


def refund(customer: Customer, event: RefundIssued, now: datetime, policy: FlowPolicy) -> Decision:
    """Part of a counted order was refunded: the purchase stands; the moment is followed up."""
    settled = Decision(
        customer=customer,
        records=(RefundApplied(event.order.source, event.refund_id),),
        log=(
            LogEntry(
                "order_refunded",
                customer.stage,
                customer.stage,
                f"{event.order.ref} refund {event.refund_id}",
            ),
        ),
    )
    if event.amount is not None and not any(ch in event.amount for ch in "123456789"):
        return settled  # nothing was paid back (items restocked, say): no tough moment
    return settled.then(
        _follow_up(
            customer,
            event.order_number,
            "partially_refunded",
            event.amount,
            event.currency,
            now,
            policy,
        )
    )


def _follow_up(
    customer: Customer,
    order_number: str,
    reason: str,
    amount: str | None,
    currency: str | None,
    now: datetime,
    policy: FlowPolicy,
) -> Decision:
    mode = policy.reversal_follow_up
    to_staff = mode in {"both", "staff"}
    notice = None
    if mode in {"both", "customer"} and customer.proactive_allowed:
        notice = OutMessage(
            "order_reversed",
            {
                "first_name": customer.first_name or "",
                "order_number": order_number,
                "reason": reason,
                "amount": amount,
                "currency": currency,
                "with_staff": to_staff,
            },
        )
    if not to_staff:
        return Decision(customer=customer, messages=(notice,) if notice else ())
    if customer.case_id is not None:
        note = staff_message(
            "staff_order_reversed",
            customer.case_id,
            order_number=order_number,
            reason=reason,
            amount=amount,
            currency=currency,
        )
        return Decision(customer=customer, messages=(note, *((notice,) if notice else ())))
    money = f" ({amount}{' ' + currency if currency else ''})" if amount else ""
    summary = f"order {order_number} {reason.replace('_', ' ')}{money}"
    return open_case(customer, summary, None, now, policy, notice=notice, silent=notice is None)
