"""The node's peer frames fit what consensus and block sync send at their limits."""

from __future__ import annotations

from ledger.codec import Value
from ledger.types import Commit, CommitSignature
from network.consensus import Decided, encode_message
from network.consensus.messages import VALUE_SIZE_BYTES_MAX
from network.wire import FrameDecoder, Message, encode_frame
from node.runtime import PEER_CODEC_LIMITS, SYNC_BATCH_BLOCKS, SYNC_BATCH_BYTES_MAX


def _decided(value: bytes, height: int = 1) -> Decided:
    signatures = tuple(
        CommitSignature(validator=bytes([i]) * 32, timestamp_ms=1, signature=bytes(64))
        for i in range(100)
    )
    commit = Commit(height=height, round=0, block_hash=bytes(32), signatures=signatures)
    return Decided(value=value, commit=commit)


def _round_trip(message: dict[str, Value]) -> Value:
    decoder = FrameDecoder(PEER_CODEC_LIMITS)
    decoder.feed(encode_frame(message, PEER_CODEC_LIMITS))
    event = decoder.next_event()
    assert isinstance(event, Message)
    return event.value


def test_a_proposal_of_the_largest_block_fits_one_frame() -> None:
    data = encode_message(_decided(b"\x01" * VALUE_SIZE_BYTES_MAX))
    assert len(data) > 4 * 1024 * 1024
    value = _round_trip({"type": "consensus", "data": data})
    assert isinstance(value, dict)
    assert value["data"] == data


def test_the_largest_block_sync_answer_fits_one_frame() -> None:
    # An answer holds blocks up to SYNC_BATCH_BYTES_MAX, and always at least one block.
    big = _decided(b"\x02" * (SYNC_BATCH_BYTES_MAX - 1)).to_value()
    last = _decided(b"\x03" * VALUE_SIZE_BYTES_MAX, height=2).to_value()
    value = _round_trip({"type": "blocks", "items": [big, last]})
    assert isinstance(value, dict)
    items = value["items"]
    assert isinstance(items, list)
    assert len(items) == 2
    assert SYNC_BATCH_BLOCKS >= 2
