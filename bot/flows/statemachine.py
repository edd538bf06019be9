"""Transition tables as data, checked when they are built.

A `TransitionTable` maps `(state, trigger)` to the next state. Building one checks that every
state named in an edge belongs to the enum, that every state is reachable from the initial state,
and that no state is a dead end: from every state some path leads to a final state or back to the
initial one. A malformed table raises `InvalidDefinition` at import time, so a broken flow cannot
ship.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, TypeVar

from bot.errors import InvalidDefinition, TransitionNotAllowed

__all__ = ["TransitionTable"]

S = TypeVar("S", bound=Enum)


@dataclass(frozen=True)
class TransitionTable(Generic[S]):
    name: str
    states: type[S]
    initial: S
    edges: Mapping[tuple[S, str], S]
    final: frozenset[S] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        self._check()

    @property
    def triggers(self) -> frozenset[str]:
        return frozenset(trigger for _, trigger in self.edges)

    def allows(self, state: S, trigger: str) -> bool:
        return (state, trigger) in self.edges

    def next(self, state: S, trigger: str) -> S:
        try:
            return self.edges[(state, trigger)]
        except KeyError:
            raise TransitionNotAllowed(self.name, state.value, trigger) from None

    def next_or_same(self, state: S, trigger: str) -> S:
        """The next state, or `state` itself when the trigger does not apply there."""
        return self.edges.get((state, trigger), state)

    def successors(self, state: S) -> frozenset[S]:
        return frozenset(target for (source, _), target in self.edges.items() if source == state)

    def _check(self) -> None:
        everything = set(self.states)
        named = {self.initial, *self.final}
        for (source, _), target in self.edges.items():
            named.update((source, target))
        strangers = named - everything
        if strangers:
            raise InvalidDefinition(
                f"{self.name}: states not in {self.states.__name__}: {strangers}"
            )
        reachable = _closure([self.initial], self.successors)
        unreachable = everything - reachable
        if unreachable:
            names = sorted(state.value for state in unreachable)
            raise InvalidDefinition(f"{self.name}: unreachable states {names}")
        exits = {self.initial, *self.final}
        for state in everything:
            if state in self.final:
                continue
            if not self.successors(state):
                raise InvalidDefinition(f"{self.name}: dead end at {state.value!r}")
            if not (_closure([state], self.successors) & exits) - {state} and state not in exits:
                raise InvalidDefinition(f"{self.name}: {state.value!r} never leads to an exit")


def _closure(start: Iterable[S], successors: Callable[[S], Iterable[S]]) -> set[S]:
    seen: set[S] = set(start)
    queue = deque(seen)
    while queue:
        for nxt in successors(queue.popleft()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen
