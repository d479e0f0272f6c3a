"""The adversarial checker is not blind: every planted bug (tests/adversarial/broken.py) is
caught, and a genuine ledger with its true history passes. In-process, no node processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from client import bodies
from contracts.testing import issue_body
from tests.adversarial.broken import CASES, Forge, genuine_life
from tests.adversarial.checker import check


def test_a_genuine_ledger_and_its_history_pass(tmp_path: Path) -> None:
    forge = Forge(tmp_path / "ledger")
    genuine_life(forge)
    result = check(forge.history.snapshot(), {0: forge.chain()}, forge.genesis)
    forge.close()
    assert result.ok, result.violations
    assert (result.blocks, result.transactions, result.bills) == (3, 3, 1)


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_planted_bug_is_caught(tmp_path: Path, name: str) -> None:
    plant, prefix = CASES[name]
    forge = Forge(tmp_path / "ledger")
    plant(forge)
    result = check(forge.history.snapshot(), {0: forge.chain()}, forge.genesis)
    forge.close()
    assert any(v.startswith(prefix) for v in result.violations), (name, result.violations)


def test_a_fork_between_two_nodes_is_caught(tmp_path: Path) -> None:
    left, right = Forge(tmp_path / "left"), Forge(tmp_path / "right")
    for forge in (left, right):
        genuine_life(forge)
    document = left.history.snapshot()[0].tx_id
    left.block([left.tx("buyer", "bl.transfer", bodies.bl_transfer(document, "seller", 99))])
    right.nonce = left.nonce + 10
    right.block([right.tx("carrier", "bl.issue", issue_body("BL-X", "seller", to_order=True))])
    history = [*left.history.snapshot(), *right.history.snapshot()]
    result = check(history, {0: left.chain(0), 1: right.chain(1)}, left.genesis)
    left.close()
    right.close()
    assert any(
        v.startswith("agreement: nodes 0 and 1 differ at height 4") for v in result.violations
    )


def test_a_stored_holder_that_differs_from_the_model_is_caught(tmp_path: Path) -> None:
    forge = Forge(tmp_path / "ledger")
    document = genuine_life(forge)
    chain = forge.chain()
    forge.close()
    record = chain.documents[f"doc/{document}"]
    assert isinstance(record, dict)
    assert isinstance(record["title"], dict)
    record["title"]["holder"] = "bank-nl"  # as if a node served a tampered state
    result = check(forge.history.snapshot(), {0: chain}, forge.genesis)
    assert any("holder is 'bank-nl'" in v for v in result.violations), result.violations
