"""The file-backed write-ahead log: durable appends, length+CRC framing, torn tails."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.types import Vote, VoteKind
from network.consensus import Proposal, Step, WalRecord
from network.consensus.messages import VALUE_SIZE_BYTES_MAX
from network.sim import MemoryWal
from network.wal import (
    COMPACT_SIZE_BYTES,
    MAGIC,
    RECORD_SIZE_BYTES_MAX,
    FileWal,
    WalCorrupted,
    WalRecordTooLarge,
    encode_frame,
    load_wal_records,
    parse_frames,
    persist_wal_record,
)

KEY = bytes(range(32))


def sample_record(round_: int = 0) -> WalRecord:
    proposal = Proposal(
        height=3, round=round_, pol_round=-1, value=b"block", value_hash=b"h" * 32, proposer=KEY
    )
    vote = Vote(
        kind=VoteKind.PRECOMMIT,
        height=3,
        round=round_,
        block_hash=b"h" * 32,
        timestamp_ms=1_700_000_000_123,
        validator=KEY,
    )
    return WalRecord(
        height=3,
        round=round_,
        step=Step.PRECOMMIT,
        locked_round=round_,
        locked_hash=b"h" * 32,
        valid_round=round_,
        valid_hash=b"h" * 32,
        valid_value=b"block",
        proposals=(proposal,),
        votes=(vote,),
    )


def test_append_is_replayed_after_reopen(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    with FileWal.open(path) as wal:
        assert wal.records() == []
        wal.append(b"one")
        wal.append(b"two")
    with FileWal.open(path) as wal:
        assert wal.records() == [b"one", b"two"]
        wal.append(b"three")
    with FileWal.open(path) as wal:
        assert wal.records() == [b"one", b"two", b"three"]


def test_a_record_holding_the_largest_block_is_replayed(tmp_path: Path) -> None:
    # A proposal of a full block is several MiB: more than the codec's default string limit.
    value = bytes(VALUE_SIZE_BYTES_MAX)
    record = replace(
        sample_record(),
        proposals=(replace(sample_record().proposals[0], value=value),),
        valid_value=value,
    )
    path = tmp_path / "wal"
    with FileWal.open(path) as wal:
        persist_wal_record(wal, record)
    with FileWal.open(path) as wal:
        assert load_wal_records(wal) == [record]


def test_wal_records_round_trip(tmp_path: Path) -> None:
    with FileWal.open(tmp_path / "wal") as wal:
        persist_wal_record(wal, sample_record(0))
        persist_wal_record(wal, sample_record(1))
    with FileWal.open(tmp_path / "wal") as wal:
        assert load_wal_records(wal) == [sample_record(0), sample_record(1)]


@pytest.mark.parametrize("cut", [1, 4, 8, 9, 12])
def test_a_torn_last_record_is_cut_off(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "wal"
    with FileWal.open(path) as wal:
        wal.append(b"kept")
        wal.append(b"torn-record")
    size = path.stat().st_size
    os.truncate(path, size - cut)
    with FileWal.open(path) as wal:
        assert wal.records() == [b"kept"]
        wal.append(b"after")  # the log goes on from the last whole record
    with FileWal.open(path) as wal:
        assert wal.records() == [b"kept", b"after"]


def test_zeros_after_the_last_record_are_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    with FileWal.open(path) as wal:
        wal.append(b"kept")
    with path.open("ab") as file:
        file.write(bytes(4096))
    with FileWal.open(path) as wal:
        assert wal.records() == [b"kept"]
    assert path.stat().st_size == len(MAGIC) + 8 + len(b"kept")


def test_a_flipped_bit_in_the_complete_last_record_is_corruption(tmp_path: Path) -> None:
    # Not what a crash leaves (a prefix, or zeros): dropping it could forget a signed vote.
    path = tmp_path / "wal"
    with FileWal.open(path) as wal:
        wal.append(b"kept")
        wal.append(b"damaged")
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(WalCorrupted, match="not a torn last write"):
        FileWal.open(path)


def test_a_last_record_whose_tail_was_never_persisted_is_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    with FileWal.open(path) as wal:
        wal.append(b"kept")
        wal.append(b"the last vote record" * 4)
    data = bytearray(path.read_bytes())
    data[-20:] = bytes(20)  # the file was extended, the last bytes never written
    path.write_bytes(bytes(data))
    with FileWal.open(path) as wal:
        assert wal.records() == [b"kept"]


def test_damage_before_the_tail_is_corruption(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    with FileWal.open(path) as wal:
        wal.append(b"first")
        wal.append(b"second")
    data = bytearray(path.read_bytes())
    data[len(MAGIC) + 8] ^= 0xFF  # first payload byte
    path.write_bytes(bytes(data))
    with pytest.raises(WalCorrupted, match="not a torn last write"):
        FileWal.open(path)


def test_bad_magic_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    path.write_bytes(b"NOTAWAL!" + encode_frame(b"x"))
    with pytest.raises(WalCorrupted, match="magic"):
        FileWal.open(path)


def test_a_crash_while_creating_leaves_a_usable_log(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    path.write_bytes(MAGIC[:3])
    with FileWal.open(path) as wal:
        wal.append(b"x")
    with FileWal.open(path) as wal:
        assert wal.records() == [b"x"]


def test_records_are_bounded(tmp_path: Path) -> None:
    with FileWal.open(tmp_path / "wal") as wal, pytest.raises(WalRecordTooLarge):
        wal.append(bytes(RECORD_SIZE_BYTES_MAX + 1))


def test_a_frame_claiming_a_huge_length_at_the_tail_is_torn() -> None:
    data = encode_frame(b"ok") + (RECORD_SIZE_BYTES_MAX + 5).to_bytes(4, "big") + b"\x00" * 6
    parsed = parse_frames(data)
    assert parsed.records == (b"ok",)
    assert parsed.torn


def test_reset_forgets_the_records_and_empties_the_file_once_it_is_large(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    with FileWal.open(path) as wal:
        wal.append(b"a")
        wal.reset()
        assert wal.records() == []
        wal.append(b"b")
        assert wal.records() == [b"b"]
    # A small file keeps the old frames (no sync per reset); they come back after a restart
    # as records of decided heights, which the replica ignores.
    with FileWal.open(path) as wal:
        assert wal.records() == [b"a", b"b"]
        big = b"x" * (COMPACT_SIZE_BYTES // 2)
        wal.append(big)
        wal.append(big)
        wal.reset()
        wal.append(b"c")
    assert path.stat().st_size == len(MAGIC) + len(encode_frame(b"c"))
    with FileWal.open(path) as wal:
        assert wal.records() == [b"c"]


def test_an_undecodable_record_is_corruption(tmp_path: Path) -> None:
    with FileWal.open(tmp_path / "wal") as wal:
        wal.append(b"\xc1not msgpack")
        with pytest.raises(WalCorrupted, match="does not decode"):
            load_wal_records(wal)


@settings(max_examples=60, deadline=None)
@given(
    records=st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=6),
    data=st.data(),
)
def test_memory_wal_tears_like_the_file_wal(records: list[bytes], data: st.DataObject) -> None:
    """Any crash inside the last append loses exactly that append, in memory and on disk."""
    memory = MemoryWal()
    for record in records[:-1]:
        memory.append(record)
    last = records[-1]
    cut = data.draw(st.integers(min_value=0, max_value=len(last) + 7))
    memory.append_torn(last, cut)
    memory.recover()
    assert memory.records() == records[:-1]
    framed = MAGIC + b"".join(encode_frame(r) for r in records)
    parsed = parse_frames(framed[: len(framed) - (len(last) + 8 - cut)], len(MAGIC))
    assert list(parsed.records) == records[:-1]
