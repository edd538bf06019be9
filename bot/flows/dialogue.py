"""What the bot is waiting for from a customer right now (separate from the stage)."""

from __future__ import annotations

from enum import StrEnum

from bot.flows.statemachine import TransitionTable

__all__ = ["DIALOGUE", "DialogueState", "DialogueTrigger"]


class DialogueState(StrEnum):
    IDLE = "idle"
    AWAITING_CHECKIN = "awaiting_checkin"
    AWAITING_RATING = "awaiting_rating"
    AWAITING_COMMENT = "awaiting_comment"
    AWAITING_RECOVERY = "awaiting_recovery"
    WITH_STAFF = "with_staff"
    """An escalation case is open: a person, not the bot, answers."""


class DialogueTrigger:
    ASK_CHECKIN = "ask_checkin"
    ASK_RATING = "ask_rating"
    ASK_RECOVERY = "ask_recovery"
    RATED = "rated"
    ANSWER = "answer"
    DROP = "drop"
    ESCALATE = "escalate"
    RESOLVE = "resolve"
    RESET = "reset"


_S = DialogueState
_T = DialogueTrigger

# A question may replace an unanswered one (its buttons are cleared); an escalation can start
# from anywhere but an open case; only staff end a case.
DIALOGUE: TransitionTable[DialogueState] = TransitionTable(
    name="dialogue",
    states=DialogueState,
    initial=_S.IDLE,
    edges={
        **{
            (state, trigger): target
            for state in (
                _S.IDLE,
                _S.AWAITING_CHECKIN,
                _S.AWAITING_RATING,
                _S.AWAITING_COMMENT,
                _S.AWAITING_RECOVERY,
            )
            for trigger, target in (
                (_T.ASK_CHECKIN, _S.AWAITING_CHECKIN),
                (_T.ASK_RATING, _S.AWAITING_RATING),
                (_T.ASK_RECOVERY, _S.AWAITING_RECOVERY),
                (_T.ESCALATE, _S.WITH_STAFF),
                (_T.RESET, _S.IDLE),
            )
        },
        (_S.AWAITING_CHECKIN, _T.ANSWER): _S.IDLE,
        (_S.AWAITING_RATING, _T.RATED): _S.AWAITING_COMMENT,
        (_S.AWAITING_RATING, _T.DROP): _S.IDLE,
        (_S.AWAITING_COMMENT, _T.ANSWER): _S.IDLE,
        (_S.AWAITING_RECOVERY, _T.ANSWER): _S.IDLE,
        (_S.WITH_STAFF, _T.RESOLVE): _S.IDLE,
    },
)
