"""Bounds on what one render may cost, checked while it runs (Jinja bounds neither CPU nor
memory, and an admin's template is code).

A render may take at most `MAX_STEPS` steps (loop iterations, calls and filter calls, all loops
together, so nested loops multiply into the same budget), nest calls (macros, recursive loops)
at most `MAX_DEPTH` deep, build at most `MAX_BUILT` characters in all (every value output, every
string a call, filter or operator makes, and the literal text of a loop body per iteration) and
no single value larger than `MAX_VALUE`. Width, fill and repeat arguments (`ljust`, `center`,
`'%9s'`, `'{:>9}'`, `indent`, ...) are checked *before* the value is built, so a template can
never make the process allocate a gigabyte and only then be refused. `MAX_SECONDS` is the last
resort for anything the counts miss.

The budget lives in a context variable set for the duration of `Template.render`; the size
checks that need no budget (a width argument, an estimated result) always apply.
"""

from __future__ import annotations

import inspect
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import update_wrapper
from typing import Any

from jinja2.exceptions import SecurityError

from bot.errors import EscalatorError

__all__ = [
    "MAX_BUILT",
    "MAX_DEPTH",
    "MAX_SECONDS",
    "MAX_STEPS",
    "MAX_VALUE",
    "RenderBoundExceeded",
    "bounded_filter",
    "bounded_iter",
    "charge",
    "charge_value",
    "check_call",
    "check_format_spec",
    "check_percent",
    "check_size",
    "enter_call",
    "leave_call",
    "render_budget",
    "size_of",
    "step",
]

MAX_VALUE = 20_000
"""The largest string or list a template may build as one value (characters or items)."""
MAX_BUILT = 1_000_000
"""Characters one render may build in all."""
MAX_STEPS = 2_000
"""Loop iterations, calls and filter calls in one render, all together."""
MAX_DEPTH = 20
"""Nested calls (macros calling macros, recursion) in one render."""
MAX_SECONDS = 0.5


class RenderBoundExceeded(EscalatorError, SecurityError):
    """A template tried to use more than a message may (time, memory, loop iterations, depth).
    A `SecurityError`, so it is reported like the sandbox's other refusals."""


@dataclass
class _Budget:
    deadline: float
    steps: int = 0
    built: int = 0
    depth: int = 0


_BUDGET: ContextVar[_Budget | None] = ContextVar("render_budget", default=None)


@contextmanager
def render_budget() -> Iterator[None]:
    """Give the render about to run (and anything it includes) one budget."""
    if _BUDGET.get() is not None:  # a nested render shares its caller's budget
        yield
        return
    token = _BUDGET.set(_Budget(deadline=time.perf_counter() + MAX_SECONDS))
    try:
        yield
    finally:
        _BUDGET.reset(token)


def step(count: int = 1) -> None:
    budget = _BUDGET.get()
    if budget is None:
        return
    budget.steps += count
    if budget.steps > MAX_STEPS:
        raise RenderBoundExceeded(
            f"loops and calls in a message may run at most {MAX_STEPS} times in all"
        )
    if budget.steps % 64 == 0 and time.perf_counter() > budget.deadline:
        raise RenderBoundExceeded(f"rendering took longer than {MAX_SECONDS:g}s")


def charge(size: int) -> None:
    """Count `size` characters built."""
    budget = _BUDGET.get()
    if budget is None or size < 0:
        return
    budget.built += size
    if budget.built > MAX_BUILT:
        raise RenderBoundExceeded(f"a message may build at most {MAX_BUILT} characters in all")


def enter_call() -> None:
    budget = _BUDGET.get()
    if budget is None:
        return
    step()
    budget.depth += 1
    if budget.depth > MAX_DEPTH:
        raise RenderBoundExceeded(
            f"calls in a message (macros, recursion) may nest at most {MAX_DEPTH} deep"
        )


def leave_call() -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.depth -= 1


def charge_value(value: object) -> None:
    """Check and count a value about to be output or kept."""
    size = len(value) if isinstance(value, str) else size_of(value)
    if size > MAX_VALUE:
        check_size(size)
    budget = _BUDGET.get()
    if budget is not None:
        budget.built += size
        if budget.built > MAX_BUILT:
            charge(0 if budget.built <= MAX_BUILT else 1)


def size_of(value: object, depth: int = 0) -> int:
    """About how many characters `value` becomes when shown, without building that text."""
    if isinstance(value, str):
        return len(value)
    if depth > 4:
        return 16
    if isinstance(value, list | tuple | set | frozenset):
        return 2 + sum(size_of(item, depth + 1) + 2 for item in value)
    if isinstance(value, Mapping):
        return 2 + sum(size_of(k, depth + 1) + size_of(v, depth + 1) + 4 for k, v in value.items())
    return 16


def check_size(size: int, what: str = "a value") -> None:
    if size > MAX_VALUE:
        raise RenderBoundExceeded(
            f"{what} of {size} characters is too large for a message (at most {MAX_VALUE})"
        )


def _check_width(name: str, value: object) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_VALUE:
        raise RenderBoundExceeded(
            f"{name}({value}) is too large for a message (at most {MAX_VALUE})"
        )


_DIGITS = re.compile(r"\d+")


