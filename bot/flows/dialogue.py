"""What the bot is waiting for from a customer right now (separate from the stage)."""

from __future__ import annotations

from enum import StrEnum

from bot.flows.statemachine import TransitionTable

__all__ = ["DIALOGUE", "DialogueState", "DialogueTrigger"]


class DialogueState(StrEnum):
    IDLE = "idle"
    AWAITING_CHECKIN = "awaiting_checkin"


class DialogueTrigger:
    ASK_CHECKIN = "ask_checkin"
    ANSWER = "answer"
    RESET = "reset"


DIALOGUE: TransitionTable[DialogueState] = TransitionTable(
    name="dialogue",
    states=DialogueState,
    initial=DialogueState.IDLE,
    edges={
        (DialogueState.IDLE, DialogueTrigger.ASK_CHECKIN): DialogueState.AWAITING_CHECKIN,
        (DialogueState.AWAITING_CHECKIN, DialogueTrigger.ASK_CHECKIN): (
            DialogueState.AWAITING_CHECKIN
        ),
        (DialogueState.AWAITING_CHECKIN, DialogueTrigger.ANSWER): DialogueState.IDLE,
        (DialogueState.AWAITING_CHECKIN, DialogueTrigger.RESET): DialogueState.IDLE,
        (DialogueState.IDLE, DialogueTrigger.RESET): DialogueState.IDLE,
    },
)
