"""A local Bot API server for tests: real HTTP, the methods Escalator uses, injectable errors.

It follows the Bot API's wire format (https://core.telegram.org/bots/api): every answer is
`{"ok": true, "result": ...}` or `{"ok": false, "error_code": ..., "description": ...}`;
parameters arrive as form fields (JSON-encoded when structured) or as a JSON body.

Flood control, when switched on, follows Telegram's published limits: at most `bulk_limit`
messages a second sent unprompted (to people who did not write to the bot in the last
`reply_window` seconds: bulk notifications), at most `chat_limit` a second to one chat, and
optionally `reply_limit` answers a second overall. Beyond them a `sendMessage` gets 429 with a
`retry_after` of the whole seconds until there is room, as Telegram answers. Limits count
requests when they arrive; `latency` adds a round trip (half before arrival, half after).
Every `sendMessage` that reaches flood control is logged in `arrivals`, accepted or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

BOT_USER = {"id": 999000, "is_bot": True, "first_name": "Escalator", "username": "escalator_bot"}


@dataclass
class Failure:
    status: int
    description: str
    retry_after: int | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


TOO_MANY = Failure(429, "Too Many Requests: retry after 1", retry_after=1)
BLOCKED = Failure(403, "Forbidden: bot was blocked by the user")
SERVER_ERROR = Failure(500, "Internal Server Error")
BAD_REQUEST = Failure(400, "Bad Request: chat not found")


@dataclass(frozen=True)
class Arrival:
    at: float
    """When the request arrived (monotonic seconds)."""
    chat: int
    reply: bool
    """The chat's user wrote to the bot within `reply_window` seconds before."""
    status: int