def check_format_spec(spec: str) -> None:
    """`'{:>999999999}'`, `'{:.999999999f}'`: refuse widths and precisions beyond a message."""
    for digits in _DIGITS.findall(spec):
        if len(digits) > 6 or int(digits) > MAX_VALUE:
            raise RenderBoundExceeded(
                f"the format '{{:{spec[:20]}}}' is too wide for a message (at most {MAX_VALUE})"
            )


_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


def check_percent(template: str, args: object) -> None:
    """`'%999999999s' % x`: refuse widths and precisions beyond a message (and `*`, which takes
    them from the arguments)."""
    for width, precision in _PERCENT.findall(template):
        for part in (width, precision):
            if part == "*":
                raise RenderBoundExceeded("'%*s' widths are not allowed in messages")
            if part and (len(part) > 6 or int(part) > MAX_VALUE):
                raise RenderBoundExceeded(
                    f"the format '%{part}' is too wide for a message (at most {MAX_VALUE})"
                )
    check_size(len(template) + size_of(args), "a formatted value")


def _replaced_size(text: str, old: object, new: object, count: object = -1) -> int:
    if not isinstance(old, str) or not isinstance(new, str):
        return len(text)
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * max(0, len(new) - len(old))


def _joined_size(separator: str, items: object) -> int:
    if not isinstance(items, list | tuple):
        return 0  # checked once built: a lazy sequence is bounded by the steps that made it
    return size_of(list(items)) + len(separator) * len(items)


def check_call(obj: object, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse calls of str (and int) methods whose result would be too large, before they run."""
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if isinstance(owner, str):
        if name in {"ljust", "rjust", "center", "zfill"} and args:
            _check_width(name, args[0])
        elif name == "expandtabs":
            tab = args[0] if args else kwargs.get("tabsize", 8)
            _check_width(name, tab)
            if isinstance(tab, int):
                check_size(len(owner) + owner.count("\t") * tab, "expandtabs()")
        elif name == "replace" and len(args) >= 2:
            check_size(_replaced_size(owner, *args[:3]), "replace()")
        elif name == "join" and args:
            check_size(_joined_size(owner, args[0]), "join()")
    elif isinstance(owner, int) and name == "to_bytes":
        _check_width(name, args[0] if args else kwargs.get("length", 1))


_WIDTH_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "center": ("width",),
    "indent": ("width",),
    "wordwrap": ("width",),
    "truncate": ("length", "leeway"),
    "batch": ("linecount",),
    "slice": ("slices",),
    "urlize": ("trim_url_limit",),
}


def _filter_checks(name: str, bound: Mapping[str, Any]) -> None:
    for argument in _WIDTH_ARGUMENTS.get(name, ()):
        _check_width(f"{name}: {argument}", bound.get(argument))
    value = bound.get("value", bound.get("s"))
    text = value if isinstance(value, str) else None
    if name == "indent" and text is not None:
        width = bound.get("width", 4)
        pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        check_size(len(text) + (text.count("\n") + 1) * pad, "indent")
    elif name == "wordwrap" and text is not None:
        width = bound.get("width", 79)
        wrap = bound.get("wrapstring") or "\n"
        lines = len(text) // max(1, width if isinstance(width, int) else 1) + 1
        check_size(len(text) + lines * len(str(wrap)), "wordwrap")
    elif name == "replace" and text is not None:
        count = bound.get("count")
        count = -1 if count is None else count
        check_size(_replaced_size(text, bound.get("old"), bound.get("new"), count), "replace")
    elif name == "format" and text is not None:
        check_percent(text, (bound.get("args"), bound.get("kwargs")))
    elif name == "join":
        check_size(_joined_size(str(bound.get("d", "")), value), "join")
    elif name == "tojson":
        indent = bound.get("indent")
        if isinstance(indent, int) and indent > 16:
            raise RenderBoundExceeded("tojson: indent may be at most 16 in a message")


def bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """`func` (a Jinja filter) with its size arguments checked before it runs and its result
    counted after."""
    try:
        signature: inspect.Signature | None = inspect.signature(func)
    except (TypeError, ValueError):
        signature = None
    checked = {*_WIDTH_ARGUMENTS, "replace", "format", "join", "tojson"}
    precheck = signature is not None and name in checked
    # Jinja's async-capable filters take an evaluation context their signature does not show
    hidden_first = getattr(func, "jinja_pass_arg", None) is not None and (
        getattr(inspect.unwrap(func), "jinja_pass_arg", None) is None
    )

    def bounded(*args: Any, **kwargs: Any) -> Any:
        step()
        if precheck:
            assert signature is not None
            try:
                shown = args[1:] if hidden_first else args
                bound = signature.bind(*shown, **kwargs).arguments
            except TypeError:
                bound = {}  # the filter itself will say what is wrong with its arguments
            _filter_checks(name, bound)
        result = func(*args, **kwargs)
        if isinstance(result, str | list | tuple):
            size = size_of(result)
            check_size(size, f"the result of |{name}")
            charge(size)
        return result

    update_wrapper(bounded, func)
    return bounded


def bounded_iter(iterable: Iterable[Any], weight: int) -> Iterator[Any]:
    """Iterate `iterable`, one step (and `weight` characters of literal text) per item."""
    for item in iterable:
        step()
        charge(weight)
        yield item
