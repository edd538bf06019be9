"""A local Slack Web API stand-in: real HTTP, records calls, can answer `ratelimited`.

It answers the way Slack documents its methods (https://api.slack.com/methods): HTTP 200 with
`{"ok": true, ...}` or `{"ok": false, "error": ...}`; a rate limit is HTTP 429 with a
`Retry-After` header. Arguments arrive form-encoded (structured ones as JSON strings) or as JSON.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeSlackApi:
    users: dict[str, str] = field(default_factory=dict)
    """User id -> display name."""
    groups: dict[str, list[str]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    """Bodies posted to response_url (slash command replies)."""
    ratelimited: dict[str, int] = field(default_factory=dict)
    """Method -> how many of its next calls answer 429."""
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(channel, ts) -> the message as it stands now (posted, then perhaps updated)."""
    reactions: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    """(channel, ts) -> the reactions on it now."""

    def __post_init__(self) -> None:
        self._ts = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    @property
    def response_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/respond"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._dispatch)
        app.router.add_post("/respond", self._respond)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def of(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == method]

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        async def waiter() -> None:
            async with self._changed:
                await self._changed.wait_for(condition)

        try:
            await asyncio.wait_for(waiter(), timeout)
        except TimeoutError:
            raise AssertionError(f"timed out; Slack calls so far: {self.calls[-6:]}") from None

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _respond(self, request: web.Request) -> web.Response:
        self.responses.append(await request.json())
        await self._notify()
        return web.Response(text="ok")

    async def _dispatch(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _params(request)
        if self.ratelimited.get(method):
            self.ratelimited[method] -= 1
            self.calls.append((f"{method}!429", params))
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"}
            )
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        self.calls.append((method, params))
        body = handler(params)
        await self._notify()
        return web.json_response({"ok": True, **body})

    def _auth_test(self, _: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://shop.slack.com/",
            "team": "Shop",
            "user": "escalator",
            "team_id": "T0SHOP",
            "user_id": "U0BOT",
            "bot_id": "B0BOT",
        }

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        ts = f"1700000000.{next(self._ts):06d}"
        self.messages[(params["channel"], ts)] = {
            "text": params.get("text"),
            "blocks": params.get("blocks"),
            "thread_ts": params.get("thread_ts"),
        }
        return {"channel": params["channel"], "ts": ts, "message": {"text": params.get("text")}}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        known = self.messages.get((params["channel"], params["ts"]))
        if known is not None:
            known.update(text=params.get("text"), blocks=params.get("blocks"))
        return {"channel": params["channel"], "ts": params["ts"]}

    def _chat_postEphemeral(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"message_ts": f"1700000000.{next(self._ts):06d}"}

    def _chat_getPermalink(self, params: dict[str, Any]) -> dict[str, Any]:
        ts = str(params["message_ts"]).replace(".", "")
        return {"permalink": f"https://shop.slack.com/archives/{params['channel']}/p{ts}"}

    def _reactions_add(self, params: dict[str, Any]) -> dict[str, Any]:
        self.reactions.setdefault((params["channel"], params["timestamp"]), set()).add(
            params["name"]
        )
        return {}

    def _reactions_remove(self, params: dict[str, Any]) -> dict[str, Any]:
        self.reactions.get((params["channel"], params["timestamp"]), set()).discard(params["name"])
        return {}

    def _views_publish(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"view": {"id": "V1"}}

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"view": {**params.get("view", {}), "id": "V0MODAL", "hash": "h1"}}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = str(params["user"])
        name = self.users.get(user, user)
        return {
            "user": {
                "id": user,
                "name": name.lower(),
                "real_name": name,
                "profile": {"display_name": name},
            }
        }

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"users": self.groups.get(str(params["usergroup"]), [])}


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        body = await request.json()
        params = dict(body) if isinstance(body, dict) else {}
    elif request.method == "POST":
        form = await request.post()
        params = {key: value for key, value in form.items() if isinstance(value, str)}
    else:
        params = {}
    params.update(request.query)
    for key in ("blocks", "view", "attachments"):
        if isinstance(params.get(key), str):
            params[key] = json.loads(params[key])
    return params
