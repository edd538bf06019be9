"""Pure flow tests: (customer, event, now) -> Decision, no I/O, time passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.flows import FlowPolicy, decide
from bot.flows.dialogue import DialogueState
from bot.flows.model import (
    Blocked,
    ButtonPress,
    CancelJobs,
    ClearButtons,
    Command,
    Customer,
    CustomerKey,
    Decision,
    JobDue,
    JobKind,
    NonText,
    OutMessage,
    Profile,
    Start,
    Text,
)
from bot.flows.stages import Stage

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KEY = CustomerKey("test", "42")
POLICY = FlowPolicy(checkin_delay=timedelta(days=2))


def run(customer: Customer | None, event: object, now: datetime = NOW) -> Decision:
    decision = decide(customer, event, now, POLICY)  # type: ignore[arg-type]
    assert decision is not None
    return decision


def templates(decision: Decision) -> list[str]:
    return [m.template for m in decision.messages if isinstance(m, OutMessage)]


def started(payload: str | None = None) -> Decision:
    return run(None, Start(key=KEY, payload=payload, profile=Profile("Ada", "en")))


def asked(customer: Customer) -> Decision:
    return run(customer, JobDue(key=KEY, job_id=1, kind=JobKind.CHECKIN), NOW + timedelta(days=2))


def test_start_captures_welcomes_and_schedules_the_checkin() -> None:
    decision = started("spring_sale")
    assert decision.customer.stage is Stage.CAPTURED
    assert decision.customer.source == "spring_sale"
    assert decision.customer.first_name == "Ada"
    assert templates(decision) == ["welcome"]
    assert [(job.kind, job.due_at) for job in decision.schedule] == [
        (JobKind.CHECKIN, NOW + timedelta(days=2))
    ]
    assert [(e.event, e.to_stage) for e in decision.log] == [("captured", Stage.CAPTURED)]


def test_malformed_payload_is_not_recorded_as_source() -> None:
    assert started("<script>").customer.source is None
    assert started("x" * 65).customer.source is None


def test_checkin_asks_with_buttons_carrying_the_question_id() -> None:
    decision = asked(started().customer)
    (message,) = decision.messages
    assert isinstance(message, OutMessage)
    assert message.template == "checkin"
    assert [b.data for b in message.buttons[0]] == ["1:great", "1:okay", "1:bad"]
    assert decision.customer.dialogue is DialogueState.AWAITING_CHECKIN


def test_answering_the_checkin_engages_and_leads_to_the_rating_question() -> None:
    customer = asked(started().customer).customer
    decision = run(customer, ButtonPress(key=KEY, data="1:great"))
    assert decision.customer.stage is Stage.ENGAGED
    assert decision.customer.dialogue is DialogueState.AWAITING_RATING
    assert ClearButtons(1) in decision.messages
    assert templates(decision) == ["checkin_thanks", "nps_question"]
    assert [e.event for e in decision.log] == ["first_answer", "checkin_answered", "survey_sent"]


def test_a_recently_surveyed_customer_is_only_thanked() -> None:
    customer = asked(started().customer).customer.evolve(last_survey_at=NOW)
    decision = run(customer, ButtonPress(key=KEY, data="1:okay"))
    assert templates(decision) == ["checkin_thanks"]
    assert decision.customer.dialogue is DialogueState.IDLE


def test_text_answers_a_pending_checkin_as_a_comment() -> None:
    customer = asked(started().customer).customer
    decision = run(customer, Text(key=KEY, text="  all good thanks "))
    assert decision.log[-1].detail == "comment: all good thanks"
    assert templates(decision) == ["checkin_thanks"]
    assert decision.customer.stage is Stage.ENGAGED


def test_old_button_gets_a_notice_and_changes_nothing() -> None:
    customer = asked(started().customer).customer
    answered = run(customer, ButtonPress(key=KEY, data="1:great")).customer
    assert answered.question_id == 2
    decision = run(answered, ButtonPress(key=KEY, data="1:bad"))
    assert templates(decision) == ["stale_button"]
    assert decision.customer == answered
    assert decision.log == ()


def test_unknown_or_malformed_button_data_is_stale() -> None:
    customer = asked(started().customer).customer
    for data in ("1:explode", "nonsense", "9:great", ":", "1:7"):
        decision = run(customer, ButtonPress(key=KEY, data=data))
        assert templates(decision) == ["stale_button"], data
        assert decision.customer.dialogue is DialogueState.AWAITING_CHECKIN


def test_opted_out_customer_gets_no_checkin() -> None:
    stopped = run(started().customer, Command(key=KEY, name="stop"))
    assert stopped.customer.opted_out
    assert stopped.cancel == (CancelJobs(frozenset({JobKind.CHECKIN})),)
    decision = asked(stopped.customer)
    assert decision.messages == ()
    assert decision.log[0].event == "checkin_skipped"


def test_start_after_stop_opts_back_in_and_plans_a_checkin() -> None:
    stopped = run(started().customer, Command(key=KEY, name="stop")).customer
    decision = run(stopped, Start(key=KEY))
    assert not decision.customer.opted_out
    assert templates(decision) == ["welcome_back"]
    assert decision.messages[0].context["opted_in"] is True  # type: ignore[union-attr]
    assert len(decision.schedule) == 1


def test_stop_while_a_question_is_open_clears_its_buttons() -> None:
    customer = asked(started().customer).customer
    decision = run(customer, Command(key=KEY, name="stop"))
    assert ClearButtons(1) in decision.messages
    assert decision.customer.dialogue is DialogueState.IDLE


def test_bad_input_gets_polite_answers() -> None:
    customer = started().customer
    assert templates(run(customer, Text(key=KEY, text="   "))) == ["empty_text"]
    long = run(customer, Text(key=KEY, text="x" * 10_000))
    # nothing was waiting for it: it opens a conversation for staff, and the customer is told
    assert templates(long) == ["staff_conversation_opened", "inbox_opened"]
    assert long.messages[1].context["too_long"] is True  # type: ignore[union-attr]
    unknown = run(customer, Command(key=KEY, name="frobnicate"))
    assert templates(unknown) == ["unknown_command"]
    sticker = run(customer, NonText(key=KEY, kind="sticker"))
    assert templates(sticker) == ["non_text"]


def test_first_free_message_engages() -> None:
    decision = run(started().customer, Text(key=KEY, text="hello"))
    assert decision.customer.stage is Stage.ENGAGED


def test_help_and_status_change_nothing() -> None:
    customer = started().customer
    for name in ("help", "status", "me"):
        decision = run(customer, Command(key=KEY, name=name))
        assert decision.customer == customer
        assert decision.log == ()


def test_text_before_start_captures_then_answers() -> None:
    decision = run(None, Text(key=KEY, text="hi"))
    assert templates(decision) == ["welcome", "staff_conversation_opened", "inbox_opened"]
    assert decision.customer.stage is Stage.ENGAGED


def test_events_for_unknown_customers_that_they_did_not_send_are_ignored() -> None:
    assert decide(None, Blocked(key=KEY), NOW, POLICY) is None
    assert decide(None, JobDue(key=KEY, job_id=1, kind=JobKind.CHECKIN), NOW, POLICY) is None


def test_blocked_marks_unreachable_and_writing_again_clears_it() -> None:
    blocked = run(started().customer, Blocked(key=KEY)).customer
    assert blocked.unreachable and not blocked.proactive_allowed
    assert asked(blocked).messages == ()
    back = run(blocked, Text(key=KEY, text="hi again")).customer
    assert not back.unreachable


def test_profile_updates_are_kept() -> None:
    customer = started().customer
    decision = run(customer, Text(key=KEY, text="hi", profile=Profile("Adaline", "de")))
    assert (decision.customer.first_name, decision.customer.language) == ("Adaline", "de")
