"""Jobs and cases stay consistent: every job is cancelled when what it was for changes, and a
long seeded simulation never breaks the invariants (`bot.flows.invariants`)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.api import staff_act
from bot.app import Runtime
from bot.config import load_settings
from bot.errors import InvariantBroken
from bot.flows.invariants import job_problems
from bot.flows.model import CustomerKey, JobKind, Start, Text
from bot.simulation import check_jobs, simulate
from tests.conftest import Harness
from tests.test_satisfaction_loop import press

A = CustomerKey("test", "a")


async def live(rt: Runtime) -> list[tuple[JobKind, str]]:
    return [(job.kind, job.subject) for job in await rt.storage.jobs.pending(0, 100)]


async def test_resolving_cancels_the_reminders_and_a_reopened_case_runs_one_chain(
    harness: Harness,
) -> None:
    harness.settings = load_settings(
        DATABASE_URL=harness.settings.database_url, ESCALATION_SLA="30m"
    )
    async with harness.open() as rt:
        await rt.engine.handle(Start(key=A))
        await rt.engine.handle(Text(key=A, text="it arrived broken, I want a refund"))
        await rt.settle()
        assert (JobKind.SLA, "test:a#1") in await live(rt)
        await staff_act(rt.engine, rt.storage.cases, "test:a#1", "resolve", "Sam")
        assert [kind for kind, _ in await live(rt)] == [JobKind.CHECKIN, JobKind.RECOVERY]
        await check_jobs(rt.storage)

        harness.clock.advance(timedelta(days=1))
        await rt.settle()
        await press(rt, harness.customers, A, "No, not yet")
        assert harness.staff.templates()[-1] == "staff_case_reopened"
        await check_jobs(rt.storage)
        for _ in range(6):  # long past every reminder the chain has
            harness.clock.advance(timedelta(minutes=30))
            await rt.settle()
        reminders = [s for s in harness.staff.sent if s.template == "staff_sla_reminder"]
        await check_jobs(rt.storage)
    assert len(reminders) == rt.policy.sla_reminders  # one chain, not two


async def test_a_question_about_an_old_case_is_never_asked_once_a_newer_case_exists(
    harness: Harness,
) -> None:
    async with harness.open() as rt:
        await rt.engine.handle(Start(key=A))
        await rt.engine.handle(Text(key=A, text="broken!"))
        await staff_act(rt.engine, rt.storage.cases, "test:a#1", "resolve", "Sam")
        harness.clock.advance(timedelta(hours=6))
        await rt.engine.handle(Text(key=A, text="and now I want a refund"))
        assert (JobKind.RECOVERY, "test:a#1") not in await live(rt)
        await check_jobs(rt.storage)
        # the second case is handed back to the bot, so no question of its own is planned
        await staff_act(rt.engine, rt.storage.cases, "test:a#2", "handback", "Sam")
        harness.clock.advance(timedelta(days=1))
        await rt.settle()
        await check_jobs(rt.storage)
        customer = await rt.storage.journey.customer(A)
    assert "recovery_question" not in harness.customers.templates(A)
    assert customer is not None and customer.case_id is None


async def test_the_recovery_answer_is_recorded_against_the_case_it_asked_about(
    harness: Harness,
) -> None:
    async with harness.open() as rt:
        await rt.engine.handle(Start(key=A))
        for number in (1, 2):
            await rt.engine.handle(Text(key=A, text="broken again"))
            await staff_act(rt.engine, rt.storage.cases, f"test:a#{number}", "resolve", "Sam")
        harness.clock.advance(timedelta(days=1))
        await rt.settle()
        assert harness.customers.templates(A).count("recovery_question") == 1
        await press(rt, harness.customers, A, "No, not yet")
        first = await rt.storage.cases.view("test:a#1")
        second = await rt.storage.cases.view("test:a#2")
    assert first is not None and first["status"] == "resolved" and first["reopened"] == 0
    assert second is not None and second["status"] == "open" and second["reopened"] == 1


def test_the_invariant_names_each_broken_rule(harness: Harness) -> None:
    from bot.flows.common import new_customer

    customer = new_customer(A, None, harness.clock.now()).evolve(cases_opened=2)
    problems = job_problems(
        customer,
        [
            (JobKind.SURVEY, ""),
            (JobKind.SURVEY, ""),
            (JobKind.SLA, "test:a#2"),
            (JobKind.RECOVERY, "test:a#1"),
        ],
    )
    assert problems == [
        "test:a: 2 live survey jobs about nothing in particular",
        "test:a: an SLA reminder about test:a#2, which is not waiting",
        "test:a: a recovery question about test:a#1, which is not the latest closed case",
    ]


async def test_a_long_seeded_simulation_keeps_every_invariant(tmp_path: Path) -> None:
    settings = load_settings(DATABASE_URL=f"sqlite:///{tmp_path / 'unused.db'}")
    try:
        report = await simulate(settings, 250, 150, 7, tmp_path / "sim.db")
    except InvariantBroken as exc:  # pragma: no cover - the failure is the message
        pytest.fail(str(exc))
    assert report.escalations_opened > 10 and report.escalations_resolved > 10
