"""Privacy: a customer sees what is held about them (`/mydata`) and may have it erased
(`/forget`, confirmed with a button, since it cannot be undone).

Erasure itself is the storage's job (`Decision.erase_by`): it removes the personal data
everywhere it is kept, and keeps anonymous counts and the referral chain around a tombstone.
The farewell is the one message kept, to be delivered; it carries no personal value.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.flows.common import buttons_row, reply
from bot.flows.model import (
    ClearButtons,
    Customer,
    Decision,
    Json,
    LogEntry,
    OutMessage,
)

__all__ = ["ANSWERS", "answer_forget", "ask_forget", "my_data"]

ANSWERS = ("forget", "keep")


def my_data(customer: Customer, export: Mapping[str, Json] | None) -> Decision:
    """Everything held about the customer: a readable message, and the whole record as a file
    (sent as a file only when it is too long for one message)."""
    data = dict(export or {})
    message = reply(customer, "mydata", data=data, attachment=data, file_name="my-data.json")
    return Decision(
        customer=customer,
        messages=(message,),
        log=(LogEntry("data_requested", customer.stage, customer.stage),),
    )


def ask_forget(customer: Customer) -> Decision:
    question = customer.question_id + 1
    customer = customer.evolve(question_id=question)
    buttons = buttons_row(question, ("button_forget_yes", "forget"), ("button_forget_no", "keep"))
    message = reply(customer, "forget_confirm")
    return Decision(
        customer=customer,
        messages=(
            OutMessage(message.template, message.context, buttons=(buttons,), question_id=question),
        ),
    )


def answer_forget(customer: Customer, value: str) -> Decision:
    question = customer.question_id
    if value != "forget":
        return Decision(
            customer=customer,
            messages=(ClearButtons(question), reply(customer, "forget_kept")),
        )
    return Decision(
        customer=customer,
        # no name or other value of theirs in the farewell: it outlives the erasure until sent
        # (the question's buttons cannot be cleared: the message that asked it is erased too,
        # and a later press finds an unknown customer)
        messages=(OutMessage("forgotten"),),
        erase_by="the customer (/forget)",
    )
