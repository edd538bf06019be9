"""Bad requests get a clear status, never a 500 or a stored update that fails later."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest_asyncio
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.handlers.web import SECRET_HEADER, WebServer, build_web_app
from tests.handlers.conftest import free_port

SECRET = "s3cret"


@pytest_asyncio.fixture
async def server() -> AsyncIterator[tuple[str, list[int]]]:
    accepted: list[int] = []

    async def accept(update_id: int, body: str) -> None:
        accepted.append(update_id)

    slack = AsyncApp(client=AsyncWebClient(token="xoxb-test"), signing_secret="8f742231b10e8888")
    port = free_port()
    web = WebServer(
        build_web_app(
            telegram_path="/hook",
            telegram_secret=SECRET,
            accept_update=accept,
            slack_app=slack,
        ),
        "127.0.0.1",
        port,
    )
    await web.start()
    try:
        yield f"http://127.0.0.1:{port}", accepted
    finally:
        await web.stop()


async def post(url: str, body: str, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
        return r.status


async def test_a_webhook_update_of_the_wrong_shape_gets_400_and_is_not_stored(
    server: tuple[str, list[int]],
) -> None:
    base, accepted = server
    headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    for update in (
        {"update_id": 1, "message": "not an object"},
        {"update_id": 2, "message": {"chat": 5}},
        {"update_id": 3, "callback_query": [1, 2]},
    ):
        assert await post(f"{base}/hook", json.dumps(update), headers) == 400, update
    good = {
        "update_id": 4,
        "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}},
    }
    assert await post(f"{base}/hook", json.dumps(good), headers) == 200
    assert accepted == [4]


async def test_a_non_numeric_slack_timestamp_gets_401(server: tuple[str, list[int]]) -> None:
    base, _ = server
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": "yesterday",
        "X-Slack-Signature": "v0=00",
    }
    assert await post(f"{base}/slack/events", "{}", headers) == 401
    headers["X-Slack-Request-Timestamp"] = "１２３"  # digits, but not ASCII ones
    assert await post(f"{base}/slack/events", "{}", headers) == 401
