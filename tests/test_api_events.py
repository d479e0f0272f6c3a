"""Committed events as server-sent events, the bounded hub behind them, and /metrics.

`httpx.ASGITransport` hands back a response only when the app has finished, and an event
stream never finishes by itself, so the streams here are driven as ASGI calls directly: the
test reads the body chunks as they are sent, then disconnects. Every read is bounded.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from contracts.testing import issue_body
from node.events import BlockEvents, EventHub, HubFull, SubscriptionDropped
from tests.api_harness import Api, run, running_api

READ_TIMEOUT_S = 10.0
REJECTED = "tradeledger_transactions_rejected_total"

SseEvent = tuple[str, dict[str, Any]]  # ("block" | "tx" | "dropped" | ":comment", data)


class Stream:
    """One GET of an event stream, as a raw ASGI call we can read while it runs."""

    def __init__(self, app: Any, target: str, headers: dict[str, str]) -> None:
        path, _, query = target.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": ("127.0.0.1", 50000),
            "server": ("node.test", 80),
        }
        self._messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._disconnected = asyncio.Event()
        self._requested = False
        self._buffer = ""
        self.status = 0
        self.task = asyncio.create_task(app(scope, self._receive, self._send))

    async def _receive(self) -> dict[str, Any]:
        if not self._requested:
            self._requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._disconnected.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        self._messages.put_nowait(message)

    async def read_until(self, done: Callable[[SseEvent], bool]) -> list[SseEvent]:
        """Events as they come, up to and including the first for which `done` is true."""
        seen: list[SseEvent] = []
        async with asyncio.timeout(READ_TIMEOUT_S):
            while True:
                while "\n\n" in self._buffer:
                    frame, self._buffer = self._buffer.split("\n\n", 1)
                    event = _parse(frame)
                    seen.append(event)
                    if done(event):
                        return seen
                message = await self._messages.get()
                if message["type"] == "http.response.start":
                    self.status = message["status"]
                elif message["type"] == "http.response.body":
                    self._buffer += message.get("body", b"").decode()
                    if not message.get("more_body", False):
                        self._buffer += "\n\n:end\n\n"

    async def close(self) -> None:
        self._disconnected.set()
        async with asyncio.timeout(READ_TIMEOUT_S):
            await self.task


def _parse(frame: str) -> SseEvent:
    if frame.startswith(":"):
        return (frame, {})
    fields = dict(line.split(": ", 1) for line in frame.splitlines())
    return (fields["event"], json.loads(fields["data"]))


async def subscribe(api: Api, organisation: str) -> Stream:
    stream = Stream(api.app, "/v1/events", api.sign(organisation, "/v1/events"))
    await stream.read_until(lambda event: event[0] == ": subscribed")
    assert stream.status == 200
    return stream


def test_a_party_hears_of_its_document_and_a_non_party_does_not(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            seller = await subscribe(api, "seller")
            buyer = await subscribe(api, "buyer")
            bill = await api.commit(
                "carrier", "bl.issue", issue_body("BL-S", "seller", to_order=True)
            )
            height = api.node.store.height
            heard = await seller.read_until(lambda e: e[0] == "tx" and e[1]["subject"] == bill)
            assert heard[-1][1] == {
                "height": height,
                "kind": "bl.issue",
                "subject": bill,
                "parties": ["carrier", "seller"],
            }
            block = next(data for kind, data in heard if kind == "block")
            assert block["height"] == height
            assert block["tx_count"] == 1
            assert block["hash"] == api.node.store.head.header_hash.hex()

            # the buyer gets the block, then nothing about the seller's bill: a later bill
            # issued to the buyer is the next tx event it hears
            own = await api.commit(
                "carrier", "bl.issue", issue_body("BL-T", "buyer", to_order=True)
            )
            heard = await buyer.read_until(lambda e: e[0] == "tx")
            assert heard[-1][1]["subject"] == own
            assert [data["height"] for kind, data in heard if kind == "block"] == [
                height,
                height + 1,
            ]
            await seller.close()
            await buyer.close()
            assert len(api.node.events) == 0  # both unsubscribed on disconnect

    run(body())


def test_event_streams_need_a_signature_and_are_bounded(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            unsigned = await api.client.get("/v1/events")
            assert unsigned.status_code == 401
            assert unsigned.json()["error"] == "unauthenticated"
            hub = api.node.events
            held = [hub.subscribe() for _ in range(hub.subscribers_max)]
            full = await api.read("seller", "/v1/events")
            assert full.status_code == 429
            assert full.json()["error"] == "busy"
            for subscription in held:
                subscription.close()

    run(body())


def test_a_stream_that_falls_behind_is_dropped_and_told(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            stream = await subscribe(api, "seller")
            hub = api.node.events
            for height in range(1, hub.queue_max + 2):  # the stream cannot read meanwhile
                hub.publish(
                    BlockEvents(height=height, hash=bytes(32), time_ms=0, tx_count=0, events=())
                )
            heard = await stream.read_until(lambda event: event[0] in ("dropped", ":end"))
            assert heard[-1][0] == "dropped"
            assert "behind" in heard[-1][1]["reason"]
            assert hub.dropped_total == 1
            await stream.close()

    run(body())


def test_the_hub_bounds_subscribers_and_drops_the_slow_one() -> None:
    async def body() -> None:
        hub = EventHub(subscribers_max=2, queue_max=2)
        slow, fast = hub.subscribe(), hub.subscribe()
        with pytest.raises(HubFull):
            hub.subscribe()
        blocks = [
            BlockEvents(height=h, hash=bytes(32), time_ms=h, tx_count=0, events=())
            for h in (1, 2, 3)
        ]
        hub.publish(blocks[0])
        hub.publish(blocks[1])
        assert await fast.get(1.0) == blocks[0]
        hub.publish(blocks[2])  # slow holds two already: dropped; fast has room
        assert slow.dropped
        assert len(hub) == 1
        with pytest.raises(SubscriptionDropped):
            await slow.get(1.0)
        assert await fast.get(1.0) == blocks[1]
        assert await fast.get(1.0) == blocks[2]
        assert await fast.get(0.01) is None  # nothing more: a timeout, not an error
        hub.close()
        with pytest.raises(SubscriptionDropped, match="stopping"):
            await fast.get(1.0)

    asyncio.run(body())


def test_metrics_expose_height_latency_mempool_peers_and_rejections(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            await api.commit("carrier", "bl.issue", issue_body("BL-M", "seller", to_order=True))
            refused_in_block = api.tx("carrier", "bl.issue", {"reference": "BL-N"})
            answer = await api.client.post(
                "/v1/transactions?wait=true",
                json={"transaction": refused_in_block.encode().hex()},
            )
            assert answer.json()["code"] == "malformed_body"
            forged = refused_in_block.encode()[:-1] + b"\x00"
            refused = await api.client.post(
                "/v1/transactions", content=forged, headers={"content-type": "application/msgpack"}
            )
            assert refused.json()["error"] == "bad_signature"

            metrics = await api.client.get("/metrics")
            assert metrics.status_code == 200
            assert metrics.headers["content-type"].startswith("text/plain")
            lines = set(metrics.text.splitlines())
            height = api.node.store.height
            for expected in (
                f"tradeledger_height {float(height)}",
                "tradeledger_commit_latency_seconds_count 2.0",
                "tradeledger_mempool_transactions 0.0",
                "tradeledger_mempool_bytes 0.0",
                "tradeledger_peers 0.0",
                f"tradeledger_blocks_persisted_total {float(height)}",
                REJECTED + '{code="bad_signature",stage="admission"} 1.0',
                REJECTED + '{code="malformed_body",stage="block"} 1.0',
            ):
                assert expected in lines, expected

    run(body())
