"""Templates cannot exhaust the machine: every render is bounded while it runs.

Each payload here cost seconds and gigabytes per message before the bounds existed (and
`templates set` itself hung on the nested loops). Validation refuses each with one clear line;
one that only trips with real values falls back to the last good version at run time. The time
and memory of these renders are measured by `bench/template_bounds.py`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.messages.catalog import Catalog
from bot.messages.templates import Format, Renderer
from bot.messages.validation import validate
from tests.conftest import Harness

ROOT = Path(__file__).resolve().parents[2] / "templates" / "messages"
CATALOG = Catalog.load(ROOT / "catalog.toml")

NESTED = "{% for a in range(500) %}" * 4 + "x" + "{% endfor %}" * 4
PAYLOADS = {
    "ljust": ("{{ 'x'.ljust(999999999) }}", "ljust(999999999) is too large"),
    "rjust": ("{{ first_name.rjust(999999999) }}", "rjust(999999999) is too large"),
    "percent filter": ("{{ '%999999999s'|format(first_name) }}", "'%999999999' is too wide"),
    "percent operator": ("{{ '%999999999s' % first_name }}", "'%999999999' is too wide"),
    "percent star": ("{{ '%*s' % (999999999, first_name) }}", "'%*s' widths are not allowed"),
    "str.format": ("{{ '{:>999999999}'.format(first_name) }}", "is too wide"),
    "nested format": ("{{ '{:>{w}}'.format(first_name, w=999999999) }}", "is too wide"),
    "precision": ("{{ '{:.999999999f}'.format(1.5) }}", "is too wide"),
    "center filter": ("{{ first_name|center(1000000000) }}", "width(1000000000) is too large"),
    "center float": ("{{ first_name|center(1e9) }}", "cannot be interpreted as an integer"),
    "indent": ("{{ first_name|indent(999999999) }}", "width(999999999) is too large"),
    "wordwrap": (
        "{{ ('a ' * 9000)|wordwrap(1, wrapstring='x' * 9000) }}",
        "wordwrap of",
    ),
    "truncate": ("{{ first_name|truncate(999999999) }}", "length(999999999) is too large"),
    "replace": ("{{ ('x' * 20000).replace('', 'y' * 20000) }}", "replace() of"),
    "batch": ("{{ range(10)|batch(999999999, 0)|list }}", "linecount(999999999) is too large"),
    "slice": ("{{ range(10)|slice(999999999)|list }}", "slices(999999999) is too large"),
    "to_bytes": ("{{ (1).to_bytes(999999999, 'big') }}", "to_bytes(999999999) is too large"),
    "three nested loops": (
        "{% for a in range(500) %}" * 3 + "x" + "{% endfor %}" * 3,
        "may run at most 2000 times",
    ),
    "four nested loops": (NESTED, "may run at most 2000 times"),
    "recursive macro": (
        "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
        "may nest at most 20 deep",
    ),
    "recursive loop": (
        "{% for x in [[1]] recursive %}{{ loop([x]) }}{% endfor %}",
        "may nest at most 20 deep",
    ),
    "doubling with ~": (
        "{% set ns = namespace(s='xx') %}{% for i in range(40) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
        "too large for a message",
    ),
    "doubling with +": (
        "{% set ns = namespace(s='xx') %}{% for i in range(40) %}"
        "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
        "too large for a message",
    ),
    "output in a loop": (
        "{% set big = 'x' * 20000 %}{% for i in range(500) %}{{ big }}{% endfor %}",
        "at most 1000000 characters in all",
    ),
    "literal text in a loop": (
        "{% for i in range(500) %}" + "y" * 19_000 + "{% endfor %}",
        "at most 1000000 characters in all",
    ),
    "inside a macro": (
        "{% macro m() %}{% set big = 'x' * 20000 %}{% for i in range(500) %}{{ big }}"
        "{% endfor %}{% endmacro %}{{ m() }}",
        "at most 1000000 characters in all",
    ),
    "a list shown": (
        "{% set big = 'x' * 20000 %}{{ [big, big, big, big, big] }}",
        "too large for a message",
    ),
    "lipsum": ("{{ lipsum(999999999) }}", "unknown variable 'lipsum'"),
}


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_validation_refuses_each_payload_with_one_clear_line(payload: tuple[str, str]) -> None:
    source, expected = payload
    problems = validate(CATALOG["checkin"], source, Renderer(ROOT), "en")
    assert len(problems) == 1, problems
    (problem,) = problems
    assert expected in str(problem)
    assert "\n" not in str(problem)


def test_ordinary_templates_stay_within_the_bounds() -> None:
    renderer = Renderer(ROOT)
    source = (
        "{% for row in range(10) %}{{ loop.index }}. {{ first_name|upper|center(20) }}"
        "{{ '%05.1f'|format(3.14159) }} {{ '{:>8}'.format(reason) }}\n{% endfor %}"
        "{% macro stars(n) %}{{ '*' * n }}{% endmacro %}{{ stars(5) }}"
    )
    assert validate(CATALOG["checkin"], source, renderer, "en") == []
    renderer.set_overrides({"en/checkin.j2": source})
    text = renderer.render(
        "checkin", {"first_name": "ada", "reason": "welcome"}, locale="en", fmt=Format.HTML
    )
    assert text.startswith("1.         ADA         003.1  welcome") and text.endswith("*****")


def test_a_version_tripping_a_bound_at_run_time_falls_back_to_the_last_good_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    renderer = Renderer(ROOT)
    renderer.set_overrides({"en/welcome.j2": "Welcome, good version"})
    values = {"first_name": "Eve"}
    assert renderer.render("welcome", values, locale="en", fmt=Format.HTML) == (
        "Welcome, good version"
    )
    # passes validation with the sample name, but not with this customer's
    bomb = "{% if first_name == 'Eve' %}" + NESTED + "{% else %}Hi{% endif %}"
    assert validate(CATALOG["welcome"], bomb, renderer, "en") == []
    renderer.set_overrides({"en/welcome.j2": bomb})
    with caplog.at_level(logging.ERROR):
        text = renderer.render("welcome", values, locale="en", fmt=Format.HTML)
    assert text == "Welcome, good version"
    (record,) = [r for r in caplog.records if "failed at run time" in r.getMessage()]
    assert "may run at most 2000 times" in record.getMessage()


async def test_templates_set_refuses_a_payload_promptly(harness: Harness, tmp_path: Path) -> None:
    async with harness.open() as rt:
        problems = rt.templates.check("checkin", NESTED, "en")
        assert [p.message for p in problems] == [
            "not allowed in a message: loops and calls in a message may run at most "
            "2000 times in all"
        ]