@dataclass
class FakeBotApi:
    token: str = "123456:TEST-TOKEN"
    bulk_limit: int | None = None
    """Unprompted messages allowed in any one-second window (Telegram: about 30)."""
    chat_limit: float | None = None
    """Messages a second to one chat (Telegram: about 1)."""
    reply_limit: int | None = None
    """Answers allowed in any one-second window (Telegram publishes none)."""
    reply_window: float = 20.0
    """How long after a user's update a message to them counts as an answer."""
    latency: float = 0.0
    """Seconds of round trip added to every call."""
    arrivals: list[Arrival] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """Every call made, including those answered with an error."""
    accepted: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """Calls answered `ok`."""
    updates: list[dict[str, Any]] = field(default_factory=list)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    webhook: dict[str, Any] | None = None
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    flood_hits: int = 0
    send_times: list[float] = field(default_factory=list)
    """When each accepted sendMessage arrived (monotonic seconds)."""
    webhook_connections: int = 1
    """Updates POSTed to a webhook at once (of different users; see `_deliver`)."""

    def __post_init__(self) -> None:
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._bulk_window: deque[float] = deque()
        self._reply_window: deque[float] = deque()
        self._chat_last: dict[int, float] = {}
        self._wrote: dict[int, float] = {}
        self._sent_by_chat: dict[int, list[dict[str, Any]]] = {}
        self._runner: web.AppRunner | None = None
        self._closing = False
        self.stalled = False
        """While set, sendMessage calls hang unanswered (a platform that stopped responding)."""
        self.port = 0
        self._outgoing: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._deliverer: asyncio.Task[None] | None = None

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        self._closing = True
        if self._deliverer is not None:
            self._deliverer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._deliverer
        await self._notify()  # release long polls so the server can close at once
        if self._runner is not None:
            await self._runner.cleanup()

    # --- what tests push ------------------------------------------------------------------

    def push(
        self, kind: str, payload: dict[str, Any], update_id: int | None = None
    ) -> dict[str, Any]:
        update = {"update_id": update_id or next(self._update_ids), kind: payload}
        sender = payload.get("from")
        if isinstance(sender, dict) and isinstance(sender.get("id"), int):
            self._wrote[sender["id"]] = time.monotonic()
        self.updates.append(update)
        asyncio.get_running_loop().create_task(self._notify())
        if self.webhook is not None:  # a webhook is set: the update is POSTed to it
            self._outgoing.put_nowait(update)
            if self._deliverer is None:
                self._deliverer = asyncio.get_running_loop().create_task(self._deliver())
        return update

    def text(self, user: int, text: str, *, name: str = "Ada", lang: str = "en") -> dict[str, Any]:
        message = self._user_message(user, name, lang)
        message["text"] = text
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self.push("message", message)

    def contact(self, user: int, phone: str, *, owner: int | None = None) -> dict[str, Any]:
        """A contact shared in the chat: the user's own (Telegram's contact button), or, with
        another `owner`, someone else's contact card."""
        message = self._user_message(user, "Ada", "en")
        message["contact"] = {
            "phone_number": phone,
            "first_name": "Ada",
            "user_id": user if owner is None else owner,
        }
        return self.push("message", message)

    def sticker(self, user: int) -> dict[str, Any]:
        message = self._user_message(user, "Ada", "en")
        message["sticker"] = {
            "file_id": "stk",
            "file_unique_id": "stk-u",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
        return self.push("message", message)

    def group_command(self, chat: int, user: int, text: str) -> dict[str, Any]:
        message = self._user_message(user, "Ada", "en")
        message["chat"] = {"id": chat, "type": "group", "title": "Friends"}
        message["text"] = text
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
        return self.push("message", message)

    def edited(self, user: int, text: str) -> dict[str, Any]:
        message = self._user_message(user, "Ada", "en")
        message["text"] = text
        message["edit_date"] = int(time.time())
        return self.push("edited_message", message)

    def press(
        self, user: int, message_id: int, data: str, *, chat: int | None = None
    ) -> dict[str, Any]:
        original = self.messages.get(message_id) or {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat or user, "type": "private"},
        }
        query = {
            "id": f"q{next(self._message_ids)}",
            "from": {"id": user, "is_bot": False, "first_name": "Ada", "language_code": "en"},
            "chat_instance": "ci",
            "data": data,
            "message": original,
        }
        return self.push("callback_query", query)

    def block(self, user: int) -> dict[str, Any]:
        person = {"id": user, "is_bot": False, "first_name": "Ada"}
        member = {
            "chat": {"id": user, "type": "private", "first_name": "Ada"},
            "from": person,
            "date": int(time.time()),
            "old_chat_member": {"status": "member", "user": BOT_USER},
            "new_chat_member": {"status": "kicked", "user": BOT_USER, "until_date": 0},
        }
        return self.push("my_chat_member", member)

    def fail_next(self, method: str, *failures: Failure) -> None:
        self.failures.setdefault(method, []).extend(failures)

    # --- what tests read ------------------------------------------------------------------

    def sent_to(self, chat: int) -> list[dict[str, Any]]:
        return list(self._sent_by_chat.get(chat, ()))

    def documents_to(self, chat: int) -> list[dict[str, Any]]:
        """Files sent to `chat`: their name, content (bytes) and caption."""
        return [
            {**params["document"], "caption": params.get("caption")}
            for method, params in self.accepted
            if method == "sendDocument" and int(params["chat_id"]) == chat
        ]

    def texts_to(self, chat: int) -> list[str]:
        return [str(params["text"]) for params in self.sent_to(chat)]

    def count(self, method: str) -> int:
        """How many calls of `method` were accepted."""
        return sum(1 for name, _ in self.accepted if name == method)

    def attempts(self, method: str) -> int:
        """How many calls of `method` were made, accepted or not."""
        return sum(1 for name, _ in self.calls if name == method)

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        async def waiter() -> None:
            async with self._changed:
                await self._changed.wait_for(condition)

        try:
            await asyncio.wait_for(waiter(), timeout)
        except TimeoutError:
            raise AssertionError(f"timed out; calls so far: {self.calls[-8:]}") from None

    # --- the server -----------------------------------------------------------------------

    def _user_message(self, user: int, name: str, lang: str) -> dict[str, Any]:
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": user, "type": "private", "first_name": name},
            "from": {"id": user, "is_bot": False, "first_name": name, "language_code": lang},
        }

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _dispatch(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        params = await _params(request)
        if self.latency:
            await asyncio.sleep(self.latency / 2)  # on the way in
        try:
            return await self._answer(request, method, params)
        finally:
            if self.latency:
                await asyncio.sleep(self.latency / 2)  # and back

    async def _answer(
        self, request: web.Request, method: str, params: dict[str, Any]
    ) -> web.Response:
        if method != "getUpdates":
            self.calls.append((method, params))
        if method == "sendMessage" and self.stalled:
            await self._notify()  # the call arrived (tests wait for that) and hangs
            async with self._changed:
                await self._changed.wait_for(lambda: self._closing or not self.stalled)
            transport = request.transport
            if self._closing or transport is None or transport.is_closing():
                # the client gave up (or died) while we stalled: the call never happened
                return web.json_response(SERVER_ERROR.body(), status=500)
        pending = self.failures.get(method)
        if pending:
            failure = pending.pop(0)
            await self._notify()
            return web.json_response(failure.body(), status=failure.status)
        if method == "sendMessage":
            wait = self._flood_wait(params)
            if wait is not None:
                self.flood_hits += 1
                await self._notify()
                seconds = max(1, math.ceil(wait))
                refused = Failure(429, f"Too Many Requests: retry after {seconds}", seconds)
                return web.json_response(refused.body(), status=429)
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found: method not found"},
                status=404,
            )
        result = await handler(params)
        if method == "sendMessage":
            self.send_times.append(time.monotonic())
            self._sent_by_chat.setdefault(int(params["chat_id"]), []).append(params)
        if method != "getUpdates":
            self.accepted.append((method, params))
            await self._notify()
        return web.json_response({"ok": True, "result": result})

    async def _deliver(self) -> None:
        """As Telegram does: POST each update to the webhook, in order, with the secret token,
        until the bot answers 200 (a failed delivery is tried again). With more than one
        `webhook_connections`, updates of different users go out at once over that many
        connections (Telegram's `max_connections`), each user's still one after another."""
        async with aiohttp.ClientSession() as http:
            if self.webhook_connections == 1:
                while True:
                    await self._post(http, await self._outgoing.get())
            slots = asyncio.Semaphore(self.webhook_connections)
            chains: dict[object, asyncio.Task[None]] = {}
            while True:
                update = await self._outgoing.get()
                user = _user_of(update)
                task = asyncio.create_task(self._post_after(http, update, chains.get(user), slots))
                chains[user] = task
                task.add_done_callback(
                    lambda done, user=user: chains.pop(user) if chains.get(user) is done else None
                )

    async def _post_after(
        self,
        http: aiohttp.ClientSession,
        update: dict[str, Any],
        previous: asyncio.Task[None] | None,
        slots: asyncio.Semaphore,
    ) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        async with slots:
            await self._post(http, update)

    async def _post(self, http: aiohttp.ClientSession, update: dict[str, Any]) -> None:
        while self.webhook is not None and not self._closing:
            secret = self.webhook.get("secret_token")
            headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
            try:
                async with http.post(self.webhook["url"], json=update, headers=headers) as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)  # Telegram's retry comes later, too

    def _flood_wait(self, params: dict[str, Any]) -> float | None:
        """Log the arrival; None if the limits allow it, else the seconds until they would."""
        now = time.monotonic()
        chat = int(params.get("chat_id", 0))
        reply = now - self._wrote.get(chat, -math.inf) <= self.reply_window
        waits = []
        last = self._chat_last.get(chat)
        if self.chat_limit is not None and last is not None and now - last < 1 / self.chat_limit:
            waits.append(last + 1 / self.chat_limit - now)
        window, limit = self._bulk_window, self.bulk_limit
        if reply:
            window, limit = self._reply_window, self.reply_limit
        while window and now - window[0] >= 1.0:
            window.popleft()
        if limit is not None and len(window) >= limit:
            waits.append(window[0] + 1.0 - now)
        self.arrivals.append(Arrival(now, chat, reply, 429 if waits else 200))
        if waits:
            return max(waits)
        window.append(now)
        self._chat_last[chat] = now
        return None

    async def _api_getMe(self, _: dict[str, Any]) -> Any:
        return {
            **BOT_USER,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _api_getUpdates(self, params: dict[str, Any]) -> Any:
        if self.webhook is not None:
            return None
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        if offset:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        if not self.updates and timeout:

            async def arrived() -> None:
                async with self._changed:
                    await self._changed.wait_for(lambda: bool(self.updates) or self._closing)

            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrived(), timeout)
        return self.updates[:100]

    async def _api_sendMessage(self, params: dict[str, Any]) -> Any:
        message_id = next(self._message_ids)
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": int(params["chat_id"]), "type": "private"},
            "from": BOT_USER,
            "text": params["text"],
        }
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            # Message.reply_markup is only ever an inline keyboard: a reply keyboard (or its
            # removal) is shown by the client, not attached to the message
            message["reply_markup"] = markup
        self.messages[message_id] = message
        return message

    async def _api_sendDocument(self, params: dict[str, Any]) -> Any:
        document = params.get("document")
        if not isinstance(document, dict):
            raise ValueError("Bad Request: there is no document in the request")
        message_id = next(self._message_ids)
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": int(params["chat_id"]), "type": "private"},
            "from": BOT_USER,
            "document": {
                "file_id": f"doc{message_id}",
                "file_unique_id": f"u{message_id}",
                "file_name": document["filename"],
            },
        }
        if params.get("caption"):
            message["caption"] = params["caption"]
        self.messages[message_id] = message
        return message

    async def _api_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        message = self.messages.get(int(params["message_id"]))
        if message is None:
            return True
        message.pop("reply_markup", None)
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        return message

    async def _api_editMessageText(self, params: dict[str, Any]) -> Any:
        message = self.messages.get(int(params["message_id"]))
        if message is None:
            return True
        message["text"] = params["text"]
        return message

    async def _api_answerCallbackQuery(self, _: dict[str, Any]) -> Any:
        return True

    async def _api_setWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = params
        return True

    async def _api_deleteWebhook(self, _: dict[str, Any]) -> Any:
        self.webhook = None
        return True

    async def _api_getWebhookInfo(self, _: dict[str, Any]) -> Any:
        return {
            "url": (self.webhook or {}).get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": 0,
        }

    async def _api_close(self, _: dict[str, Any]) -> Any:
        return True


def _user_of(update: dict[str, Any]) -> object:
    for part in update.values():
        if isinstance(part, dict) and isinstance(part.get("from"), dict):
            return part["from"].get("id")
    return None


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        body = await request.json()
        return dict(body) if isinstance(body, dict) else {}
    params: dict[str, Any] = {}
    if request.method == "POST":
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, str):
                params[key] = value
            elif isinstance(value, web.FileField):  # an upload (sendDocument, multipart)
                params[key] = {"filename": value.filename, "content": value.file.read()}
    params.update(request.query)
    for key in ("reply_markup", "allowed_updates"):
        if isinstance(params.get(key), str):
            with contextlib.suppress(ValueError):
                params[key] = json.loads(params[key])
    return params
