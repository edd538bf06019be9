"""Which variant of a message a customer is shown while an experiment runs on it.

Every message rendered for a customer passes here first (`bot.delivery.outbox`), so a check-in,
the referral prompt or a campaign's message all take part the same way. The variant is the one
the customer was first shown (stored with that delivery), or, for a first exposure, the one
the keyed hash gives (`bot.flows.experiments.assign`) under the install's key, kept in the
database (`meta`, `experiments.key`), so every process agrees and weight changes move nobody.

Running experiments are read again at most every `refresh_every` seconds: a new or stopped
experiment is seen by every process within that time. With none running, a message costs one
dictionary lookup; with one running on it, one indexed read of the customer's exposure.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from bot.flows.experiments import Experiment, assign
from bot.messages.templates import Renderer
from bot.storage.protocols import ExperimentStore, MetaStore

__all__ = ["KEY_NAME", "Choice", "Variants"]

KEY_NAME = "experiments.key"


@dataclass(frozen=True)
class Choice:
    experiment: str
    variant: str
    source: str


class Variants:
    def __init__(
        self,
        store: ExperimentStore,
        meta: MetaStore,
        renderer: Renderer,
        *,
        refresh_every: float = 2.0,
    ) -> None:
        self._store = store
        self._meta = meta
        self._renderer = renderer
        self._refresh_every = refresh_every
        self._checked = -float("inf")
        self._running: dict[tuple[str, str], Experiment] = {}
        self._templates: frozenset[str] = frozenset()
        self._key: bytes | None = None

    async def refresh(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked < self._refresh_every:
            return
        self._checked = now
        running = await self._store.running()
        self._running = {(e.template, e.locale): e for e in running}
        self._templates = frozenset(e.template for e in running)

    async def key(self) -> bytes:
        if self._key is None:
            stored = await self._meta.setdefault(KEY_NAME, secrets.token_urlsafe(32))
            self._key = stored.encode()
        return self._key

    async def choose(self, customer_id: str, template: str, locale: str | None) -> Choice | None:
        """The variant of `template` this customer sees now; None when no experiment runs on
        the message in the locale it renders in."""
        await self.refresh()
        if template not in self._templates:
            return None
        resolved = self._renderer.resolve(template, locale)
        experiment = self._running.get((template, resolved or ""))
        if experiment is None:
            return None
        label = await self._store.assigned(experiment.name, customer_id)
        if label is None:
            label = assign(await self.key(), experiment.name, customer_id, experiment.variants)
        variant = experiment.variant(label)
        return Choice(experiment.name, variant.label, variant.source)
