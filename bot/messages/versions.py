"""Admin edits of messages, kept as versions over the shipped files.

Version 1 of every message is its shipped file. Saving validates first and stores the next
version (who, when, text, comment); rollback stores an earlier version's text again as a new
version (so history only grows); reset stores "the shipped text". Every running process picks up
a new version within seconds (`refresh`, called before each delivery round, is one cheap query).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from bot.clock import Clock
from bot.errors import InvalidInput
from bot.messages.catalog import Catalog
from bot.messages.templates import Renderer
from bot.messages.validation import Problem, ValidationFailed, validate
from bot.storage.protocols import TemplateStore

__all__ = ["TemplateVersions", "Version"]


@dataclass(frozen=True)
class Version:
    number: int
    source: str
    shipped: bool
    author: str
    comment: str
    at: datetime | None


class TemplateVersions:
    def __init__(
        self,
        storage: TemplateStore,
        renderer: Renderer,
        catalog: Catalog,
        clock: Clock,
        *,
        refresh_every: float = 2.0,
    ) -> None:
        self._storage = storage
        self._renderer = renderer
        self.catalog = catalog
        self._clock = clock
        self._refresh_every = refresh_every
        self._marker = -1
        self._checked = 0.0

    async def refresh(self, *, force: bool = False) -> bool:
        """Load new versions into the renderer; at most one query per `refresh_every` seconds."""
        now = time.monotonic()
        if not force and now - self._checked < self._refresh_every:
            return False
        self._checked = now
        if not force and await self._storage.marker() == self._marker:
            return False
        self._marker, overrides = await self._storage.overrides()
        self._renderer.set_overrides(overrides)
        return True

    def locale(self, locale: str | None) -> str:
        chosen = (locale or self._renderer.default_locale).strip().lower()
        if not chosen.replace("-", "").isalpha() or len(chosen) > 10:
            raise InvalidInput(f"not a locale: {locale!r} (use e.g. en, de or pt-br)")
        return chosen

    def current(self, name: str, locale: str | None) -> str | None:
        """The text `name` renders in `locale` now (an admin version or the shipped file)."""
        self.catalog[name]
        return self._renderer.current(name, self.locale(locale))

    def check(self, name: str, source: str, locale: str | None = None) -> list[Problem]:
        return validate(self.catalog[name], source, self._renderer, self.locale(locale))

    async def save(
        self, name: str, source: str, *, locale: str | None, author: str, comment: str = ""
    ) -> int:
        chosen = self.locale(locale)
        problems = self.check(name, source, chosen)
        if problems:
            raise ValidationFailed(name, problems)
        return await self._store(name, chosen, source, author, comment)

    async def history(self, name: str, locale: str | None = None) -> list[Version]:
        self.catalog[name]
        chosen = self.locale(locale)
        shipped = self._renderer.shipped(name, chosen) or ""
        versions = [Version(1, shipped, True, "shipped", "the file in templates/messages", None)]
        for stored in await self._storage.versions(name, chosen):
            text = shipped if stored.source is None else stored.source
            versions.append(
                Version(
                    stored.number,
                    text,
                    stored.source is None,
                    stored.author,
                    stored.comment,
                    stored.at,
                )
            )
        return versions

    async def rollback(self, name: str, version: int, *, locale: str | None, author: str) -> int:
        chosen = self.locale(locale)
        versions = {v.number: v for v in await self.history(name, chosen)}
        if version not in versions:
            raise InvalidInput(
                f"{name} [{chosen}] has no version {version} (versions: "
                f"{', '.join(str(n) for n in sorted(versions))})"
            )
        target = versions[version]
        comment = f"rollback to version {version}"
        if target.shipped:
            return await self._store(name, chosen, None, author, comment)
        return await self.save(name, target.source, locale=chosen, author=author, comment=comment)

    async def reset(self, name: str, *, locale: str | None, author: str) -> int | None:
        """Back to the shipped text: a new version, or None when that is already current (a
        reset that changes nothing adds nothing to the history)."""
        chosen = self.locale(locale)
        self.catalog[name]
        await self.refresh(force=True)  # what is current, as of now, in any process
        if not self._renderer.is_overridden(name, chosen):
            return None
        return await self._store(name, chosen, None, author, "reset to the shipped text")

    async def _store(
        self, name: str, locale: str, source: str | None, author: str, comment: str
    ) -> int:
        number = await self._storage.add_version(
            name, locale, source, author[:80] or "admin", comment[:500], self._clock.now()
        )
        await self.refresh(force=True)
        return number
