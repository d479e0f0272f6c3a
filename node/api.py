"""The node's HTTP API (FastAPI; OpenAPI at /docs). A route parses, authorises, calls one
function of the node and renders; no business logic lives here.

Every refusal is a 4xx with a body `{"error": <code>, "detail": <words>, "tx": <id>?}`,
where `code` is a `ledger.codes.Code` value or one of the API's own: `bad_request`,
`not_found`, `body_too_large`, `timeout`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.codec import Value
from node.mempool import AdmissionError
from node.runtime import Node

REQUEST_BODY_BYTES_MAX = 256 * 1024  # one transaction is at most 64 KiB
WAIT_COMMIT_MS_MAX = 30_000


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: str, tx: bytes | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.tx = tx


def _error_body(error: str, detail: str, tx: bytes | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": error, "detail": detail}
    if tx is not None:
        body["tx"] = tx.hex()
    return body


def create_app(node: Node) -> FastAPI:
    app = FastAPI(
        title="tradeledger node",
        description="Submit signed trade-document transactions and read the ledger.",
        version="0.1.0",
    )

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(_error_body(exc.error, exc.detail, exc.tx), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(_error_body("bad_request", str(exc.errors())[:500]), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = "not_found" if exc.status_code == 404 else "bad_request"
        return JSONResponse(_error_body(error, str(exc.detail)), status_code=exc.status_code)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz() -> JSONResponse:
        """Ready when connected to enough peers for the validators to reach a quorum."""
        connected = len(node.transport.connected_peers())
        validators = node.validators
        power = validators.power_of(node.key.public_key) + sum(
            validators.power_of(peer) for peer in node.transport.connected_peers()
        )
        ready = power >= validators.quorum_power
        body = {"ready": ready, "peers": connected, "height": node.store.height}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/v1/status", tags=["node"])
    async def status() -> dict[str, Any]:
        """Height, head, peers and sync state of this node."""
        head = node.store.head
        peer_heights = node.peer_heights
        best = max(peer_heights.values(), default=head.height)
        return {
            "chain_id": node.chain_id,
            "node": node.config.name,
            "node_key": node.key.public_key.hex(),
            "height": head.height,
            "head_hash": head.header_hash.hex(),
            "log_size": head.log_size,
            "log_root": head.log_root.hex(),
            "state_root": head.state_root.hex(),
            "peers": sorted(p.hex() for p in node.transport.connected_peers()),
            "syncing": best > head.height + 1,
            "mempool": {"transactions": len(node.mempool), "bytes": node.mempool.size_bytes},
            "stats": dict(node.stats),
        }

    @app.post("/v1/transactions", tags=["transactions"], status_code=202)
    async def submit(request: Request, wait: bool = False, timeout_ms: int = 10_000) -> Any:
        """Submit one signed transaction: its canonical msgpack bytes as the body
        (`Content-Type: application/msgpack`), or JSON `{"transaction": "<hex>"}`.

        Answers at once with the transaction id (202), or with `wait=true` when it is
        committed (200, with its height and result code) or after `timeout_ms`."""
        data = await _transaction_bytes(request)
        try:
            tx = await node.submit(data)
        except AdmissionError as exc:
            raise ApiError(400, exc.code.value, exc.detail) from None
        if not wait:
            return JSONResponse({"id": tx.id.hex(), "status": "pending"}, status_code=202)
        timeout_ms = max(1, min(timeout_ms, WAIT_COMMIT_MS_MAX))
        try:
            async with asyncio.timeout(timeout_ms / 1000):
                committed = await node.wait_committed(tx.id)
        except TimeoutError:
            raise ApiError(
                408, "timeout", f"not committed within {timeout_ms} ms; still pending", tx.id
            ) from None
        except AdmissionError as exc:
            raise ApiError(503, exc.code.value, exc.detail, tx.id) from None
        return JSONResponse(
            {
                "id": tx.id.hex(),
                "status": "committed",
                "height": committed.height,
                "code": committed.code,
            },
            status_code=200,
        )

    @app.get("/v1/transactions/{tx_id}", tags=["transactions"])
    async def transaction(tx_id: str) -> dict[str, Any]:
        """A transaction's status: committed (height, result code) or pending."""
        identifier = _hex_id(tx_id)
        committed = node.committed(identifier)
        if committed is not None:
            return {
                "id": tx_id,
                "status": "committed",
                "height": committed.height,
                "code": committed.code,
            }
        if identifier in node.mempool:
            return {"id": tx_id, "status": "pending"}
        raise ApiError(404, "not_found", "no committed or pending transaction has this id")

    @app.get("/v1/blocks/{height}", tags=["blocks"])
    async def block(height: int) -> dict[str, Any]:
        """A block's header, transaction ids and commit."""
        stored = node.store.block(height) if height >= 1 else None
        commit = node.store.commit(height) if height >= 1 else None
        if stored is None or commit is None:
            raise ApiError(404, "not_found", f"no block at height {height}")
        return {
            "height": height,
            "hash": stored.hash().hex(),
            "header": _json(stored.header.to_value()),
            "transactions": len(stored.transactions),
            "commit": _json(commit.to_value()),
        }

    return app


async def _transaction_bytes(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > REQUEST_BODY_BYTES_MAX:
        raise ApiError(413, "body_too_large", f"the body exceeds {REQUEST_BODY_BYTES_MAX} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > REQUEST_BODY_BYTES_MAX:
            raise ApiError(
                413, "body_too_large", f"the body exceeds {REQUEST_BODY_BYTES_MAX} bytes"
            )
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type == "application/msgpack":
        return bytes(body)
    if content_type in ("application/json", ""):
        try:
            document = json.loads(body)
            return bytes.fromhex(document["transaction"])
        except (ValueError, KeyError, TypeError):
            raise ApiError(
                400, "bad_request", 'expected JSON {"transaction": "<hex of the signed bytes>"}'
            ) from None
    raise ApiError(415, "bad_request", f"unsupported content type {content_type!r}")


def _hex_id(text: str) -> bytes:
    try:
        identifier = bytes.fromhex(text)
    except ValueError:
        identifier = b""
    if len(identifier) != 32:
        raise ApiError(400, "bad_request", "a transaction id is 64 hex digits")
    return identifier


def _json(value: Value) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [_json(item) for item in value]
    if isinstance(value, dict):
        return {key: _json(item) for key, item in value.items()}
    return value
