"""Storage damage below the process level: what a stopped validator's files may suffer.

The process-level scenario (tests/adversarial/attacks.py `storage_damage`) damages LevelDB
files; here, the consensus write-ahead log, whose last record is what stops a restarted
validator from signing a second, different vote at the height and round it was in.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from network.wal import MAGIC, FileWal, WalCorrupted


def _wal_with_two_records(path: Path) -> None:
    with FileWal.open(path) as wal:
        wal.append(b"first vote record " * 4)
        wal.append(b"last vote record, the one that forbids a second vote " * 4)


def test_a_torn_last_record_is_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "consensus.wal"
    _wal_with_two_records(path)
    data = path.read_bytes()
    path.write_bytes(data[:-10])  # a crash mid-append: a prefix of the last frame
    with FileWal.open(path) as wal:
        assert wal.records() == [b"first vote record " * 4]


def test_a_bit_flip_in_a_complete_last_record_is_corruption_not_a_torn_write(
    tmp_path: Path,
) -> None:
    path = tmp_path / "consensus.wal"
    _wal_with_two_records(path)
    data = bytearray(path.read_bytes())
    data[-20] ^= 0x01  # inside the last record's payload; its length is intact
    path.write_bytes(bytes(data))
    assert data[: len(MAGIC)] == MAGIC
    with pytest.raises(WalCorrupted):
        FileWal.open(path).close()
