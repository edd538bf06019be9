"""What must always hold between a customer and their live jobs, as a pure check.

- No customer has two live jobs of one kind for one subject (storage also refuses it).
- No live job is about something that is over: an SLA reminder only while its case is open and
  unclaimed; a "did we sort it out?" only about the customer's latest case, once it is closed.

A job that outlives what it was for must be cancelled when that changes (resolving a case
cancels its reminders; a new case cancels the question about the old one). `simulate` checks
this after every simulated day.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from bot.flows.model import Customer, JobKind

__all__ = ["job_problems", "latest_case"]


def latest_case(customer: Customer) -> str | None:
    """The id of the customer's most recent case (open or not)."""
    return f"{customer.id}#{customer.cases_opened}" if customer.cases_opened else None


def job_problems(customer: Customer, jobs: Sequence[tuple[JobKind, str]]) -> list[str]:
    """Every way the customer's live jobs `(kind, subject)` break the rules above."""
    problems = [
        f"{customer.id}: {count} live {kind.value} jobs about {subject or 'nothing in particular'}"
        for (kind, subject), count in Counter(jobs).items()
        if count > 1
    ]
    for kind, subject in jobs:
        if kind is JobKind.SLA and (
            customer.case_id != subject or customer.case_claimed_by is not None
        ):
            problems.append(f"{customer.id}: an SLA reminder about {subject}, which is not waiting")
        if kind is JobKind.INBOX_CLOSE and customer.conversation_id != subject:
            problems.append(
                f"{customer.id}: an idle close of {subject or 'no conversation'}, which is not open"
            )
        if kind is JobKind.RECOVERY and (
            subject != latest_case(customer) or customer.case_id is not None
        ):
            problems.append(
                f"{customer.id}: a recovery question about {subject or 'no case'}, "
                f"which is not the latest closed case"
            )
    return problems
