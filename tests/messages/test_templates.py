"""Templates: the shipped catalogue, the sandbox, validation, versions and escaping."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.errors import InvalidInput
from bot.flows.model import CustomerKey, Profile, Start
from bot.messages.catalog import Catalog
from bot.messages.templates import Format, Renderer
from bot.messages.validation import ValidationFailed, validate
from tests.conftest import Harness

ROOT = Path(__file__).resolve().parents[2] / "templates" / "messages"
CATALOG = Catalog.load(ROOT / "catalog.toml")
RENDERER = Renderer(ROOT)
LOCALES = RENDERER.locales()


def test_every_locale_is_complete_and_catalogued() -> None:
    assert LOCALES == ["de", "en"]
    for locale in LOCALES:
        files = sorted(p.stem for p in (ROOT / locale).glob("*.j2"))
        assert files == CATALOG.names(), locale


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", CATALOG.names())
def test_every_shipped_template_renders_with_its_samples(name: str, locale: str) -> None:
    source = RENDERER.shipped(name, locale)
    assert source is not None
    assert validate(CATALOG[name], source, RENDERER, locale) == []


def problems(name: str, source: str) -> list[str]:
    return [str(p) for p in validate(CATALOG[name], source, RENDERER, "en")]


def test_syntax_errors_name_the_line() -> None:
    (problem,) = problems("checkin", "Hello\n{% if first_name %}\nHi")
    assert problem.startswith("[en] line 3: syntax error")


def test_unknown_variables_are_refused_with_line_and_name() -> None:
    (problem,) = problems("checkin", "Hi\n{{ frist_name }}")
    assert problem.startswith("[en] line 2: unknown variable 'frist_name'")
    assert "first_name" in problem and "reason" in problem


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ ''.__class__ }}", "not allowed in a message"),
        ("{{ cycler.__init__.__globals__ }}", "not allowed in a message"),
        ("{{ first_name.__class__.__mro__ }}", "not allowed in a message"),
        ("{{ 'a' * 1000000 }}", "too large for a message"),
        ("{% for i in range(1000000) %}x{% endfor %}", "range() is limited"),
        ("{{ 9 ** 9999 }}", "exponents above 64"),
        (
            "{{ 'x' * 5000 }}",
            "renders to 5000 characters with the sample values; Telegram allows 4096",
        ),
        ("<div>{{ first_name }}</div>", "Telegram does not support the tag <div>"),
        ("{% if false %}x{% endif %}", "renders to nothing"),
        ("{{ reason.missing }}", "has no attribute 'missing'"),
        ("x" * 20_001, "the template is 20001 characters"),
    ],
)
def test_the_sandbox_and_the_limits_refuse_clearly(source: str, expected: str) -> None:
    found = problems("checkin", source)
    assert any(expected in p for p in found), found


def test_button_labels_are_short() -> None:
    (problem,) = problems("button_yes", "Yes " * 20)
    assert "a button label allows 64" in problem


def test_locale_fallback_is_per_message(tmp_path: Path) -> None:
    for locale in ("en", "de"):
        (tmp_path / locale).mkdir()
    (tmp_path / "en" / "hello.j2").write_text("Hello {{ name }}")
    (tmp_path / "en" / "bye.j2").write_text("Bye")
    (tmp_path / "de" / "hello.j2").write_text("Hallo {{ name }}")
    renderer = Renderer(tmp_path)
    assert renderer.render("hello", {"name": "Ada"}, locale="de-AT", fmt=Format.HTML) == (
        "Hallo Ada"
    )
    assert renderer.render("bye", {}, locale="de", fmt=Format.HTML) == "Bye"
    assert renderer.render("hello", {"name": "Ada"}, locale="pt-BR", fmt=Format.HTML) == (
        "Hello Ada"
    )
    assert RENDERER.render("stale_button", {}, locale="de_DE", fmt=Format.TEXT).startswith(
        "Dieser Button"
    )


def test_hostile_customer_values_are_escaped_on_both_platforms() -> None:
    name = '<b>Eve</b> & <!channel> <https://evil.example|invoice> "quoted"'
    html = RENDERER.render("welcome", {"first_name": name}, locale="en", fmt=Format.HTML)
    assert "&lt;b&gt;Eve&lt;/b&gt; &amp; &lt;!channel&gt;" in html and "<b>Eve" not in html
    case = dict(CATALOG["staff_case_card"].samples()["case"], customer_name=name, trigger=name)
    mrkdwn = RENDERER.render("staff_case_card", {"case": case}, locale=None, fmt=Format.MRKDWN)
    assert "<!channel>" not in mrkdwn and "<https://evil" not in mrkdwn
    assert "&lt;!channel&gt; &lt;https://evil.example|invoice&gt;" in mrkdwn
    assert '"quoted"' in mrkdwn  # Slack shows quotes as they are: no &quot; noise


async def test_versions_save_rollback_reset_and_history(harness: Harness) -> None:
    async with harness.open() as rt:
        t = rt.templates
        with pytest.raises(ValidationFailed, match="line 1: unknown variable 'frist_name'"):
            await t.save("checkin", "Hi {{ frist_name }}", locale="en", author="ann")
        assert await t.save("checkin", "v2 {{ first_name }}", locale="en", author="ann") == 2
        assert await t.save("checkin", "v3 {{ first_name }}", locale="en", author="bo") == 3
        render = rt.renderer.render
        assert (
            render("checkin", {"first_name": "A", "reason": "x"}, locale="en", fmt=Format.TEXT)
            == "v3 A"
        )
        assert await t.rollback("checkin", 2, locale="en", author="cy") == 4
        assert (
            render("checkin", {"first_name": "A", "reason": "x"}, locale="en", fmt=Format.TEXT)
            == "v2 A"
        )
        assert await t.rollback("checkin", 1, locale="en", author="cy") == 5
        assert "quick check-in" in render(
            "checkin", {"first_name": "A", "reason": "welcome"}, locale="en", fmt=Format.TEXT
        )
        await t.save("checkin", "v6", locale="en", author="ann")
        assert await t.reset("checkin", locale="en", author="ann") == 7
        history = await t.history("checkin", "en")
        with pytest.raises(InvalidInput, match="no version 9"):
            await t.rollback("checkin", 9, locale="en", author="ann")
    assert [(v.number, v.author, v.shipped) for v in history] == [
        (1, "shipped", True),
        (2, "ann", False),
        (3, "bo", False),
        (4, "cy", False),
        (5, "cy", True),
        (6, "ann", False),
        (7, "ann", True),
    ]
    assert history[3].comment == "rollback to version 2"


async def test_a_running_bot_uses_a_new_version_without_restart(harness: Harness) -> None:
    harness.settings = load_settings(
        DATABASE_URL=harness.settings.database_url, TEMPLATE_REFRESH="0"
    )
    async with harness.open() as bot, harness.open() as admin:
        await bot.engine.handle(Start(key=CustomerKey("test", "t1")))
        await bot.settle()
        await admin.templates.save(
            "checkin", "Edited: how are you, {{ first_name or 'friend' }}?", locale="en", author="a"
        )
        harness.clock.advance(timedelta(days=2))
        await bot.settle()
    assert harness.customers.sent[-1].text == "Edited: how are you, friend?"


async def test_button_labels_follow_a_version_saved_by_another_process(harness: Harness) -> None:
    """Labels are remembered (`Renderer.label`) until the templates change, in any process."""
    harness.settings = load_settings(
        DATABASE_URL=harness.settings.database_url, TEMPLATE_REFRESH="0"
    )
    first, second = CustomerKey("test", "t1"), CustomerKey("test", "t2")
    async with harness.open() as bot, harness.open() as admin:
        await bot.engine.handle(Start(key=first, inbound_id="s1"))
        harness.clock.advance(timedelta(days=2))
        await bot.settle()
        await bot.engine.handle(Start(key=second, inbound_id="s2"))
        await admin.templates.save("button_checkin_great", "Super", locale="en", author="a")
        harness.clock.advance(timedelta(days=2))
        await bot.settle()
    labels = {
        sent.key: [label for row in sent.buttons for label, _ in row]
        for sent in harness.customers.sent
        if sent.template == "checkin"
    }
    assert labels[first][0] != "Super" and labels[second][0] == "Super"
    assert labels[first][1:] == labels[second][1:]


async def test_a_version_failing_at_run_time_falls_back_and_is_logged(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    async with harness.open() as rt:
        await rt.templates.save("welcome", "Welcome v2!", locale="en", author="a")
        assert rt.renderer.render("welcome", {}, locale="en", fmt=Format.TEXT) == "Welcome v2!"
        # a version that validation would refuse, written behind its back
        await rt.storage.templates.add_version(
            "welcome", "en", "{{ missing.value }}", "intruder", "", harness.clock.now()
        )
        await rt.templates.refresh(force=True)
        with caplog.at_level(logging.ERROR):
            text = rt.renderer.render("welcome", {}, locale="en", fmt=Format.TEXT)
    assert text == "Welcome v2!"
    assert "failed at run time" in caplog.text


def test_customer_attributes_are_declared_and_undeclared_names_still_refused() -> None:
    vip = (
        '{% if "Brand ambassador" in badges %}Hi {{ first_name }}, our ambassador!'
        "{% else %}Hi {{ first_name }} ({{ stage }}, {{ purchases }} orders, from {{ source }})!"
        "{% endif %}{% if segments %} [{{ segments|join(', ') }}]{% endif %}"
    )
    assert problems("checkin", vip) == []
    assert problems("campaign_message", vip + " {{ campaign }} {{ step }}/{{ steps }}") == []
    (problem,) = problems("checkin", "Hi {{ tier }}")
    assert "unknown variable 'tier'" in problem and "badges" in problem
    (problem,) = problems("staff_help", "{{ stage }}")  # staff messages are about no customer
    assert "unknown variable 'stage'" in problem


async def test_an_edited_checkin_uses_the_customers_attributes(harness: Harness) -> None:
    key = CustomerKey("test", "attrs")
    async with harness.open() as rt:
        await rt.templates.save(
            "checkin",
            "Hi {{ first_name }}: {{ stage }}, {{ language }}, {{ purchases }} orders, "
            "{{ referrals }} friends, badges {{ badges|join(',') or 'none' }}",
            locale="en",
            author="ann",
        )
        await rt.engine.handle(Start(key=key, profile=Profile("Ada", "en")))
        harness.clock.advance(timedelta(days=2))
        await rt.settle()
    checkin = [s.text for s in harness.customers.sent if s.template == "checkin"]
    assert checkin == ["Hi Ada: captured, en, 0 orders, 0 friends, badges none"]
