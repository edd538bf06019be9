"""Secrets and personal data stay out of the log: a whole run of the bot as a process, at INFO,
with Telegram and the Slack desk, never writes the bot token or what a customer wrote."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from slack_sdk.signature import SignatureVerifier

from bot.logs import configure_logging
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.telegram_api import FakeBotApi
from tests.handlers.conftest import bot_env, free_port
from tests.handlers.test_slack_e2e import CHANNEL, SAM, SECRET
from tests.handlers.test_telegram_process import ROOT

SAID = ["my parcel arrived broken, zebra-quartz", "still waiting, mauve-sprocket", "thanks"]
SECRET_NAME = "Marigold-Vexley"


@pytest_asyncio.fixture
async def slack_api() -> AsyncIterator[FakeSlackApi]:
    fake = FakeSlackApi(users={SAM: "Sam"})
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


async def signed(port: int, event: dict[str, object], number: int) -> int:
    body = json.dumps(
        {
            "token": "legacy",
            "team_id": "T0SHOP",
            "api_app_id": "A0APP",
            "type": "event_callback",
            "event_id": f"Ev{number:04d}",
            "event_time": int(time.time()),
            "event": event,
        }
    )
    ts = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body),
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"http://127.0.0.1:{port}/slack/events", data=body, headers=headers) as reply,
    ):
        return reply.status


async def test_a_full_run_logs_neither_the_token_nor_what_customers_wrote(
    api: FakeBotApi, slack_api: FakeSlackApi, tmp_path: Path
) -> None:
    slack = slack_api
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))}
    env.update(
        bot_env(
            api,
            tmp_path / "t.db",
            LOG_LEVEL="INFO",
            SLACK_BOT_TOKEN="xoxb-test-secret-token",
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_BASE_URL=slack.base_url,
            SLACK_ESCALATION_CHANNEL=CHANNEL,
            SLACK_STAFF_USERS=SAM,
            PORT=str(port),
            HOST="127.0.0.1",
        )
    )
    bot = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        api.text(6000, "/start", name=SECRET_NAME)
        await api.wait_for(lambda: len(api.texts_to(6000)) == 1, timeout=30)
        api.text(6000, SAID[0], name=SECRET_NAME)
        await slack.wait_for(lambda: len(slack.of("chat.postMessage")) >= 1, timeout=30)
        api.text(6000, SAID[1], name=SECRET_NAME)
        await slack.wait_for(lambda: len(slack.of("chat.postMessage")) >= 2, timeout=30)
        card_ts = slack.of("chat.postMessage")[1]["thread_ts"]  # relayed into the card's thread
        # Slack sends the bot's own posts back as channel messages, and staff replies
        statuses = [
            await signed(
                port,
                {
                    "type": "message",
                    "channel": CHANNEL,
                    "user": "U0BOT",
                    "text": SAID[1],
                    "ts": f"{time.time():.6f}",
                    "bot_id": "B0BOT",
                },
                1,
            ),
            await signed(
                port,
                {
                    "type": "message",
                    "channel": CHANNEL,
                    "user": SAM,
                    "text": "on it",
                    "ts": f"{time.time():.6f}",
                    "thread_ts": card_ts,
                },
                2,
            ),
        ]
        await api.wait_for(lambda: any("on it" in t for t in api.texts_to(6000)), timeout=30)
        api.text(6000, SAID[2], name=SECRET_NAME)
        await slack.wait_for(lambda: len(slack.of("chat.postMessage")) >= 3, timeout=30)
    finally:
        bot.terminate()
        await asyncio.wait_for(bot.wait(), timeout=30)
    assert bot.stderr is not None
    log = (await bot.stderr.read()).decode()
    assert statuses == [200, 200]
    assert "Escalator is running on Telegram" in log  # the log was written, at INFO
    assert api.token not in log and api.token.split(":")[1] not in log
    assert "xoxb-test-secret-token" not in log
    for text in [*SAID[:2], SECRET_NAME]:
        assert text not in log, text
    assert "zebra-quartz" not in log and "mauve-sprocket" not in log


def test_secrets_are_redacted_and_control_characters_escaped_in_any_record(
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = "123456789:AAH-secret-token-value-0123456789abcdefg"
    configure_logging("INFO", secrets=[token, "signing-secret-xyz"])
    try:
        logging.getLogger("httpx").info("HTTP Request: POST https://api/bot%s/getMe", token)
        logging.getLogger("any").warning("rejected %s and signing-secret-xyz", token)
        logging.getLogger("any").warning("a name \x1b[2J\x1b[31mHACKED\nforged line")
        logging.getLogger("slack_bolt.App").info("request body: {'text': 'customer words'}")
        logging.getLogger("slack_bolt.App").warning("Unhandled request ({'text': 'words'})")
    finally:
        logging.getLogger().handlers.clear()
    err = capsys.readouterr().err
    assert token not in err and "signing-secret-xyz" not in err
    assert "rejected [redacted] and [redacted]" in err
    assert "HTTP Request" not in err  # httpx is quiet at INFO
    assert "\x1b" not in err and "\\e[2J\\e[31mHACKED\\nforged line" in err
    assert "customer words" not in err and "words" not in err
    assert "Unhandled request (its body is logged only at DEBUG)" in err
