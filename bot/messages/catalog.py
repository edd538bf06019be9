"""The message catalogue (`templates/messages/catalog.toml`): every message, its audience, and
the variables its template may use, with types and sample values.

Each message gets a pydantic model of its variables, so sample values are checked when the
catalogue loads and an admin's template can only use what the message really provides.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from bot.errors import EscalatorError

__all__ = ["LIMITS", "Catalog", "CatalogError", "MessageSpec", "Variable"]

Audience = Literal["customer", "staff", "button"]

LIMITS: dict[str, int] = {"customer": 4096, "staff": 3000, "button": 64}
"""Rendered length limits: Telegram's message, a Slack section, a button label."""

_TYPES: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list[Any],
    "dict": dict[str, Any],
}


class CatalogError(EscalatorError):
    """The catalogue file is missing or malformed."""


@dataclass(frozen=True)
class Variable:
    name: str
    type: str
    sample: Any


@dataclass(frozen=True)
class MessageSpec:
    name: str
    audience: Audience
    description: str
    variables: tuple[Variable, ...]
    model: type[BaseModel]

    @property
    def names(self) -> frozenset[str]:
        return frozenset(v.name for v in self.variables)

    def samples(self) -> dict[str, Any]:
        return {v.name: v.sample for v in self.variables}

    def check(self, values: dict[str, Any]) -> dict[str, Any]:
        """Values as the model sees them (raises `ValidationError` on a wrong type)."""
        return self.model.model_validate(values).model_dump()


class Catalog:
    def __init__(self, specs: dict[str, MessageSpec]) -> None:
        self._specs = specs

    @classmethod
    def load(cls, path: Path) -> Catalog:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise CatalogError(f"cannot read the message catalogue {path}: {exc}") from exc
        common = cast(dict[str, Any], data.pop("_common", {}))
        specs: dict[str, MessageSpec] = {}
        for name, entry in data.items():
            audience = entry.get("audience")
            if audience not in LIMITS:
                raise CatalogError(f"{path}: [{name}] needs audience customer, staff or button")
            raw = {**common.get(audience, {}).get("variables", {}), **entry.get("variables", {})}
            variables = tuple(_variable(path, name, var, spec) for var, spec in raw.items())
            model = _model(name, variables)
            spec = MessageSpec(name, audience, entry.get("description", ""), variables, model)
            try:
                spec.check(spec.samples())
            except ValidationError as exc:
                raise CatalogError(f"{path}: [{name}] sample values: {exc}") from exc
            specs[name] = spec
        return cls(specs)

    def __contains__(self, name: str) -> bool:
        return name in self._specs

    def __getitem__(self, name: str) -> MessageSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise CatalogError(
                f"no message named {name!r} (`escalator templates list` shows them all)"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._specs)


def _variable(path: Path, message: str, name: str, spec: dict[str, Any]) -> Variable:
    kind = str(spec.get("type", ""))
    if kind.rstrip("?") not in _TYPES:
        raise CatalogError(f"{path}: [{message}] variable {name}: unknown type {kind!r}")
    return Variable(name, kind, spec.get("sample"))


def _model(message: str, variables: tuple[Variable, ...]) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for var in variables:
        python = _TYPES[var.type.rstrip("?")]
        fields[var.name] = (python | None, None) if var.type.endswith("?") else (python, ...)
    return create_model(f"Message_{message}", __config__=ConfigDict(extra="allow"), **fields)
