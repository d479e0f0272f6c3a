"""`tradeledger ledger verify` finds every planted corruption and names it."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import plyvel
import pytest
from click.testing import CliRunner

from client.cli import main
from ledger.codec import decode, encode
from ledger.store import LedgerStore
from ledger.verify import verify_directory
from tests.chain import ChainBuilder

BLOCKS = 6


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store") / "db"
    chain = ChainBuilder()
    with LedgerStore.open(path, chain.genesis) as store:
        for height in range(1, BLOCKS + 1):
            txs = [chain.transaction(n=height * 10 + i) for i in range(4)]
            store.persist_block(chain.next_block(txs, {f"doc/{height}": {"n": height}}))
    return path


def copy(pristine: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(pristine, target)
    return target


def test_a_genuine_store_verifies(pristine: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["ledger", "verify", str(copy(pristine, tmp_path))])
    assert result.exit_code == 0, result.output
    assert f"{BLOCKS} blocks, {BLOCKS * 4} transactions" in result.output


def test_json_report(pristine: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["ledger", "verify", "--json", str(copy(pristine, tmp_path))])
    report = json.loads(result.output)
    assert report["ok"] is True
    assert report["verified_height"] == BLOCKS


def _rewrite(path: Path, key: bytes, change: object) -> None:
    db = plyvel.DB(str(path))
    value = db.get(key)
    assert value is not None
    db.put(key, change(value))  # type: ignore[operator]
    db.close()


def _block_key(height: int) -> bytes:
    return b"b/" + height.to_bytes(8, "big")


def _edit_block(field: str, new: object) -> object:
    def change(data: bytes) -> bytes:
        block = decode(data)
        assert isinstance(block, dict)
        header = block["header"]
        assert isinstance(header, dict)
        header[field] = new  # type: ignore[assignment]
        return encode(block)

    return change


def _flip_transaction_byte(data: bytes) -> bytes:
    block = decode(data)
    assert isinstance(block, dict)
    txs = block["transactions"]
    assert isinstance(txs, list)
    tx = txs[1]
    assert isinstance(tx, bytes)
    txs[1] = tx[:-5] + bytes([tx[-5] ^ 1]) + tx[-4:]  # inside the signature
    return encode(block)


@pytest.mark.parametrize(
    ("key", "change", "expected_height", "what"),
    [
        (_block_key(3), _flip_transaction_byte, 3, "transaction 1"),
        (_block_key(2), _edit_block("time_ms", 5), 2, "time_ms"),
        (_block_key(4), _edit_block("state_root", bytes(32)), 4, "header.state_root"),
        (_block_key(5), _edit_block("log_size", 999), 5, "header.log_size"),
        (_block_key(2), _edit_block("chain_id", "evil"), 2, "header.chain_id"),
        (
            b"c/" + (3).to_bytes(8, "big"),
            lambda d: d[:-3] + bytes([d[-3] ^ 0x40]) + d[-2:],
            3,
            "commit",
        ),
        (
            b"r/" + (2).to_bytes(8, "big"),
            lambda d: encode(["ok", "ok", "ok", "expired"]),
            2,
            "results_root",
        ),
        (b"s/doc/3", lambda d: encode({"n": 33}), 0, "state value 'doc/3'"),
        (b"m/" + bytes(1) + (5).to_bytes(8, "big"), lambda d: bytes(32), 2, "Merkle node"),
    ],
)
def test_semantic_corruption_is_named(
    pristine: Path,
    tmp_path: Path,
    key: bytes,
    change: object,
    expected_height: int,
    what: str,
) -> None:
    path = copy(pristine, tmp_path)
    _rewrite(path, key, change)
    report = verify_directory(path)
    assert report.problem is not None, "corruption not detected"
    assert what in report.problem.what, report.problem
    if expected_height:
        assert report.problem.height == expected_height, report.problem
    result = CliRunner().invoke(main, ["ledger", "verify", str(path)])
    assert result.exit_code == 1
    assert "CORRUPT" in result.output


def _store_files(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.suffix in (".ldb", ".log") and p.stat().st_size)


@pytest.mark.parametrize("seed", range(12))
def test_a_flipped_byte_in_any_data_file_is_detected(
    pristine: Path, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    path = copy(pristine, tmp_path)
    files = _store_files(path)
    assert files, "the store wrote no data files"
    target = rng.choice(files)
    data = bytearray(target.read_bytes())
    offset = rng.randrange(len(data))
    data[offset] ^= 1 << rng.randrange(8)
    target.write_bytes(bytes(data))
    report = verify_directory(path)
    assert not report.ok, f"flip at {target.name}:{offset} not detected (seed {seed})"
