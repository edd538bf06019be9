"""The journey: one pure function from (customer, event, now) to a `Decision`.

`decide` routes each event to the flow that owns it. It never awaits, sends or reads the clock;
the engine persists what it returns. Events the bot did not expect get a polite answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.flows import (
    campaigns,
    checkin,
    contact,
    escalation,
    inbox,
    linking,
    onboarding,
    privacy,
    purchase,
    recognition,
    referral,
    satisfaction,
    shop,
)
from bot.flows.common import (
    engage,
    new_customer,
    parse_button_data,
    reply,
    with_profile,
)
from bot.flows.dialogue import DialogueState
from bot.flows.model import (
    Blocked,
    ButtonPress,
    Command,
    ContactShared,
    Context,
    Customer,
    Decision,
    DeliveryFailed,
    Event,
    JobDue,
    JobKind,
    Json,
    Line,
    LogEntry,
    NonText,
    PurchaseRecorded,
    PurchaseReversed,
    RefundIssued,
    ScheduleJob,
    ShopNeeds,
    StaffAction,
    Start,
    Text,
)
from bot.flows.policy import FlowPolicy

__all__ = ["COMMANDS", "CUSTOMER_INITIATED", "Needs", "decide", "needs"]

COMMANDS = (
    "start",
    "help",
    "human",
    "stop",
    "status",
    "refer",
    "badges",
    "leaderboard",
    "mydata",
    "forget",
    "link",
    "timezone",
)
"""Commands a customer can send; `me` is an alias of `status`."""

CUSTOMER_INITIATED = (Start, Text, ButtonPress, Command, NonText, ContactShared)

_YES = frozenset({"yes", "y", "yeah", "yep", "sorted", "solved", "fixed", "ok", "okay", "thanks"})


@dataclass(frozen=True)
class Needs:
    """What the engine must read before deciding `event` (most events need nothing)."""

    history: bool = False
    leaderboard: bool = False
    referral_code: str | None = None
    export: bool = False
    shop: ShopNeeds | None = None
    campaign: int | None = None


def needs(event: Event) -> Needs:
    if isinstance(event, JobDue) and event.kind == JobKind.CAMPAIGN:
        ident = event.payload.get("campaign")
        return Needs(campaign=ident if isinstance(ident, int) else 0)
    if isinstance(event, Command) and event.name == "mydata":
        return Needs(export=True)
    if isinstance(event, Command) and event.name in {"status", "me"}:
        return Needs(history=True)
    if isinstance(event, Command) and event.name == "leaderboard":
        return Needs(leaderboard=True)
    if isinstance(event, Start) and referral.is_referral_payload(event.payload):
        return Needs(referral_code=(event.payload or "").strip())
    if isinstance(event, Start) and linking.is_link_payload(event.payload):
        peeked = linking.peek(event.payload or "")
        if peeked is not None:
            token_id, kind, value = peeked
            return Needs(
                shop=ShopNeeds(token_id=token_id, customer_ref=value if kind == "c" else None)
            )
    if isinstance(event, Text) and shop.looks_like_order_number(event.text):
        number = linking.order_number_key(event.text)
        if number is not None:
            # history: the customer's recent misses, which limit how many numbers they may try
            return Needs(history=True, shop=ShopNeeds(order_number=number))
    return Needs()


def decide(
    customer: Customer | None,
    event: Event,
    now: datetime,
    policy: FlowPolicy,
    context: Context | None = None,
) -> Decision | None:
    """Decide what `event` does to `customer`; None when it concerns nobody we know."""
    context = context or Context()
    if customer is None:
        if not isinstance(event, CUSTOMER_INITIATED):
            return None
        fresh = new_customer(event.key, event.profile, now)
        payload = event.payload if isinstance(event, Start) else None
        link = linking.is_link_payload(payload)
        captured = onboarding.capture(
            fresh, None if link else payload, now, policy, context.referrer
        )
        if isinstance(event, Start):
            if link and payload is not None:
                return captured.then(
                    shop.start_with_token(captured.customer, payload, context.shop, now, policy)
                )
            return captured
        # Someone wrote before /start (e.g. after clearing the chat): capture, then answer.
        return captured.then(_route(captured.customer, event, now, policy, context))
    if isinstance(event, CUSTOMER_INITIATED):
        customer = with_profile(customer, event.profile).evolve(last_contact_at=now)
        if customer.unreachable:
            # They are writing to us, so they have unblocked the bot.
            customer = customer.evolve(unreachable=False)
    if customer.referral_code is None:  # customers from before referral links existed
        customer = customer.evolve(
            referral_code=referral.code_for(customer.id, policy.referral_secret)
        )
    return _route(customer, event, now, policy, context)


def _route(
    customer: Customer, event: Event, now: datetime, policy: FlowPolicy, context: Context
) -> Decision:
    match event:
        case Start(payload=payload) if linking.is_link_payload(payload) and payload is not None:
            back = Decision(customer=customer)
            if customer.opted_out:  # starting the bot from the shop's link is opting back in
                back = onboarding.restart(customer, None, now, policy)
            return back.then(
                shop.start_with_token(back.customer, payload, context.shop, now, policy)
            )
        case Start(payload=payload):
            return onboarding.restart(customer, payload, now, policy)
        case Command(name=name, args=args):
            return _command(customer, name, args, now, policy, context)
        case ButtonPress(data=data):
            return _button(customer, data, now, policy)
        case Text(text=text):
            return _text(customer, text, now, policy, context)
        case ContactShared():
            return shop.contact(customer, event, policy)
        case NonText(kind=kind):
            return _non_text(customer, kind, now, policy)
        case JobDue(kind=JobKind.CHECKIN, payload=payload):
            return checkin.ask(customer, payload, now, policy)
        case JobDue(kind=JobKind.CAMPAIGN, payload=payload):
            return campaigns.send(customer, payload, context.campaign, now, policy)
        case JobDue(kind=JobKind.SURVEY):
            return _survey_due(customer, now, policy)
        case JobDue(kind=JobKind.RECOVERY, payload=payload):
            return escalation.ask_recovery(customer, str(payload.get("case_id", "")))
        case JobDue(kind=JobKind.SLA, payload=payload):
            reminder = payload.get("reminder", 1)
            return escalation.sla_due(
                customer,
                str(payload.get("case_id", "")),
                reminder if isinstance(reminder, int) else 1,
                now,
                policy,
            )
        case JobDue(kind=JobKind.REFERRAL_JOINED, payload=payload):
            return referral.friend_joined(customer, str(payload.get("friend", "")), policy)
        case JobDue(kind=JobKind.REFERRAL_CONVERTED, payload=payload):
            return referral.friend_converted(customer, str(payload.get("friend", "")), policy)
        case JobDue(kind=JobKind.AWARD, payload=payload):
            return _monthly_award(customer, payload, policy)
        case JobDue(kind=JobKind.INBOX_CLOSE, payload=payload):
            return inbox.autoclose_due(customer, str(payload.get("conversation_id", "")))
        case DeliveryFailed(reason=reason, unreachable=unreachable, ref=ref):
            return escalation.delivery_failed(customer, reason, unreachable, ref)
        case PurchaseRecorded(order_id=order_id, amount=amount, order=order, refunds=refunds):
            return purchase.purchase(
                customer, order_id, amount, now, policy, order=order, refunds=refunds
            )
        case PurchaseReversed():
            return purchase.reverse(customer, event, now, policy)
        case RefundIssued():
            return purchase.refund(customer, event, now, policy)
        case Blocked():
            return escalation.delivery_failed(customer, "the customer blocked the bot", True)
        case StaffAction(case_id=case_id, action=action) if action == "message" or (
            case_id != customer.case_id and inbox.is_conversation(customer, case_id)
        ):
            return inbox.staff_action(customer, event, now, policy)
        case StaffAction():
            return escalation.staff_action(customer, event, now, policy)
    raise AssertionError(f"unrouted event {event!r}")  # pragma: no cover - exhaustive match


def _command(
    customer: Customer,
    name: str,
    args: tuple[str, ...],
    now: datetime,
    policy: FlowPolicy,
    context: Context,
) -> Decision:
    match name:
        case "help":
            return onboarding.help_(customer, shop=policy.shop_linking)
        case "human":
            return inbox.human(customer, now, policy)
        case "mydata":
            return privacy.my_data(customer, context.export)
        case "forget":
            return privacy.ask_forget(customer)
        case "stop":
            return onboarding.opt_out(customer)
        case "status" | "me":
            return onboarding.status(customer)
        case "refer" | "invite":
            return referral.invite(customer)
        case "badges":
            return Decision(
                customer=customer,
                messages=(reply(customer, "badges", badges=list(customer.badges)),),
            )
        case "leaderboard":
            return _leaderboard(customer, args, context)
        case "link" if policy.shop_linking:
            return shop.prompt(customer)
        case "timezone":
            return _timezone(customer, args, policy)
    return Decision(
        customer=customer, messages=(reply(customer, "unknown_command", command=name[:64]),)
    )


def _timezone(customer: Customer, args: tuple[str, ...], policy: FlowPolicy) -> Decision:
    """`/timezone` says which zone quiet hours are kept in; `/timezone Europe/Berlin` sets it
    (kept from then on, over the one of their language)."""
    quiet = contact.quiet_span(policy.contact)
    zone = contact.zone_of(customer, policy.contact)
    typed = " ".join(args)[:64]
    chosen = contact.known_zone(typed) if typed else None
    if chosen is not None:
        customer = customer.evolve(timezone=chosen)
    message = reply(
        customer,
        "timezone",
        zone=chosen or zone,
        changed=chosen is not None,
        unknown=typed if typed and chosen is None else None,
        quiet=quiet,
    )
    log = (
        ()
        if chosen is None
        else (LogEntry("timezone_set", customer.stage, customer.stage, chosen),)
    )
    return Decision(customer=customer, messages=(message,), log=log)


def _button(customer: Customer, data: str, now: datetime, policy: FlowPolicy) -> Decision:
    if data == onboarding.HUMAN:
        return inbox.human(customer, now, policy)
    parsed = parse_button_data(data)
    if parsed is not None and parsed[0] == customer.question_id:
        value = parsed[1]
        if value in privacy.ANSWERS:
            return privacy.answer_forget(customer, value)
        match customer.dialogue:
            case DialogueState.AWAITING_CHECKIN if value in checkin.ANSWERS:
                return checkin.answer(customer, value, now, policy)
            case DialogueState.AWAITING_RATING if (
                score := satisfaction.parse_score(value, policy)
            ) is not None:
                return satisfaction.rate(customer, score, policy)
            case DialogueState.AWAITING_COMMENT if value == "skip":
                return satisfaction.comment(customer, None, now, policy)
            case DialogueState.AWAITING_RECOVERY if value in escalation.RECOVERY_ANSWERS:
                return escalation.recovery_answer(customer, value == "yes", now, policy, None)
    return Decision(customer=customer, messages=(reply(customer, "stale_button"),))


def _text(
    customer: Customer, text: str, now: datetime, policy: FlowPolicy, context: Context
) -> Decision:
    cleaned = text.strip()
    if not cleaned:
        return Decision(customer=customer, messages=(reply(customer, "empty_text"),))
    if customer.case_id is not None:
        return escalation.relay(customer, cleaned, policy)
    kept = Decision(
        customer=customer,
        records=(Line("customer", cleaned[: policy.max_text_length], customer.first_name),),
    )
    match customer.dialogue:
        case DialogueState.AWAITING_CHECKIN:
            return kept.then(checkin.answer(customer, "comment", now, policy, comment=cleaned))
        case DialogueState.AWAITING_RATING:
            score = satisfaction.parse_score(cleaned, policy)
            if score is None:
                return kept.then(satisfaction.unusable_answer(customer, policy))
            return kept.then(satisfaction.rate(customer, score, policy))
        case DialogueState.AWAITING_COMMENT:
            return kept.then(satisfaction.comment(customer, cleaned, now, policy))
        case DialogueState.AWAITING_RECOVERY:
            sorted_out = cleaned.lower().strip("!. ") in _YES
            return kept.then(escalation.recovery_answer(customer, sorted_out, now, policy, cleaned))
    engaged = engage(customer)
    # linking by what they type, unless they are talking to a person (who may have asked)
    linking_by_text = policy.shop_linking and customer.conversation_id is None
    if linking_by_text and shop.looks_like_order_number(cleaned):
        linked = shop.typed_order(engaged.customer, cleaned, context.shop, now, policy)
        return kept.then(engaged).then(linked)
    if linking_by_text and shop.looks_like_email(cleaned):
        return kept.then(engaged).then(shop.typed_email(engaged.customer))
    trigger = policy.trigger_in(cleaned)
    if trigger is not None:
        reason = f"trigger word “{trigger}”"
        return kept.then(engaged).then(
            escalation.open_case(engaged.customer, reason, cleaned, now, policy)
        )
    # nothing was waiting for this message: a person reads it (the line is kept by `talk`)
    return engaged.then(inbox.talk(engaged.customer, cleaned, now, policy))


def _non_text(customer: Customer, kind: str, now: datetime, policy: FlowPolicy) -> Decision:
    """A sticker or photo: they are talking to us, but we can only read text."""
    kind = kind[:32]
    if customer.case_id is not None:
        return escalation.relay(customer, f"[{kind}]", policy)
    if customer.conversation_id is not None and customer.dialogue == DialogueState.IDLE:
        return inbox.talk(customer, f"[{kind}]", now, policy)
    if customer.dialogue == DialogueState.AWAITING_RATING:
        return satisfaction.unusable_answer(customer, policy)
    pending = customer.dialogue != DialogueState.IDLE
    engaged = engage(customer)
    message = reply(engaged.customer, "non_text", kind=kind, awaiting_answer=pending)
    return engaged.then(Decision(customer=engaged.customer, messages=(message,)))


def _survey_due(customer: Customer, now: datetime, policy: FlowPolicy) -> Decision:
    if not customer.proactive_allowed or customer.case_id is not None:
        reason = "case open" if customer.case_id else "not reachable"
        return Decision(
            customer=customer,
            log=(LogEntry("survey_skipped", customer.stage, customer.stage, reason),),
        )
    if not satisfaction.due(customer, now, policy):
        return Decision(
            customer=customer,
            log=(LogEntry("survey_skipped", customer.stage, customer.stage, "throttled"),),
        )
    verdict = contact.check(customer, now, policy.contact)
    if verdict.until is not None:
        detail = f"{verdict.reason} until {verdict.until:%Y-%m-%d %H:%M} UTC"
        return Decision(
            customer=customer,
            schedule=(ScheduleJob(JobKind.SURVEY, verdict.until),),
            log=(LogEntry("survey_deferred", customer.stage, customer.stage, detail),),
        )
    return satisfaction.ask(contact.spend(customer, now, policy.contact), now, policy)


def _leaderboard(customer: Customer, args: tuple[str, ...], context: Context) -> Decision:
    """Top referrers by first name, among those who chose to appear; `join`/`leave` choose."""
    choice = args[0].lower() if args else ""
    if choice in {"join", "leave"}:
        customer = customer.evolve(leaderboard_opt_in=choice == "join")
        return Decision(
            customer=customer,
            messages=(reply(customer, "leaderboard_choice", joined=choice == "join"),),
            log=(LogEntry(f"leaderboard_{choice}", customer.stage, customer.stage),),
        )
    rows: list[Json] = [
        {"name": row.first_name, "converted": row.converted, "joined": row.joined}
        for row in context.leaderboard
    ]
    message = reply(customer, "leaderboard", rows=rows, opted_in=customer.leaderboard_opt_in)
    return Decision(customer=customer, messages=(message,))


def _monthly_award(customer: Customer, payload: Mapping[str, Json], policy: FlowPolicy) -> Decision:
    badge = str(payload.get("badge", ""))
    for rule in policy.recognition_rules:
        if rule.metric is None and badge:
            return recognition.award(customer, badge, rule)
    return Decision(customer=customer)
