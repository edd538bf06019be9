"""A small load balancer for tests: one URL in front of several local web processes, as a
host's router is in front of `web` processes. Requests go round-robin to the backends; one that
refuses the connection (dead, restarting) is skipped for the next, and when none answers the
client gets 502 (Telegram then delivers the update again)."""

from __future__ import annotations

import itertools
from collections import Counter

import aiohttp
from aiohttp import web

_HOP = {"host", "content-length", "transfer-encoding", "connection"}


class Balancer:
    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.served: Counter[int] = Counter()
        self._turn = itertools.count()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.port = 0

    async def start(self) -> str:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._http is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        first = next(self._turn)
        for n in range(len(self.ports)):
            port = self.ports[(first + n) % len(self.ports)]
            url = f"http://127.0.0.1:{port}{request.path_qs}"
            try:
                async with self._http.request(
                    request.method, url, data=body, headers=headers
                ) as answer:
                    text = await answer.read()
                    self.served[port] += 1
                    return web.Response(status=answer.status, body=text)
            except aiohttp.ClientConnectionError:
                continue  # that process is down: the next one takes the request
        return web.Response(status=502, text="no backend answered")
