"""Experiments through the real engine, outbox, templates and SQLite with a fake clock: each
customer is shown their variant of the referral prompt, keeps it, and what they do next is
counted for that variant; shipping the winner makes it the prompt's new version."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.app import Runtime
from bot.errors import InvalidInput
from bot.experiments import Experiments, NewVariant
from bot.flows.experiments import Experiment, Goal, Variant, assign
from bot.flows.model import Command, CustomerKey, Profile, Start, Text
from bot.messages.validation import ValidationFailed
from bot.storage.types import Exposure
from tests.conftest import START, Harness

B_TEXT = "Bring a friend, get a treat: {{ code }}"


def key(name: str) -> CustomerKey:
    return CustomerKey("test", name)


def service(rt: Runtime) -> Experiments:
    return Experiments(rt.storage.experiments, rt.templates, rt.clock)


async def start_experiment(rt: Runtime) -> None:
    await service(rt).create(
        "invite",
        "referral_invite",
        [NewVariant("A", 1, None), NewVariant("B", 1, B_TEXT)],
        locale=None,
        goal=Goal.REPLY,
        window=timedelta(days=7),
        author="ann",
    )
    await rt.variants.refresh(force=True)


async def ask_for_link(rt: Runtime, name: str) -> None:
    await rt.engine.handle(Command(key=key(name), name="invite"))
    await rt.settle()


async def test_each_customer_sees_their_variant_and_keeps_it(harness: Harness) -> None:
    names = [f"c{n}" for n in range(12)]
    async with harness.open() as rt:
        await start_experiment(rt)
        secret = await rt.variants.key()
        a_text = rt.renderer.current("referral_invite", "en")
        assert a_text is not None
        for name in names:
            await rt.engine.handle(Start(key=key(name), profile=Profile(name.title(), "en")))
            await ask_for_link(rt, name)
        expected = {
            name: assign(secret, "invite", key(name).id, (await service(rt).get("invite")).variants)
            for name in names
        }
        assert set(expected.values()) == {"A", "B"}  # both variants are in play
        for name in names:
            (prompt,) = [
                s
                for s in harness.customers.sent
                if s.key == key(name) and s.template == "referral_invite"
            ]
            if expected[name] == "B":
                assert prompt.text.startswith("Bring a friend, get a treat: ref-")
            else:
                assert "Bring a friend" not in prompt.text and "ref-" in prompt.text
            assert await rt.storage.experiments.assigned("invite", key(name).id) == expected[name]
        # the first exposure wins over what the hash says (weights changed, say)
        other = "A" if expected["c0"] == "B" else "B"
        await rt.storage.experiments.expose(
            [Exposure("invite", "test:late", other)], rt.clock.now()
        )
        await rt.engine.handle(Start(key=key("late"), profile=Profile("Late", "en")))
        await ask_for_link(rt, "late")
        await ask_for_link(rt, "late")
        late = [
            s.text
            for s in harness.customers.sent
            if s.key == key("late") and s.template == "referral_invite"
        ]
        assert len(late) == 2 and late[0] == late[1]
        assert late[0].startswith("Bring a friend") == (other == "B")

        # a customer who writes afterwards replied (late did: he asked again); the others not
        repliers = names[:5]
        expected["late"] = other
        harness.clock.advance(timedelta(hours=2))
        for name in repliers:
            await rt.engine.handle(Text(key=key(name), text="thanks!"))
        outcomes = {o.variant: o for o in await rt.storage.experiments.outcomes("invite")}
        assert sum(o.exposed for o in outcomes.values()) == len(names) + 1
        for label in ("A", "B"):
            replied = [n for n in [*repliers, "late"] if expected[n] == label]
            assert outcomes[label].replied == len(replied)


async def test_stop_ships_the_winner_as_a_new_version_that_can_be_rolled_back(
    harness: Harness,
) -> None:
    async with harness.open() as rt:
        await start_experiment(rt)
        before = await rt.templates.history("referral_invite", "en")
        number = await service(rt).stop("invite", ship="b", author="ann")
        after = await rt.templates.history("referral_invite", "en")
        assert number == len(before) + 1 == after[-1].number
        assert after[-1].source == B_TEXT and "invite" in after[-1].comment
        assert rt.renderer.current("referral_invite", "en") == B_TEXT
        stopped = await service(rt).get("invite")
        assert (stopped.status, stopped.shipped) == ("stopped", "B")

        # after the experiment everyone gets the message itself, and nobody is exposed
        await rt.variants.refresh(force=True)
        await rt.engine.handle(Start(key=key("zoe"), profile=Profile("Zoe", "en")))
        await ask_for_link(rt, "zoe")
        assert harness.customers.sent[-1].text.startswith("Bring a friend, get a treat: ref-")
        assert await rt.storage.experiments.assigned("invite", "test:zoe") is None

        await rt.templates.rollback("referral_invite", before[-1].number, locale="en", author="x")
        assert rt.renderer.current("referral_invite", "en") == before[-1].source
        with pytest.raises(InvalidInput, match="already stopped"):
            await service(rt).stop("invite", ship="A", author="ann")


async def test_variants_are_validated_like_any_version(harness: Harness) -> None:
    async with harness.open() as rt:
        with pytest.raises(ValidationFailed, match="variant B"):
            await service(rt).create(
                "invite",
                "referral_invite",
                [NewVariant("A", 1, None), NewVariant("B", 1, "Hi {{ undeclared_name }}")],
                locale=None,
                goal=Goal.REPLY,
                window=timedelta(days=7),
                author="ann",
            )
        with pytest.raises(InvalidInput, match="staff message"):
            await service(rt).create(
                "desk",
                "staff_case_opened",
                [NewVariant("A", 1, None), NewVariant("B", 1, None)],
                locale=None,
                goal=Goal.REPLY,
                window=timedelta(days=7),
                author="ann",
            )
        assert await rt.storage.experiments.all() == []


async def test_an_experiment_runs_in_its_locale_only(harness: Harness) -> None:
    async with harness.open() as rt:
        await start_experiment(rt)  # on the English prompt
        german = rt.renderer.current("referral_invite", "de")
        assert german is not None  # German ships its own prompt
        await rt.engine.handle(Start(key=key("udo"), profile=Profile("Udo", "de")))
        await ask_for_link(rt, "udo")
        sent = harness.customers.sent[-1]
        assert sent.template == "referral_invite" and "Bring a friend" not in sent.text
        assert await rt.storage.experiments.assigned("invite", "test:udo") is None
        # a language without its own prompt falls back to English, and so joins the experiment
        await rt.engine.handle(Start(key=key("ines"), profile=Profile("Ines", "pt-BR")))
        await ask_for_link(rt, "ines")
        assert await rt.storage.experiments.assigned("invite", "test:ines") in {"A", "B"}


async def test_a_variant_that_fails_at_run_time_sends_the_message_and_exposes_nobody(
    harness: Harness,
) -> None:
    async with harness.open() as rt:
        # stored without the checks `create` makes (a message's variables changed since, say)
        a, b = Variant("A", 1, "{{ no_such_value }}"), Variant("B", 1, "Hi {{ no_such_value }}")
        await rt.storage.experiments.create(
            Experiment("broken", "referral_invite", "en", Goal.REPLY, 7, (a, b), "x", START)
        )
        await rt.variants.refresh(force=True)
        await rt.engine.handle(Start(key=key("bea"), profile=Profile("Bea", "en")))
        await ask_for_link(rt, "bea")
        sent = harness.customers.sent[-1]
        assert sent.template == "referral_invite" and "ref-" in sent.text  # the message itself
        assert await rt.storage.experiments.assigned("broken", "test:bea") is None
        assert [o.exposed for o in await rt.storage.experiments.outcomes("broken")] == [0, 0]
