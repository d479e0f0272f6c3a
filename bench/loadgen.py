"""A load-generator process: signs its share of a phase's transactions before the timed
window, then drives them through the public API with `bench.rawhttp` on keep-alive
connections spread over the nodes.

The parent (`bench.harness`) talks to each generator over a pipe:

    ("prepare", PhaseSpec)  -> ("prepared", {signed, sign_s})    signing: outside the window
    ("run", go_monotonic)   -> ("result", PhaseResult as dict)    starts at go (CLOCK_MONOTONIC
                                                                  is one clock for all processes)
    ("exit", None)

Submission and load model:
- `single`: one transaction per `POST /v1/transactions?wait=true`; the answer comes when the
  transaction is committed (or 408 after 30 s), so its latency is exact.
- `batch`: `POST /v1/transactions/batch` with a msgpack list of `batch_size` transactions;
  then, on the same connection, one transaction of the batch drawn at random is submitted
  again with `?wait=true` (a probe: the node answers a pending transaction when it commits
  and a committed one at once, so a repeat is safe). Its latency, measured from the batch's
  send time, is one unbiased sample of submit-to-commit latency per batch.
- `open`: requests are scheduled at the offered rate whatever the answers; latency counts from
  the scheduled time (no coordinated omission), and a request that could not leave on time
  (every allowed connection busy) is counted late.
- `saturate`: `in_flight` workers each send their next request as soon as the previous one is
  answered (for batches: once its probe committed), so the offered load follows capacity.
Every phase is bounded by its duration and its pre-signed count.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection as Pipe
from typing import Any

from bench.rawhttp import Connection, HttpError, split_url
from bench.workload import Signed, Signer
from ledger.codec import encode

WAIT_TIMEOUT_MS = 30_000  # the API's cap on wait=true
DRAIN_S = 35.0  # after the window: how long in-flight requests may still take
SINGLE_PATH = f"/v1/transactions?wait=true&timeout_ms={WAIT_TIMEOUT_MS}"
BATCH_PATH = "/v1/transactions/batch"


@dataclass(frozen=True, slots=True, kw_only=True)
class GeneratorConfig:
    index: int
    chain_id: str
    seeds: dict[str, bytes]  # organisation -> member key seed
    urls: tuple[str, ...]  # node API URLs; requests are spread over them round-robin


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseSpec:
    name: str
    mode: str  # "open" | "saturate"
    submit: str  # "single" | "batch"
    batch_size: int
    rate_per_s: float  # open: transactions/s this generator offers
    in_flight: int  # saturate: requests (single) or batches (batch) in flight
    connections_max: int  # open: at most this many connections (then requests are late)
    duration_s: float
    kinds: tuple[str, ...]
    bills: tuple[str, ...]  # committed bills the transfers name, in order
    label: str  # makes references unique
    nonce_base: int
    expiry_height: int
    offer_expiry_height: int
    seed: int  # probe choice


@dataclass(slots=True, kw_only=True)
class PhaseResult:
    name: str
    generator: int
    requests: int = 0
    sent: int = 0  # transactions sent
    admitted: int = 0  # transactions the node admitted (202 / pending / committed)
    admitted_bytes: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # admission refusals by code
    errors: dict[str, int] = field(default_factory=dict)  # HTTP failures, timeouts
    latency_ms: list[tuple[float, float]] = field(default_factory=list)  # (scheduled, ms)
    codes: dict[str, int] = field(default_factory=dict)  # result codes of measured commits
    late: int = 0
    lag_ms_max: float = 0.0
    first_send: float = 0.0
    last_send: float = 0.0
    cpu_s: float = 0.0
    issued_bills: list[str] = field(default_factory=list)  # admitted bl.issue ids (hex)
    unused_bills: list[str] = field(default_factory=list)  # bills of transfers not sent
    unsent_requests: int = 0  # pre-signed requests left when the window closed


@dataclass(slots=True)
class _Request:
    items: list[Signed]
    body: bytes
    sent: bool = False


class _Pools:
    """Keep-alive connections per node, created on demand up to a cap per node."""

    def __init__(self, urls: Sequence[str], per_node_max: int) -> None:
        self.addresses = [split_url(url) for url in urls]
        self.per_node_max = max(1, per_node_max)  # the caller rounds up
        self.idle: list[list[Connection]] = [[] for _ in urls]
        self.count = [0] * len(urls)
        self.freed = [asyncio.Event() for _ in urls]

    def try_acquire(self, node: int) -> Connection | None:
        if self.idle[node]:
            return self.idle[node].pop()
        if self.count[node] < self.per_node_max:
            self.count[node] += 1
            host, port = self.addresses[node]
            return Connection(host, port)
        return None

    async def acquire(self, node: int) -> Connection:
        while True:
            connection = self.try_acquire(node)
            if connection is not None:
                return connection
            self.freed[node].clear()
            await self.freed[node].wait()

    def release(self, node: int, connection: Connection) -> None:
        self.idle[node].append(connection)
        self.freed[node].set()

    async def close(self) -> None:
        for idle in self.idle:
            for connection in idle:
                await connection.close()


class _Run:
    def __init__(self, config: GeneratorConfig, spec: PhaseSpec, requests: list[_Request]) -> None:
        self.config = config
        self.spec = spec
        self.requests = requests
        self.result = PhaseResult(name=spec.name, generator=config.index)
        self.random = random.Random(spec.seed)
        self.refused: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.codes: Counter[str] = Counter()
        self.nodes = len(config.urls)

    # --- one request -------------------------------------------------------------------------

    async def submit(self, connection: Connection, request: _Request, scheduled: float) -> None:
        request.sent = True
        result = self.result
        result.requests += 1
        result.sent += len(request.items)
        result.last_send = time.monotonic()
        try:
            if self.spec.submit == "single":
                await self.submit_single(connection, request.items[0], scheduled)
            else:
                await self.submit_batch(connection, request, scheduled)
        except (HttpError, OSError, TimeoutError) as exc:
            self.errors[type(exc).__name__] += 1

    async def submit_single(self, connection: Connection, item: Signed, scheduled: float) -> None:
        answer = await connection.request("POST", SINGLE_PATH, item.data, timeout_s=45.0)
        now = time.monotonic()
        document = _json(answer.body)
        if answer.status == 200:
            self.admitted(item)
            self.result.latency_ms.append((scheduled, (now - scheduled) * 1000))
            self.codes[str(document.get("code"))] += 1
        elif answer.status == 408:
            self.admitted(item)
            self.errors["wait_timeout"] += 1
        else:
            self.refused[str(document.get("error", answer.status))] += 1

    async def submit_batch(
        self, connection: Connection, request: _Request, scheduled: float
    ) -> None:
        answer = await connection.request("POST", BATCH_PATH, request.body, timeout_s=45.0)
        if answer.status != 200:
            self.errors[f"batch_http_{answer.status}"] += 1
            return
        results = _json(answer.body).get("results", [])
        admitted = []
        for item, outcome in zip(request.items, results, strict=False):
            if isinstance(outcome, dict) and "id" in outcome:
                self.admitted(item)
                admitted.append(item)
            else:
                code = outcome.get("error") if isinstance(outcome, dict) else None
                self.refused[str(code)] += 1
        if not admitted:
            return
        probe = admitted[self.random.randrange(len(admitted))]
        answer = await connection.request("POST", SINGLE_PATH, probe.data, timeout_s=45.0)
        now = time.monotonic()
        if answer.status == 200:
            self.result.latency_ms.append((scheduled, (now - scheduled) * 1000))
            self.codes[str(_json(answer.body).get("code"))] += 1
        elif answer.status == 408:
            self.errors["wait_timeout"] += 1
        else:
            self.errors[f"probe_{_json(answer.body).get('error', answer.status)}"] += 1

    def admitted(self, item: Signed) -> None:
        self.result.admitted += 1
        self.result.admitted_bytes += len(item.data)
        if item.kind == "bl.issue":
            self.result.issued_bills.append(item.id.hex())

    # --- load models -------------------------------------------------------------------------

    async def open_loop(self, go: float) -> None:
        spec = self.spec
        pools = _Pools(self.config.urls, -(-spec.connections_max // self.nodes))
        interval = len(self.requests[0].items) / spec.rate_per_s if self.requests else 1.0
        end = go + spec.duration_s
        tasks: set[asyncio.Task[None]] = set()

        async def one(node: int, connection: Connection, request: _Request, at: float) -> None:
            try:
                await self.submit(connection, request, at)
            finally:
                pools.release(node, connection)

        for number, request in enumerate(self.requests):
            scheduled = go + number * interval
            if scheduled >= end:
                break
            delay = scheduled - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            node = number % self.nodes
            connection = pools.try_acquire(node)
            if connection is None:
                self.result.late += 1
                try:
                    async with asyncio.timeout(max(0.001, end - time.monotonic())):
                        connection = await pools.acquire(node)
                except TimeoutError:
                    break  # every connection stayed busy until the window closed
            self.result.lag_ms_max = max(
                self.result.lag_ms_max, (time.monotonic() - scheduled) * 1000
            )
            task = asyncio.create_task(one(node, connection, request, scheduled))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=DRAIN_S)
        await pools.close()

    async def saturate(self, go: float) -> None:
        spec = self.spec
        end = go + spec.duration_s
        queue = iter(self.requests)

        async def worker(number: int) -> None:
            node = number % self.nodes
            host, port = split_url(self.config.urls[node])
            connection = Connection(host, port)
            try:
                for request in queue:
                    now = time.monotonic()
                    if now >= end:
                        return
                    await self.submit(connection, request, now)
            finally:
                await connection.close()

        delay = go - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        workers = [asyncio.create_task(worker(n)) for n in range(spec.in_flight)]
        await asyncio.wait(workers, timeout=spec.duration_s + DRAIN_S)

    async def run(self, go: float) -> PhaseResult:
        self.result.first_send = go
        cpu_started = time.process_time()
        delay = go - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if self.spec.mode == "open":
            await self.open_loop(go)
        elif self.spec.mode == "saturate":
            await self.saturate(go)
        else:
            raise ValueError(f"unknown mode {self.spec.mode!r}")
        result = self.result
        result.cpu_s = time.process_time() - cpu_started
        result.refused = dict(self.refused)
        result.errors = dict(self.errors)
        result.codes = dict(self.codes)
        result.unsent_requests = sum(1 for request in self.requests if not request.sent)
        result.unused_bills = [
            item.bill
            for request in self.requests
            if not request.sent
            for item in request.items
            if item.bill is not None
        ]
        return result


def _json(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def prepare(config: GeneratorConfig, spec: PhaseSpec) -> list[_Request]:
    signer = Signer(
        chain_id=config.chain_id,
        seeds=config.seeds,
        label=spec.label,
        nonce_base=spec.nonce_base,
        expiry_height=spec.expiry_height,
        offer_expiry_height=spec.offer_expiry_height,
    )
    signed = signer.sign_mix(spec.kinds, spec.bills)
    if spec.submit == "single":
        return [_Request(items=[item], body=item.data) for item in signed]
    size = spec.batch_size
    return [
        _Request(items=chunk, body=encode([item.data for item in chunk]))
        for chunk in (signed[i : i + size] for i in range(0, len(signed), size))
    ]


def generator_main(pipe: Pipe, config: GeneratorConfig) -> None:
    """The process body: serve the parent's commands until ("exit", None)."""
    requests: list[_Request] = []
    spec: PhaseSpec | None = None
    while True:
        command, argument = pipe.recv()
        if command == "exit":
            return
        if command == "prepare":
            assert isinstance(argument, PhaseSpec)
            spec = argument
            started = time.perf_counter()
            requests = prepare(config, spec)
            pipe.send(
                ("prepared", {"signed": len(spec.kinds), "sign_s": time.perf_counter() - started})
            )
        elif command == "run":
            assert spec is not None
            assert isinstance(argument, float)
            result = asyncio.run(_Run(config, spec, requests).run(argument))
            requests = []
            pipe.send(("result", asdict(result)))
        else:
            raise ValueError(f"unknown command {command!r}")
