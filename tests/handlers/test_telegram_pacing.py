"""Replies are not broadcasts: over real HTTP to a Bot API stand-in with Telegram's limits
(30 unprompted messages a second, one a second per chat), a burst of customers and a check-in
wave. The figures themselves come from `bench/`; these tests hold the behaviour, with margins
wide enough for a busy machine and still far from what pacing every send at 30/s gives."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from bot.clock import ManualClock
from bot.flows.common import new_customer
from bot.flows.model import CustomerKey, Profile
from bot.storage.codec import CUSTOMER_COLUMNS, CUSTOMER_LIST, customer_to_row
from bot.storage.sqlite import SQLiteStorage
from tests.fakes.telegram_api import FakeBotApi
from tests.handlers.conftest import running_bot


async def seed_checkins(db: Path, users: range) -> None:
    """Customers whose check-ins are due now (written straight into the file, before start)."""
    store = await SQLiteStorage.open(db)
    await store.close()
    now = datetime.now(UTC)
    rows = [
        customer_to_row(new_customer(CustomerKey("telegram", str(u)), Profile("Ann", "en"), now))
        for u in users
    ]
    marks = ", ".join("?" * len(CUSTOMER_COLUMNS))
    with closing(sqlite3.connect(db)) as raw, raw:
        raw.executemany(
            f"INSERT INTO customers ({CUSTOMER_LIST}, version) VALUES ({marks}, 1)", rows
        )
        raw.executemany(
            "INSERT INTO jobs (customer_id, kind, due_at, payload, created_at) "
            "VALUES (?, 'checkin', ?, '{\"reason\": \"periodic\"}', ?)",
            [(f"telegram:{u}", now.timestamp() - 1, now.timestamp()) for u in users],
        )


def answer_times(api: FakeBotApi, asked: dict[int, float]) -> list[float]:
    """For each user who wrote: from writing to their first message arriving, sorted."""
    first: dict[int, float] = {}
    for arrival in api.arrivals:
        if arrival.status == 200 and arrival.chat in asked:
            first.setdefault(arrival.chat, arrival.at)
    return sorted(first[user] - at for user, at in asked.items())


async def test_a_burst_of_customers_is_answered_within_a_second(
    api: FakeBotApi, tmp_path: Path
) -> None:
    api.bulk_limit, api.chat_limit = 30, 1
    users = range(5000, 5200)
    async with running_bot(api, tmp_path / "t.db", ManualClock(), TELEGRAM_RATE_PER_CHAT="1"):
        asked = {}
        for user in users:
            api.text(user, "/start")
            asked[user] = time.monotonic()
        await api.wait_for(lambda: all(api.texts_to(u) for u in users), timeout=60)
    waits = answer_times(api, asked)
    assert api.flood_hits == 0
    assert all(a.reply for a in api.arrivals)  # answers, not bulk messages, as Telegram sees it
    # 200 answers at 30/s would take 6.6 s; as replies they all go within the second
    assert waits[int(len(waits) * 0.99) - 1] <= 2.5, waits[-5:]


async def test_during_a_checkin_wave_writers_are_answered_at_once(
    api: FakeBotApi, tmp_path: Path
) -> None:
    api.bulk_limit, api.chat_limit = 30, 1
    wave = range(7000, 7240)  # 8 s of check-ins at 30/s
    db = tmp_path / "t.db"
    await seed_checkins(db, wave)
    async with running_bot(api, db, ManualClock(), TELEGRAM_RATE_PER_CHAT="1"):
        await api.wait_for(lambda: api.count("sendMessage") >= 30, timeout=30)
        asked: dict[int, float] = {}
        for writer in range(9000, 9020):  # one customer writes every 0.2 s during the wave
            api.text(writer, "/start")
            asked[writer] = time.monotonic()
            await asyncio.sleep(0.2)
        assert api.count("sendMessage") < len(wave)  # they wrote while the wave was going out
        await api.wait_for(lambda: all(api.texts_to(u) for u in [*wave, *asked]), timeout=60)
    waits = answer_times(api, asked)
    checkins = [a.at for a in api.arrivals if a.status == 200 and a.chat in wave]
    rate = (len(checkins) - 1) / (checkins[-1] - checkins[0])
    assert api.flood_hits == 0
    assert sorted(len(api.texts_to(u)) for u in wave) == [1] * len(wave)  # each exactly once
    # behind the queue an answer would wait seconds; beside it, a fraction of one
    assert waits[-1] <= 1.0, waits
    assert rate >= 25, rate  # the wave keeps its pace (the stand-in refuses more than 30/s)
