"""Drive the in-process API (tests/api_harness.py) with the synchronous SDK and CLI.

`httpx.ASGITransport` is asynchronous, the SDK's `Client` synchronous. The node and its app
run on an event loop in a background thread (`LoopThread`); `BridgeTransport` is an
`httpx.BaseTransport` that hands each request to that loop and waits for the whole answer.
No sockets, no sleeps: the calling thread blocks on a future the loop completes.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.api_harness import Api, running_api

T = TypeVar("T")
CALL_TIMEOUT_S = 60.0  # one request or setup step; a single validator commits in milliseconds


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="asgi-loop")
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(CALL_TIMEOUT_S)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(CALL_TIMEOUT_S)
        self.loop.close()


class BridgeTransport(httpx.BaseTransport):
    """A synchronous transport into an ASGI app running on `loop` (whole answers only:
    not for endless streams such as /v1/events)."""

    def __init__(self, app: Any, loop: LoopThread) -> None:
        self._asgi = httpx.ASGITransport(app=app)
        self._loop = loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        content = request.read()

        async def call() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            forwarded = httpx.Request(
                request.method, request.url, headers=request.headers, content=content
            )
            response = await self._asgi.handle_async_request(forwarded)
            body = b"".join([chunk async for chunk in response.stream])  # type: ignore[union-attr]
            return response.status_code, response.headers.raw, body

        status, headers, body = self._loop.run(call())
        return httpx.Response(status, headers=headers, content=body, request=request)


@contextlib.contextmanager
def running_node(tmp_path: Path) -> Iterator[tuple[Api, LoopThread]]:
    """A single-validator node with its API on a background loop."""
    loop = LoopThread()
    manager = running_api(tmp_path)
    try:
        api = loop.run(manager.__aenter__())
        try:
            yield api, loop
        finally:
            loop.run(manager.__aexit__(None, None, None))
    finally:
        loop.stop()
