from __future__ import annotations

from enum import StrEnum

import pytest

from bot.errors import InvalidDefinition, TransitionNotAllowed
from bot.flows.dialogue import DIALOGUE, DialogueState
from bot.flows.stages import STAGES, Stage, StageTrigger
from bot.flows.statemachine import TransitionTable


class Light(StrEnum):
    RED = "red"
    GREEN = "green"
    BROKEN = "broken"


def test_shipped_tables_reach_every_state() -> None:
    assert STAGES.initial is Stage.CAPTURED
    assert {target for target in STAGES.edges.values()} | {STAGES.initial} == set(Stage)
    assert {target for target in DIALOGUE.edges.values()} | {DIALOGUE.initial} == set(DialogueState)


def test_stages_only_climb() -> None:
    for (source, _), target in STAGES.edges.items():
        assert target.level > source.level


def test_next_raises_with_context_and_next_or_same_stays() -> None:
    with pytest.raises(TransitionNotAllowed) as caught:
        STAGES.next(Stage.AMBASSADOR, StageTrigger.PURCHASE)
    assert caught.value.state == "ambassador"
    assert caught.value.trigger == "purchase"
    assert STAGES.next_or_same(Stage.AMBASSADOR, StageTrigger.PURCHASE) is Stage.AMBASSADOR


def test_unreachable_state_is_refused() -> None:
    with pytest.raises(InvalidDefinition, match="unreachable states \\['broken'\\]"):
        TransitionTable(
            "lights",
            Light,
            Light.RED,
            {(Light.RED, "go"): Light.GREEN, (Light.GREEN, "stop"): Light.RED},
        )


def test_dead_end_is_refused() -> None:
    with pytest.raises(InvalidDefinition, match="dead end at 'broken'"):
        TransitionTable(
            "lights",
            Light,
            Light.RED,
            {
                (Light.RED, "go"): Light.GREEN,
                (Light.GREEN, "stop"): Light.RED,
                (Light.GREEN, "smash"): Light.BROKEN,
            },
        )


def test_declared_final_state_is_not_a_dead_end() -> None:
    table = TransitionTable(
        "lights",
        Light,
        Light.RED,
        {
            (Light.RED, "go"): Light.GREEN,
            (Light.GREEN, "stop"): Light.RED,
            (Light.GREEN, "smash"): Light.BROKEN,
        },
        final=frozenset({Light.BROKEN}),
    )
    assert table.next(Light.GREEN, "smash") is Light.BROKEN
