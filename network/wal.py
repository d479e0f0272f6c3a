"""The write-ahead log of a replica's signing decisions: durable before anything is signed.

    wal = FileWal.open(path)          # replays; a torn last record is cut off
    records = load_wal_records(wal)   # -> Replica(..., wal_records=records)
    persist_wal_record(wal, record)   # append + fdatasync, then sign and send
    wal.reset()                       # after the store persisted the decided height

File layout: an 8-byte magic, then frames of

    u32 big-endian payload length | u32 big-endian CRC-32 of the payload | payload

Appends go to the end of the file and are durable (fdatasync) before `append` returns. A
crash can only damage the last frame (a prefix written, or a block of zeros after it): replay
keeps every frame before it and truncates the file there. A damaged frame followed by good
data is not a torn write but corruption, and replay refuses to guess (`WalCorrupted`).

`MemoryWal` in network/sim implements the same `WriteAheadLog` protocol with the same
framing, so the simulator can tear a write the way a crash would.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from network.consensus.ready import WAL_RECORD_SIZE_BYTES_MAX, WalRecord

MAGIC = b"TLWAL\x00\x00\x01"
FRAME_HEADER_SIZE_BYTES = 8
RECORD_SIZE_BYTES_MAX = WAL_RECORD_SIZE_BYTES_MAX
# Records a WAL may hold before `reset`; one height needs a few per round.
RECORD_COUNT_MAX = 100_000
_READ_CHUNK_BYTES = 1 << 20
COMPACT_SIZE_BYTES = 4 * 1024 * 1024  # `reset` empties the file once it is larger than this


class WalError(Exception):
    """The write-ahead log cannot be used."""


class WalCorrupted(WalError):
    """The log is damaged before its last record: not a torn write. The node must not start
    (signing again without its record could double-sign)."""


class WalRecordTooLarge(WalError, ValueError):
    """A record over RECORD_SIZE_BYTES_MAX."""


class WriteAheadLog(Protocol):
    def append(self, record: bytes) -> None:
        """Add `record` at the end; it is durable when this returns."""
        ...

    def records(self) -> list[bytes]:
        """Every durable record, oldest first."""
        ...

    def reset(self) -> None:
        """Drop every record: `records` is empty afterwards (the store now holds the decided
        height). A file may keep them until it is compacted; after a restart they come back
        as records of heights already decided."""
        ...


def encode_frame(record: bytes) -> bytes:
    if len(record) > RECORD_SIZE_BYTES_MAX:
        raise WalRecordTooLarge(f"record of {len(record)} bytes exceeds {RECORD_SIZE_BYTES_MAX}")
    crc = zlib.crc32(record)
    return len(record).to_bytes(4, "big") + crc.to_bytes(4, "big") + record


@dataclass(frozen=True, slots=True)
class ParsedLog:
    records: tuple[bytes, ...]
    valid_size_bytes: int  # bytes of the data that hold whole, checked frames
    torn: bool  # the data ended in a torn frame (cut off by `valid_size_bytes`)


def parse_frames(data: bytes, start: int = 0) -> ParsedLog:
    """The records framed in `data[start:]`. Raises WalCorrupted for damage before the tail."""
    records: list[bytes] = []
    offset = start
    while offset < len(data):
        if len(records) >= RECORD_COUNT_MAX:
            raise WalCorrupted(f"more than {RECORD_COUNT_MAX} records")
        header = data[offset : offset + FRAME_HEADER_SIZE_BYTES]
        end = offset + FRAME_HEADER_SIZE_BYTES
        damaged = len(header) < FRAME_HEADER_SIZE_BYTES
        if not damaged:
            length = int.from_bytes(header[:4], "big")
            end += length
            damaged = (
                length == 0
                or length > RECORD_SIZE_BYTES_MAX
                or end > len(data)
                or zlib.crc32(data[offset + FRAME_HEADER_SIZE_BYTES : end])
                != int.from_bytes(header[4:], "big")
            )
        if damaged:
            if _torn(data, offset, end):
                return ParsedLog(tuple(records), offset, torn=True)
            raise WalCorrupted(
                f"damaged record at byte {offset}: not a torn last write (a complete frame "
                "whose checksum fails, or damage followed by more data)"
            )
        records.append(data[offset + FRAME_HEADER_SIZE_BYTES : end])
        offset = end
    return ParsedLog(tuple(records), offset, torn=False)


TORN_ZERO_TAIL_BYTES_MIN = 8  # a real record ends in 8 zero bytes with probability 2**-64


def _torn(data: bytes, offset: int, end: int) -> bool:
    """Whether the damaged frame at `offset` is what a crash during its append leaves: cut
    off by the end of the file, or zeros where its bytes were not yet persisted (a filesystem
    may extend a file with zeros). A complete frame whose bytes are not zeros but whose
    checksum fails is corruption, not a torn write: dropping it could forget a signed vote."""
    if end > len(data) or len(data) - offset < FRAME_HEADER_SIZE_BYTES:
        return True  # the frame runs past the end of the file
    if _is_zero(data, offset):
        return True  # nothing but zeros from the frame on
    if not _is_zero(data, end):
        return False  # more data follows: never a torn last write
    payload = data[offset + FRAME_HEADER_SIZE_BYTES : end]
    return payload.endswith(bytes(TORN_ZERO_TAIL_BYTES_MIN))


def _is_zero(data: bytes, start: int) -> bool:
    return not data[start:].strip(b"\x00")


class FileWal:
    """A `WriteAheadLog` in one file. Not thread-safe; one writer (the node's consensus task)."""

    __slots__ = ("_fd", "_path", "_records", "_size")

    def __init__(self, path: Path, fd: int, records: list[bytes], size: int) -> None:
        self._path = path
        self._fd = fd
        self._records = records
        self._size = size  # bytes in the file

    @classmethod
    def open(cls, path: Path | str) -> FileWal:
        """Open (creating if needed) and replay; a torn tail is truncated away, durably."""
        path = Path(path)
        created = not path.exists()
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            if created:
                _write_all(fd, MAGIC)
                os.fsync(fd)
                _fsync_directory(path.parent)
            data = _read_all(fd)
            if len(data) < len(MAGIC):
                # Crashed while creating: only a prefix of the magic (or nothing) is there.
                if MAGIC[: len(data)] != data:
                    raise WalCorrupted(f"{path} is not a write-ahead log")
                os.ftruncate(fd, 0)
                _write_all(fd, MAGIC)
                os.fsync(fd)
                data = MAGIC
            if data[: len(MAGIC)] != MAGIC:
                raise WalCorrupted(f"{path} is not a write-ahead log (bad magic)")
            parsed = parse_frames(data, len(MAGIC))
            if parsed.torn:
                os.ftruncate(fd, parsed.valid_size_bytes)
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, list(parsed.records), parsed.valid_size_bytes)

    def append(self, record: bytes) -> None:
        frame = encode_frame(record)
        if len(self._records) >= RECORD_COUNT_MAX:
            raise WalError(f"the log holds {RECORD_COUNT_MAX} records; reset it per height")
        _write_all(self._fd, frame)
        # fdatasync: the data and the file's new size, without the timestamps fsync would
        # also write (the p99 of fsync here is ten times that of fdatasync).
        os.fdatasync(self._fd)
        self._size += len(frame)
        self._records.append(record)

    def records(self) -> list[bytes]:
        return list(self._records)

    def reset(self) -> None:
        """Forget the records. The file is emptied (durably) only once it holds more than
        `COMPACT_SIZE_BYTES`: until then the old frames stay behind the new ones, which costs
        no sync per height. They are records of decided heights, which a restarted replica
        ignores (it restores only the records of the height it starts at), and a crash
        while appending can tear only the frame after them."""
        self._records.clear()
        if self._size > COMPACT_SIZE_BYTES:
            os.ftruncate(self._fd, len(MAGIC))
            os.fdatasync(self._fd)
            self._size = len(MAGIC)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> FileWal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def persist_wal_record(wal: WriteAheadLog, record: WalRecord) -> None:
    wal.append(record.encode())


def load_wal_records(wal: WriteAheadLog) -> list[WalRecord]:
    """The log's records, decoded. A record that does not decode is corruption: its CRC
    matched, so it was written like that."""
    return list(_decode_all(wal.records()))


def _decode_all(records: list[bytes]) -> Iterator[WalRecord]:
    for index, data in enumerate(records):
        try:
            yield WalRecord.decode(data)
        except ValueError as exc:  # DecodeError and ValidationError are ValueErrors
            raise WalCorrupted(f"record {index} does not decode: {exc}") from exc


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, _READ_CHUNK_BYTES):
        chunks.append(chunk)
    return b"".join(chunks)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
