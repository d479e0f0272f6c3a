"""Fuzz the API with schemathesis from its own OpenAPI schema: no 5xx, and every answer has a
documented status code, content type and shape.

The node lives on the test's event loop (it is not thread-safe); hypothesis and schemathesis
run in a worker thread and hand each generated request to the loop, which sends it through
`httpx.ASGITransport`. Signed operations are signed by a member key (so the fuzz reaches past
authentication); the event stream is left unsigned (it would never end). Bounded by
`EXAMPLES_PER_OPERATION` and a derandomised, database-less hypothesis.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis.strategies import SearchStrategy
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET
from schemathesis.core.result import Ok
from schemathesis.generation.case import Case as GenericCase
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api_harness import Api, run, running_api, trade

Case = GenericCase[Any]
EXAMPLES_PER_OPERATION = 25
REQUEST_TIMEOUT_S = 10.0
UNSIGNED = frozenset({"/v1/events"})  # a signed stream never ends
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_the_api_holds_to_its_schema_under_fuzzing(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_api(tmp_path) as api:
            await trade(api)
            loop = asyncio.get_running_loop()
            tried = await asyncio.to_thread(fuzz, api, loop)
            assert tried >= 15  # every operation of the schema, less none silently

    run(body())


def fuzz(api: Api, loop: asyncio.AbstractEventLoop) -> int:
    """Fuzz every operation of the schema; returns how many were fuzzed."""
    schema = schemathesis.openapi.from_dict(api.app.openapi())
    operations = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        signed = bool(operation.definition.raw.get("security")) and operation.path not in UNSIGNED
        strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
            GenerationMode.NEGATIVE
        )
        fuzz_operation(api, loop, strategy, signed)
        operations += 1
    return operations


def fuzz_operation(
    api: Api,
    loop: asyncio.AbstractEventLoop,
    strategy: SearchStrategy[Case],
    signed: bool,
) -> None:
    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=strategy)
    def check(case: Case) -> None:
        future = asyncio.run_coroutine_threadsafe(send(api, case, signed), loop)
        response = future.result(timeout=REQUEST_TIMEOUT_S)
        case.validate_response(response, checks=CHECKS)

    check()


async def send(api: Api, case: Case, signed: bool) -> httpx.Response:
    content = _content(case)
    headers = {
        name: value
        for name, value in (case.headers or {}).items()
        if isinstance(value, str) and value.isascii() and value.isprintable()
    }
    if content is not None and case.media_type:
        headers["content-type"] = case.media_type
    request = api.client.build_request(
        case.method,
        case.formatted_path,
        params=case.query or None,
        headers=headers,
        content=content,
    )
    if signed:
        target = request.url.raw_path.decode("ascii")
        request.headers.update(api.sign("seller", target, method=case.method, body=content or b""))
    return await api.client.send(request)


def _content(case: Case) -> bytes | None:
    body: Any = case.body
    if body is NOT_SET:
        return None
    if isinstance(body, bytes):
        return body
    if case.media_type == "application/json":
        return json.dumps(body).encode()
    if isinstance(body, str):
        return body.encode("utf-8", "surrogatepass")
    return json.dumps(body).encode()
