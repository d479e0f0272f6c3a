"""`MemoryWal`: the `WriteAheadLog` protocol in memory, framed like `FileWal`, surviving the
simulated crash of the replica that owns it (it plays the role of the disk)."""

from __future__ import annotations

from network.wal import RECORD_COUNT_MAX, WalError, encode_frame, parse_frames


class MemoryWal:
    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data = bytearray()

    def append(self, record: bytes) -> None:
        if len(parse_frames(bytes(self._data)).records) >= RECORD_COUNT_MAX:
            raise WalError(f"the log holds {RECORD_COUNT_MAX} records")
        self._data += encode_frame(record)

    def append_torn(self, record: bytes, size_bytes: int) -> None:
        """What a crash in the middle of `append` leaves: a prefix of the frame."""
        frame = encode_frame(record)
        assert 0 <= size_bytes < len(frame)
        self._data += frame[:size_bytes]

    def records(self) -> list[bytes]:
        return list(parse_frames(bytes(self._data)).records)

    def recover(self) -> None:
        """Replay at restart: cut a torn tail off, as `FileWal.open` does."""
        parsed = parse_frames(bytes(self._data))
        del self._data[parsed.valid_size_bytes :]

    def reset(self) -> None:
        self._data.clear()
