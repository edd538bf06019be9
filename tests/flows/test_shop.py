"""Linking decisions and purchases undone, as pure flows: (customer, event, now, context)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest

from bot.flows import FlowPolicy, decide
from bot.flows.common import new_customer
from bot.flows.linking import mint
from bot.flows.model import (
    KEYBOARD_CONTACT,
    KEYBOARD_REMOVE,
    CancelJobs,
    CaseOpened,
    Command,
    ContactShared,
    Context,
    Customer,
    CustomerKey,
    Decision,
    HistoryEntry,
    JobKind,
    LinkTokenUsed,
    OrderApplied,
    OrderCandidate,
    OrderKey,
    OutMessage,
    Profile,
    PurchaseRecorded,
    PurchaseReversed,
    ReferralConverted,
    ReferralWithdrawn,
    RefundApplied,
    RefundIssued,
    ShopContext,
    ShopLinked,
    Start,
    Text,
    WorkQueued,
)
from bot.flows.stages import Stage

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KEY = CustomerKey("telegram", "7")
SECRET = b"s"
POLICY = FlowPolicy(link_secret=SECRET, shop_linking=True, phone_country="49")
ORDER = OrderKey("shopify", "820982911946154508")


def ada(**fields: object) -> Customer:
    return new_customer(KEY, Profile("Ada", "en"), NOW - timedelta(days=10)).evolve(**fields)


def run(
    customer: Customer | None,
    event: object,
    shop: ShopContext | None = None,
    policy: FlowPolicy = POLICY,
) -> Decision:
    decision = decide(customer, event, NOW, policy, Context(shop=shop))  # type: ignore[arg-type]
    assert decision is not None
    return decision


def messages(decision: Decision) -> list[OutMessage]:
    return [m for m in decision.messages if isinstance(m, OutMessage)]


def templates(decision: Decision) -> list[str]:
    return [m.template for m in messages(decision)]


def of_type(decision: Decision, kind: type) -> list[object]:
    return [r for r in decision.records if isinstance(r, kind)]


def token(kind: Literal["c", "o"] = "c", value: str = "SHOP-123", days: int = 7) -> str:
    return mint(SECRET, kind, value, NOW + timedelta(days=days))


# --- link tokens ----------------------------------------------------------------------------


def test_a_new_customer_from_the_shops_link_is_welcomed_and_linked_with_what_the_shop_said() -> (
    None
):
    shop = ShopContext(ref_email="ada@example.com", ref_phone="491701234567")
    decision = run(None, Start(key=KEY, payload=token()), shop)
    assert templates(decision) == ["welcome", "shop_linked"]
    assert decision.customer.source == "shop"
    assert of_type(decision, ShopLinked) == [
        ShopLinked("ref", "SHOP-123", "link"),
        ShopLinked("email", "ada@example.com", "link"),
        ShopLinked("phone", "491701234567", "link"),
    ]
    (used,) = of_type(decision, LinkTokenUsed)
    (work,) = of_type(decision, WorkQueued)
    assert isinstance(work, WorkQueued) and '"customer":"telegram:7"' in work.body
    assert isinstance(used, LinkTokenUsed) and used.token_id in token()


@pytest.mark.parametrize(
    ("payload", "shop", "reason"),
    [
        ("link-" + "0" * 20 + "-1900000000-cSHOP-123", None, "invalid"),
        (mint(SECRET, "c", "SHOP-123", NOW - timedelta(seconds=1)), None, "expired"),
        (mint(b"another", "c", "SHOP-123", NOW + timedelta(days=1)), None, "invalid"),
        (token(), ShopContext(token_used_by="telegram:99"), "used"),
    ],
)
def test_a_forged_expired_or_reused_token_is_refused_politely_and_logged(
    payload: str, shop: ShopContext | None, reason: str
) -> None:
    decision = run(ada(), Start(key=KEY, payload=payload), shop)
    (message,) = messages(decision)
    assert (message.template, message.context["reason"]) == ("shop_link_refused", reason)
    assert [(e.event, e.detail) for e in decision.log] == [("link_refused", reason)]
    assert not of_type(decision, ShopLinked) and not of_type(decision, LinkTokenUsed)


def test_the_same_customer_using_their_token_again_is_told_they_are_connected() -> None:
    decision = run(ada(), Start(key=KEY, payload=token()), ShopContext(token_used_by=KEY.id))
    (message,) = messages(decision)
    assert message.template == "shop_linked" and message.context["already"] is True
    assert not decision.records


def test_an_order_token_links_that_order_and_campaign_and_referral_payloads_still_work() -> None:
    decision = run(ada(), Start(key=KEY, payload=token("o", ORDER.order_id)))
    assert of_type(decision, ShopLinked) == [ShopLinked("order", ORDER.order_id, "link")]
    campaign = run(None, Start(key=KEY, payload="spring_sale"))
    assert campaign.customer.source == "spring_sale" and not campaign.records
    referred = run(None, Start(key=KEY, payload="ref-AbCdEfGh1234"))
    assert [e.event for e in referred.log] == ["captured", "referral_refused"]


def test_an_opted_out_customer_starting_from_the_link_opts_back_in() -> None:
    decision = run(ada(opted_out=True), Start(key=KEY, payload=token()))
    assert not decision.customer.opted_out
    assert templates(decision) == ["welcome_back", "shop_linked"]


# --- the contact button ---------------------------------------------------------------------


def test_link_asks_for_the_contact_with_telegrams_button() -> None:
    (message,) = messages(run(ada(), Command(key=KEY, name="link")))
    assert message.template == "shop_link_prompt"
    assert [[b.data for b in row] for row in message.buttons] == [[KEYBOARD_CONTACT]]
    off = FlowPolicy(link_secret=SECRET)
    assert templates(run(ada(), Command(key=KEY, name="link"), policy=off)) == ["unknown_command"]


def test_only_the_senders_own_contact_links_them_and_the_keyboard_goes_away() -> None:
    own = run(ada(), ContactShared(key=KEY, phone="+49 170 1234567", own=True))
    assert of_type(own, ShopLinked) == [ShopLinked("phone", "491701234567", "contact")]
    (message,) = messages(own)
    assert message.template == "shop_linked"
    assert [[b.data for b in row] for row in message.buttons] == [[KEYBOARD_REMOVE]]
    assert own.customer.stage is Stage.ENGAGED
    other = run(ada(), ContactShared(key=KEY, phone="+49 170 7654321", own=False))
    (refusal,) = messages(other)
    assert (refusal.template, refusal.context["reason"]) == ("shop_contact_refused", "not_own")
    assert not of_type(other, ShopLinked)
    garbled = run(ada(), ContactShared(key=KEY, phone="12", own=True))
    assert messages(garbled)[0].context["reason"] == "unreadable"


# --- a typed order number -------------------------------------------------------------------


def candidate(customer: str | None = None, days: int = 2) -> OrderCandidate:
    return OrderCandidate(ORDER, "#1001", customer, NOW - timedelta(days=days))


def test_a_typed_number_links_one_recent_unclaimed_order_only() -> None:
    decision = run(ada(), Text(key=KEY, text="#1001"), ShopContext(orders=(candidate(),)))
    assert of_type(decision, ShopLinked) == [
        ShopLinked("order", ORDER.order_id, "order_number", replace=False)
    ]
    (message,) = messages(decision)
    assert message.context["order_number"] == "#1001"
    assert [[b.data for b in row] for row in message.buttons] == [[KEYBOARD_CONTACT]]


@pytest.mark.parametrize(
    "orders",
    [
        (),
        (candidate(customer="telegram:99"),),  # somebody else's
        (candidate(days=45),),  # too old to be proof of anything
        (candidate(), OrderCandidate(OrderKey("purchases", "X"), "#1001", None, NOW)),  # which?
    ],
)
def test_no_single_recent_free_order_gives_the_same_answer(
    orders: tuple[OrderCandidate, ...],
) -> None:
    decision = run(ada(), Text(key=KEY, text="1001"), ShopContext(orders=orders))
    assert templates(decision) == ["shop_order_not_found"]
    assert not of_type(decision, ShopLinked)
    assert [e.event for e in decision.log][-1] == "order_number_unmatched"


def test_after_five_misses_a_day_numbers_are_not_looked_up() -> None:
    misses = tuple(
        HistoryEntry(NOW - timedelta(hours=h), "order_number_unmatched", "engaged", "engaged")
        for h in range(5)
    )
    tired = ada(stage=Stage.ENGAGED, history=misses)
    decision = run(tired, Text(key=KEY, text="#1001"), ShopContext(orders=(candidate(),)))
    (message,) = messages(decision)
    assert message.context["limited"] is True and not of_type(decision, ShopLinked)
    yesterday = ada(
        stage=Stage.ENGAGED,
        history=tuple(
            HistoryEntry(NOW - timedelta(days=1, hours=h + 1), "order_number_unmatched", None, None)
            for h in range(5)
        ),
    )
    assert of_type(
        run(yesterday, Text(key=KEY, text="#1001"), ShopContext(orders=(candidate(),))),
        ShopLinked,
    )


def test_a_typed_email_links_nothing() -> None:
    decision = run(ada(), Text(key=KEY, text="ada@example.com"))
    assert templates(decision) == ["shop_email_not_trusted"]
    assert not of_type(decision, ShopLinked)


# --- purchases and reversals ----------------------------------------------------------------


def shop_purchase(customer: Customer, policy: FlowPolicy = POLICY) -> Decision:
    event = PurchaseRecorded(
        key=KEY,
        order_id=ORDER.ref,
        amount=49.9,
        order=ORDER,
        refunds=("r0",),
        inbound_id="shop:x:purchase",
    )
    return run(customer, event, policy=policy)


def reversal(**fields: object) -> PurchaseReversed:
    values: dict[str, object] = {
        "key": KEY,
        "order": ORDER,
        "order_number": "#1001",
        "reason": "refunded",
        "amount": "49.90",
        "currency": "EUR",
    }
    values.update(fields)
    return PurchaseReversed(**values)  # type: ignore[arg-type]


def test_a_shop_purchase_is_counted_with_its_order() -> None:
    decision = shop_purchase(ada(referred_by="telegram:1"))
    assert decision.customer.stage is Stage.CUSTOMER and decision.customer.purchases == 1
    assert OrderApplied(ORDER, "purchase") in decision.records
    assert RefundApplied("shopify", "r0") in decision.records
    assert of_type(decision, ReferralConverted)


def test_the_referrers_reward_waits_for_the_return_window() -> None:
    policy = FlowPolicy(link_secret=SECRET, referral_reward_delay=timedelta(days=14))
    decision = shop_purchase(ada(referred_by="telegram:1"), policy)
    (reward,) = [job for job in decision.schedule if job.kind is JobKind.REFERRAL_CONVERTED]
    assert reward.due_at == NOW + timedelta(days=14)


def test_a_reversal_puts_back_what_can_be_put_back_and_hands_the_customer_to_a_person() -> None:
    bought = ada(stage=Stage.CUSTOMER, purchases=1, referred_by="telegram:1")
    decision = run(bought, reversal())
    assert decision.customer.purchases == 0 and decision.customer.stage is Stage.CUSTOMER
    assert ReferralWithdrawn("telegram:1") in decision.records
    assert OrderApplied(ORDER, "reversed") in decision.records
    assert CancelJobs(frozenset({JobKind.CHECKIN})) in decision.cancel
    (opened,) = of_type(decision, CaseOpened)
    assert isinstance(opened, CaseOpened) and "refunded" in opened.reason
    assert decision.customer.case_id is not None
    recovery = next(m for m in messages(decision) if m.template == "order_reversed")
    assert recovery.context["with_staff"] is True and recovery.context["order_number"] == "#1001"
    assert "staff_case_opened" in templates(decision) and "escalated" not in templates(decision)


def test_a_second_purchase_keeps_the_referral_when_one_is_reversed() -> None:
    decision = run(ada(stage=Stage.CUSTOMER, purchases=2, referred_by="telegram:1"), reversal())
    assert decision.customer.purchases == 1
    assert not of_type(decision, ReferralWithdrawn)
    assert CancelJobs(frozenset({JobKind.CHECKIN})) not in decision.cancel


@pytest.mark.parametrize(
    ("mode", "customer_told", "case"),
    [
        ("both", True, True),
        ("customer", True, False),
        ("staff", False, True),
        ("none", False, False),
    ],
)
def test_the_follow_up_is_as_configured(mode: str, customer_told: bool, case: bool) -> None:
    policy = FlowPolicy(reversal_follow_up=mode)  # type: ignore[arg-type]
    decision = run(ada(stage=Stage.CUSTOMER, purchases=1), reversal(), policy=policy)
    assert ("order_reversed" in templates(decision)) is customer_told
    assert bool(of_type(decision, CaseOpened)) is case


def test_an_open_case_gets_a_note_and_an_opted_out_customer_no_message() -> None:
    busy = ada(stage=Stage.CUSTOMER, purchases=1, case_id="telegram:7#1", cases_opened=1)
    decision = run(busy, reversal(reason="cancelled"))
    assert "staff_order_reversed" in templates(decision) and not of_type(decision, CaseOpened)
    quiet = run(ada(stage=Stage.CUSTOMER, purchases=1, opted_out=True), reversal())
    assert "order_reversed" not in templates(quiet) and of_type(quiet, CaseOpened)


def test_a_partial_refund_is_a_tough_moment_unless_no_money_went_back() -> None:
    event = RefundIssued(
        key=KEY, order=ORDER, refund_id="r2", order_number="#1001", amount="10.00", currency="EUR"
    )
    decision = run(ada(stage=Stage.CUSTOMER, purchases=1), event)
    assert decision.customer.purchases == 1
    assert RefundApplied("shopify", "r2") in decision.records
    recovery = next(m for m in messages(decision) if m.template == "order_reversed")
    assert recovery.context["reason"] == "partially_refunded"
    restock = RefundIssued(key=KEY, order=ORDER, refund_id="r3", order_number="#1", amount="0.00")
    quiet = run(ada(stage=Stage.CUSTOMER, purchases=1), restock)
    assert not quiet.messages and RefundApplied("shopify", "r3") in quiet.records


def test_a_contact_shared_before_start_captures_and_links_the_customer() -> None:
    decision = run(None, ContactShared(key=KEY, phone="491701234567", own=True))
    assert templates(decision) == ["welcome", "shop_linked"]
    assert of_type(decision, ShopLinked) == [ShopLinked("phone", "491701234567", "contact")]
