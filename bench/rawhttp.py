"""A minimal HTTP/1.1 client over asyncio streams, for load generation.

httpx tops out near 1.2k requests/s in one process; this client does only what the load
generator needs: one request at a time per keep-alive connection, `Content-Length` or chunked
answers, no redirects, no TLS. Every read has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

HEADER_BYTES_MAX = 64 * 1024
BODY_BYTES_MAX = 64 * 1024 * 1024
CONNECT_TIMEOUT_S = 10.0


class HttpError(Exception):
    """The connection failed or the server answered something this client cannot read."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes


def split_url(url: str) -> tuple[str, int]:
    """("127.0.0.1", 8600) from "http://127.0.0.1:8600"."""
    if not url.startswith("http://"):
        raise ValueError(f"only http:// URLs: {url!r}")
    host, _, port = url[len("http://") :].rstrip("/").rpartition(":")
    return host, int(port)


class Connection:
    """One keep-alive connection; `request` reconnects once if the server closed it idle."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def request(
        self,
        method: str,
        target: str,
        body: bytes = b"",
        content_type: str = "application/msgpack",
        timeout_s: float = 60.0,
    ) -> Answer:
        head = (
            f"{method} {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode("ascii")
        fresh = self._writer is None
        for attempt in range(2):
            if self._writer is None:
                await self._connect()
            assert self._reader is not None
            assert self._writer is not None
            try:
                self._writer.write(head + body if len(body) < 65536 else head)
                if len(body) >= 65536:
                    self._writer.write(body)
                async with asyncio.timeout(timeout_s):
                    await self._writer.drain()
                    return await self._read_answer(self._reader)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                await self.close()
                # A keep-alive connection the server closed while idle: retry once on a new
                # one (a repeated submission is safe: the node answers it as already pending
                # or committed).
                if fresh or attempt == 1:
                    raise HttpError(f"{method} {target}: {exc!r}") from None
        raise AssertionError("unreachable")

    async def _read_answer(self, reader: asyncio.StreamReader) -> Answer:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise HttpError("answer headers too large") from None
        if len(head) > HEADER_BYTES_MAX:
            raise HttpError("answer headers too large")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise HttpError(f"bad status line {lines[0]!r}")
        status = int(parts[1])
        length: int | None = None
        chunked = False
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            value = value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and value.lower() == "close":
                close = True
        if chunked:
            body = await _read_chunked(reader)
        elif length is not None:
            if length > BODY_BYTES_MAX:
                raise HttpError(f"answer body of {length} bytes")
            body = await reader.readexactly(length)
        else:
            body = b""
        if close:
            await self.close()
        return Answer(status=status, body=body)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return bytes(body)
        if len(body) + size > BODY_BYTES_MAX:
            raise HttpError("chunked answer too large")
        body.extend(await reader.readexactly(size))
        await reader.readexactly(2)
