"""Send pacing: two lanes, per-chat spacing from responses, 429 pauses, priority connections."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from bot.delivery.ratelimit import MARGIN, Lane, LocalBudget, Pacer, Priority


def _fake_time() -> tuple[list[float], Callable[[float], Awaitable[None]]]:
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    return now, sleep


def _pacer(
    overall: float, per_chat: float, reply_rate: float = 1000.0, **kw: object
) -> tuple[list[float], Pacer]:
    now, sleep = _fake_time()
    budget = LocalBudget(overall, monotonic=lambda: now[0], sleep=sleep)
    pacer = Pacer(budget, reply_rate, per_chat, monotonic=lambda: now[0], sleep=sleep, **kw)  # type: ignore[arg-type]
    return now, pacer


async def test_unprompted_sends_are_paced_overall_and_per_chat() -> None:
    now, pacer = _pacer(overall=10, per_chat=1)
    starts = []
    for chat in range(25):
        async with pacer.slot(str(chat)) as lane:
            assert lane is Lane.UNPROMPTED
            starts.append(now[0])
            now[0] += 0.02  # the request's round trip
    for first, later in zip(starts, starts[10:], strict=False):
        assert later - first >= 1.0  # never 11 sends in a second at 10/s
    assert starts[-1] <= 2 * 1.02 + 0.2  # and no time is lost beyond the round trips
    start = now[0]
    async with pacer.slot("a"):
        now[0] += 0.3
    answered = now[0]
    async with pacer.slot("a"):
        assert now[0] - answered >= 1.0  # a chat's next message: a second after the response
    assert now[0] - start >= 1.3


async def test_a_send_held_back_by_the_overall_window_still_spaces_its_chat() -> None:
    now, pacer = _pacer(overall=2, per_chat=1)
    starts: dict[str, list[float]] = {}
    for chat in ("b", "c", "a", "a"):
        async with pacer.slot(chat):
            starts.setdefault(chat, []).append(now[0])
    first, second = starts["a"]
    assert first == pytest.approx(1.0)  # the window was full with b and c until then
    assert second - first >= 1.0  # one second per chat, counted from the real start


async def test_a_send_occupies_the_window_until_a_second_after_it_ends() -> None:
    now, sleep = _fake_time()
    budget = LocalBudget(1, monotonic=lambda: now[0], sleep=sleep)
    token = await budget.acquire()
    now[0] += 0.5  # answered after half a second
    budget.release(token)
    token = await budget.acquire()
    assert now[0] == pytest.approx(1.5)
    now[0] += 0.5
    budget.release(token)  # a failed send counts too: it may have arrived
    failed_at = now[0]
    await budget.acquire()
    assert now[0] == pytest.approx(failed_at + 1.0)


async def test_a_credit_takes_a_share_of_the_fastest_round_trip_off_the_window() -> None:
    now, sleep = _fake_time()
    budget = LocalBudget(1, credit=0.45, monotonic=lambda: now[0], sleep=sleep)
    token = await budget.acquire()
    now[0] += 0.1  # a 100 ms round trip: the server counted it some time in between
    budget.release(token)
    answered = now[0]
    token = await budget.acquire()
    assert now[0] == pytest.approx(answered + 1.0 - (0.45 * 0.1 - MARGIN))
    now[0] += 0.002  # a fast local server: the loop's lag dwarfs the network, nothing credited
    budget.release(token)
    answered = now[0]
    await budget.acquire()
    assert now[0] == pytest.approx(answered + 1.0)


async def test_a_lagging_stretch_of_slow_round_trips_never_raises_the_credit() -> None:
    now, sleep = _fake_time()
    budget = LocalBudget(1, credit=0.8, monotonic=lambda: now[0], sleep=sleep)
    for round_trip in (0.1, *[0.5] * 50):  # the fastest, then a long stretch of loop lag
        token = await budget.acquire()
        now[0] += round_trip
        budget.release(token)
        answered = now[0]
    await budget.acquire()
    assert now[0] == pytest.approx(answered + 1.0 - (0.8 * 0.1 - MARGIN))


async def test_below_one_message_a_second_the_window_widens() -> None:
    now, pacer = _pacer(overall=0.5, per_chat=10)
    starts = []
    for chat in "abc":
        async with pacer.slot(chat):
            starts.append(now[0])
    assert starts[1] - starts[0] >= 2.0
    assert starts[2] - starts[1] >= 2.0


async def test_replies_do_not_wait_for_the_unprompted_budget() -> None:
    pacer = Pacer(LocalBudget(1), reply_rate=1000, per_chat=1)
    async with pacer.slot("campaign-1"):
        pass  # the unprompted window is now full for a second
    queued = asyncio.create_task(_send(pacer, "campaign-2", None))
    async with pacer.slot("customer", Priority(reply=True)) as lane:
        assert lane is Lane.REPLY
        assert not queued.done()  # the campaign still waits; the answer went ahead
    assert await queued is Lane.UNPROMPTED


async def test_a_waiting_unprompted_send_promoted_to_a_reply_goes_at_once() -> None:
    pacer = Pacer(LocalBudget(1), reply_rate=1000, per_chat=1)
    async with pacer.slot("other"):
        pass
    priority = Priority(reply=False)
    checkin = asyncio.create_task(_send(pacer, "customer", priority))
    await _until(lambda: priority.waiting)
    priority.promote()  # a reply to the same customer is queued behind it
    assert await asyncio.wait_for(checkin, 0.5) is Lane.REPLY


async def test_a_429_pauses_its_chat_and_unprompted_lane_and_two_chats_pause_the_bot() -> None:
    now, pacer = _pacer(overall=30, per_chat=100)
    pacer.flooded("a", Lane.REPLY, 3.0)
    async with pacer.slot("b", Priority(reply=True)):
        assert now[0] == 0  # another chat's reply is not held back by one chat's 429
    async with pacer.slot("a", Priority(reply=True)):
        assert now[0] == pytest.approx(3.0)  # the refused chat waits its retry_after
    pacer.flooded("c", Lane.UNPROMPTED, 2.0)
    paused_at = now[0]
    async with pacer.slot("d", Priority(reply=True)):
        # an unprompted 429 does not stop replies...
        assert now[0] == pytest.approx(paused_at, abs=0.01)
    async with pacer.slot("e"):
        # ...but pauses the unprompted budget
        assert now[0] == pytest.approx(paused_at + 2.0, abs=0.01)
    start = now[0]
    pacer.flooded("f", Lane.REPLY, 5.0)
    pacer.flooded("g", Lane.REPLY, 5.0)  # a second chat within the pause: the whole bot
    async with pacer.slot("h", Priority(reply=True)):
        assert now[0] == pytest.approx(start + 5.0, abs=0.01)


async def test_replies_get_a_free_connection_before_unprompted_sends() -> None:
    pacer = Pacer(LocalBudget(1000), reply_rate=1000, per_chat=1000, connections=1)
    order: list[str] = []
    release = asyncio.Event()

    async def hold() -> None:
        async with pacer.slot("x", Priority(reply=True)):
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    unprompted = asyncio.create_task(_send(pacer, "u", None, order))
    reply = asyncio.create_task(_send(pacer, "r", Priority(reply=True), order))
    await _until(lambda: len(pacer._connections._waiting[False]) == 1)
    await _until(lambda: len(pacer._connections._waiting[True]) == 1)
    release.set()
    await asyncio.gather(holder, unprompted, reply)
    assert order == ["r", "u"]


async def _send(
    pacer: Pacer, chat: str, priority: Priority | None, order: list[str] | None = None
) -> Lane:
    async with pacer.slot(chat, priority) as lane:
        if order is not None:
            order.append(chat)
        return lane


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0)

    await asyncio.wait_for(poll(), timeout)
