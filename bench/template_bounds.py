"""Render bounds: how long and how much memory a hostile admin template costs per message.

Each payload (from the hardening issue) is stored as the admin version of `welcome` and
rendered the way the bot renders at run time: the render trips a bound, the failure is logged,
and the shipped text is rendered instead. Time: median of interleaved repeats after a warm-up,
next to the shipped `welcome` rendered in the same rounds (the peer). Memory: the peak of
Python allocations during one such render (tracemalloc), after the warm-up.

    python bench/template_bounds.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
import tracemalloc

from common import ROOT, Result, environment

from bot.messages.templates import Format, Renderer

LOOPS = "{% for a in range(500) %}" * 4 + "x" + "{% endfor %}" * 4
PAYLOADS = {
    "'x'.ljust(999999999)": "{{ 'x'.ljust(999999999) }}",
    "'%999999999s'|format": "{{ '%999999999s'|format(first_name) }}",
    "'{:>999999999}'.format": "{{ '{:>999999999}'.format(first_name) }}",
    "|center(1e9)": "{{ first_name|center(1000000000) }}",
    "3 nested range(500)": "{% for a in range(500) %}" * 3 + "x" + "{% endfor %}" * 3,
    "4 nested range(500)": LOOPS,
    "4 nested, output each": LOOPS.replace("x", "{{ first_name }}"),
    "recursive macro": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "doubling string": "{% set ns = namespace(s='xx') %}{% for i in range(40) %}"
    "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
    "20 kB x 500 output": "{% set b = 'x' * 20000 %}{% for i in range(500) %}{{ b }}{% endfor %}",
}


def render(renderer: Renderer) -> str:
    return renderer.render("welcome", {"first_name": "Ada"}, locale="en", fmt=Format.HTML)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    logging.disable(logging.ERROR)  # each render logs its fallback; not what is measured
    shipped = Renderer(ROOT / "templates" / "messages")
    hostile: dict[str, Renderer] = {}
    for name, source in PAYLOADS.items():
        hostile[name] = Renderer(ROOT / "templates" / "messages")
        hostile[name].set_overrides({"en/welcome.j2": source})
        assert render(hostile[name]) == render(shipped), name  # warm-up; falls back
    times: dict[str, list[float]] = {name: [] for name in ["shipped", *PAYLOADS]}
    for _ in range(args.repeats):
        for name, renderer in [("shipped", shipped), *hostile.items()]:
            started = time.perf_counter()
            render(renderer)
            times[name].append(time.perf_counter() - started)
    peaks: dict[str, float] = {}
    for name, renderer in [("shipped", shipped), *hostile.items()]:
        tracemalloc.start()
        render(renderer)
        peaks[name] = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
    print(f"template bounds — {environment()}")
    print("| payload | median ms | peak MB |")
    for name in times:
        print(f"  {name:<26} {medians[name]:8.2f} {peaks[name]:8.2f}")
    slowest = max(PAYLOADS, key=lambda n: medians[n])
    hungriest = max(PAYLOADS, key=lambda n: peaks[n])
    ratio = medians[slowest] / medians["shipped"]
    print(
        Result(
            "hostile template render, slowest payload",
            medians[slowest],
            "ms",
            "< 50 ms",
            medians[slowest] < 50,
            f"{slowest}; {ratio:.0f}x the shipped welcome ({medians['shipped']:.2f} ms)",
        ).row()
    )
    print(
        Result(
            "hostile template render, peak memory",
            peaks[hungriest],
            "MB",
            "< 50 MB",
            peaks[hungriest] < 50,
            f"{hungriest} (Python allocations, tracemalloc)",
        ).row()
    )


if __name__ == "__main__":
    main()
