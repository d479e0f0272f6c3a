"""Offline verification of evidence bundles (client/verify.py) over genuine bundles.

The bundles are assembled from a real `LedgerStore` holding blocks made the way
`tests/chain.ChainBuilder` makes them (real signatures, real Merkle log), with
`ledger.bundle` — the same code the node serves bundles with. Then every field of
every entry is altered in turn, and each alteration must be refused, naming the entry.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from client.errors import BundleInvalid
from client.verify import BundleReport, check_bundle, verify_bundle
from ledger import crypto
from ledger.bundle import (
    BUNDLE_FORMAT,
    BundleEntry,
    bundle_entry,
    bundle_from_json,
    bundle_to_json,
    commit_from_json,
    commit_to_json,
    header_from_json,
    header_to_json,
)
from ledger.crypto import Domain
from ledger.store import LedgerStore
from ledger.types import (
    Commit,
    CommitSignature,
    Genesis,
    Transaction,
    Validator,
    ValidatorSet,
    results_proof,
)
from tests.chain import ChainBuilder, key

FILE = b"%PDF-1.7 the bill of lading as the carrier signed it"
OTHER_FILE = b"%PDF-1.7 a forged bill of lading"


@dataclasses.dataclass(frozen=True)
class Fixture:
    genesis: Genesis
    bundle: dict[str, Any]
    document_id: str
    entries: tuple[BundleEntry, ...]


def notes(chain: ChainBuilder, *numbers: int) -> list[Transaction]:
    return [chain.transaction(n=n) for n in numbers]


def build_bundle(path: Path, chain: ChainBuilder, issue_code: str = "ok") -> Fixture:
    """Six blocks; a document created in block 2 (transaction 3 of 5) and acted on in blocks 3
    (transaction 0 of 3) and 5 (1 of 2), among unrelated transactions, some refused, so that
    inclusion proofs and code proofs have several hashes."""
    with LedgerStore.open(path, chain.genesis) as store:
        store.persist_block(chain.next_block(notes(chain, 1, 2)))
        issue = chain.transaction(
            "bl.issue", reference="BL-1", document_sha256=crypto.sha256(FILE), issue_to="seller"
        )
        document_id = issue.id.hex()
        store.persist_block(
            chain.next_block(
                [*notes(chain, 3, 8, 9), issue, *notes(chain, 10)],
                codes=["ok", "expired", "ok", issue_code, "nonce_reused"],
            )
        )
        transfer = chain.transaction("bl.transfer", document=document_id, recipient="buyer")
        store.persist_block(
            chain.next_block([transfer, *notes(chain, 4, 11)], codes=["ok", "ok", "key_unknown"])
        )
        store.persist_block(chain.next_block([chain.transaction(n=5)]))
        accept = chain.transaction("bl.accept", document=document_id)
        store.persist_block(chain.next_block([chain.transaction(n=6), accept]))
        store.persist_block(chain.next_block([chain.transaction(n=7)]))
        entries = []
        for tx in (issue, transfer, accept):
            entry = bundle_entry(store, tx.id)
            assert entry is not None
            entries.append(entry)
        assert bundle_entry(store, bytes(32)) is None
        bundle = bundle_to_json(
            genesis=chain.genesis,
            document_id=document_id,
            document={"id": document_id, "status": "issued", "family": "bl"},
            entries=entries,
        )
    # What travels is JSON text: round-trip it so the test sees what a client would.
    return Fixture(
        genesis=chain.genesis,
        bundle=json.loads(json.dumps(bundle)),
        document_id=document_id,
        entries=tuple(entries),
    )


@pytest.fixture(scope="module")
def genuine(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    return build_bundle(tmp_path_factory.mktemp("bundle") / "db", ChainBuilder())


def fresh(fixture: Fixture) -> dict[str, Any]:
    return copy.deepcopy(fixture.bundle)


def refused(bundle: dict[str, Any], genesis: Genesis, file: bytes | None = None) -> BundleReport:
    with pytest.raises(BundleInvalid) as info:
        verify_bundle(bundle, genesis, file)
    assert info.value.report.problems
    return info.value.report


# --- the genuine bundle -----------------------------------------------------------------------


def test_a_genuine_bundle_verifies(genuine: Fixture) -> None:
    report = verify_bundle(fresh(genuine), genuine.genesis, FILE)
    assert report.ok
    assert report.file_matches is True
    assert report.document_sha256 == crypto.sha256(FILE).hex()
    assert [e.kind for e in report.entries] == ["bl.issue", "bl.transfer", "bl.accept"]
    assert all(e.verified and e.code == "ok" and e.mentions_document for e in report.entries)
    assert [e.height for e in report.entries] == [2, 3, 5]
    assert {e.sender_organisation for e in report.entries} == {"gov"}
    assert report.entries[0].tx_id == genuine.document_id
    assert json.loads(json.dumps(report.to_json()))["ok"] is True


def test_json_round_trip_is_exact(genuine: Fixture) -> None:
    parsed = bundle_from_json(fresh(genuine))
    assert parsed.entries == genuine.entries
    for entry in genuine.entries:
        assert header_from_json(header_to_json(entry.header)) == entry.header
        assert commit_from_json(commit_to_json(entry.commit)) == entry.commit


def test_the_proofs_have_several_hashes(genuine: Fixture) -> None:
    assert [len(e.inclusion_proof) for e in genuine.entries] == [3, 4, 2]
    assert [len(e.code_proof) for e in genuine.entries] == [3, 2, 1]
    assert [e.code for e in genuine.entries] == ["ok", "ok", "ok"]
    assert set(genuine.bundle["entries"][0]) == {
        "transaction",
        "height",
        "index_in_block",
        "log_index",
        "code",
        "code_proof",
        "header",
        "commit",
        "inclusion_proof",
    }


def test_without_a_file_the_file_is_not_judged(genuine: Fixture) -> None:
    report = verify_bundle(fresh(genuine), genuine.genesis)
    assert report.file_matches is None


# --- one field altered ------------------------------------------------------------------------


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for name, item in value.items():
            yield from leaves(item, (*path, name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))
    else:
        yield path


def altered(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    assert isinstance(value, str)
    if value and all(c in "0123456789abcdef" for c in value) and len(value) % 2 == 0:
        last = "0" if value[-1] != "0" else "1"
        return value[:-1] + last
    return value + "x"


def path_text(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")


def every_proven_leaf(bundle: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Every leaf except the informational `document` member."""
    return [path for path in leaves(bundle) if path[0] != "document"]


def test_every_proven_field_is_covered(genuine: Fixture) -> None:
    paths = {path_text(p) for p in every_proven_leaf(genuine.bundle)}
    for expected in (
        "entries[0].transaction",
        "entries[1].header.results_root",
        "entries[1].header.time_ms",
        "entries[2].commit.signatures[2].timestamp_ms",
        "entries[0].code",
        "entries[0].code_proof[2]",
        "entries[1].code_proof[1]",
        "entries[2].code_proof[0]",
        "entries[0].inclusion_proof[0]",
        "entries[2].log_index",
        "genesis_hash",
        "chain_id",
    ):
        assert expected in paths
    assert len(paths) > 100


def test_altering_any_proven_field_is_refused_and_located(genuine: Fixture) -> None:
    failures = []
    for path in every_proven_leaf(genuine.bundle):
        bundle = fresh(genuine)
        parent = bundle
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = altered(parent[path[-1]])
        report = check_bundle(bundle, genuine.genesis, FILE)
        if report.ok:
            failures.append(path_text(path))
            continue
        if path[0] == "entries":
            # the problem names the altered entry (or the document's creation for entry 0)
            assert any(p.entry == path[1] or p.field == "document_id" for p in report.problems), (
                path,
                report.problems,
            )
    assert not failures, f"alterations accepted: {failures}"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (("entries", 1, "transaction"), "entries[1].transaction"),
        (("entries", 1, "header", "log_root"), "entries[1].commit.block_hash"),
        (("entries", 0, "code"), "entries[0].code_proof"),
        (("entries", 2, "code_proof", 0), "entries[2].code_proof"),
        (("entries", 1, "code_proof", 1), "entries[1].code_proof"),
        (("entries", 0, "inclusion_proof", 1), "entries[0].inclusion_proof"),
        (("entries", 1, "commit", "signatures", 0, "signature"), "entries[1].commit.signatures[0]"),
        (("entries", 1, "index_in_block"), "entries[1].log_index"),
        (("genesis_hash",), "genesis_hash"),
    ],
)
def test_the_problem_names_the_field(genuine: Fixture, path: tuple[Any, ...], field: str) -> None:
    bundle = fresh(genuine)
    parent: Any = bundle
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = altered(parent[path[-1]])
    report = refused(bundle, genuine.genesis)
    assert any(p.field.startswith(field) for p in report.problems), report.problems


def test_an_altered_transaction_body_is_refused(genuine: Fixture) -> None:
    tx = Transaction.decode(genuine.entries[1].transaction)
    forged = dataclasses.replace(tx, body={**tx.body, "recipient": "mallory"})
    bundle = fresh(genuine)
    bundle["entries"][1]["transaction"] = forged.encode().hex()
    report = refused(bundle, genuine.genesis)
    assert [str(p) for p in report.problems] == [
        "entries[1].transaction.signature: signature does not verify"
    ]
    assert report.entries[0].verified
    assert report.entries[2].verified
    assert not report.entries[1].verified


# --- result codes -----------------------------------------------------------------------------


def test_a_swapped_code_is_refused(genuine: Fixture) -> None:
    for index in range(3):
        bundle = fresh(genuine)
        bundle["entries"][index]["code"] = "sender_not_holder"
        report = refused(bundle, genuine.genesis)
        assert [p.field for p in report.problems] == [f"entries[{index}].code_proof"]
        assert "code 'sender_not_holder' as result" in report.problems[0].detail
        assert not report.entries[index].verified
        assert report.entries[index].code is None


def test_a_code_proof_with_a_wrong_hash_is_refused(genuine: Fixture) -> None:
    for index, entry in enumerate(genuine.entries):
        for position in range(len(entry.code_proof)):
            bundle = fresh(genuine)
            digest = bytearray(entry.code_proof[position])
            digest[position] ^= 0x01
            bundle["entries"][index]["code_proof"][position] = digest.hex()
            report = refused(bundle, genuine.genesis)
            assert [p.field for p in report.problems] == [f"entries[{index}].code_proof"]
            assert "gives results root" in report.problems[0].detail


def test_a_code_proof_of_the_wrong_length_is_refused(genuine: Fixture) -> None:
    bundle = fresh(genuine)
    bundle["entries"][0]["code_proof"].pop()
    report = refused(bundle, genuine.genesis)
    assert [str(p) for p in report.problems] == [
        "entries[0].code_proof: an inclusion proof for index 3 in a tree of size 5 has 3 "
        "hashes, got 2"
    ]
    bundle = fresh(genuine)
    bundle["entries"][2]["code_proof"].append(bundle["entries"][2]["code_proof"][0])
    assert [p.field for p in refused(bundle, genuine.genesis).problems] == ["entries[2].code_proof"]
    bundle = fresh(genuine)
    bundle["entries"][1]["code_proof"] = ["00" * 32] * 16  # more than any block needs
    problem = refused(bundle, genuine.genesis).problems[0]
    assert str(problem) == "entries[1].code_proof: at most 15 items, got 16"


def test_a_code_proven_at_another_index_is_refused(genuine: Fixture) -> None:
    # Genuine proofs of the issue block's codes 0 and 1, as long as the issue's own (index
    # 3 of 5). Code 2's proof is the issue's own: codes 2 and 3 are equal sibling leaves.
    block_codes = ["ok", "expired", "ok", "ok", "nonce_reused"]
    assert results_proof(block_codes, 2) == genuine.entries[0].code_proof
    for other in (0, 1):
        bundle = fresh(genuine)
        bundle["entries"][0]["code_proof"] = [d.hex() for d in results_proof(block_codes, other)]
        assert len(bundle["entries"][0]["code_proof"]) == len(genuine.entries[0].code_proof)
        report = refused(bundle, genuine.genesis)
        assert [p.field for p in report.problems] == ["entries[0].code_proof"]
    # claiming another index moves the transaction in the log: refused before the code
    bundle = fresh(genuine)
    bundle["entries"][0]["index_in_block"] = 0
    assert [p.field for p in refused(bundle, genuine.genesis).problems] == ["entries[0].log_index"]
    bundle["entries"][0]["log_index"] -= 3
    report = refused(bundle, genuine.genesis)
    assert [p.field for p in report.problems] == ["entries[0].inclusion_proof"]


def test_a_refused_creating_transaction_is_reported_with_its_code(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    chain = ChainBuilder()
    fixture = build_bundle(tmp_path_factory.mktemp("refused") / "db", chain, "reference_taken")
    report = refused(fresh(fixture), fixture.genesis)
    assert [p.field for p in report.problems] == ["entries[0].code"]
    assert "was refused (reference_taken)" in report.problems[0].detail
    assert all(entry.verified for entry in report.entries)
    assert [entry.code for entry in report.entries] == ["reference_taken", "ok", "ok"]


def test_a_bundle_of_the_first_format_is_refused_by_name(genuine: Fixture) -> None:
    assert genuine.bundle["format"] == BUNDLE_FORMAT == "tradeledger-bundle/2"
    bundle = fresh(genuine)
    bundle["format"] = "tradeledger-bundle/1"
    for entry in bundle["entries"]:
        del entry["code"], entry["code_proof"]
        entry["codes"] = ["ok"]
    report = refused(bundle, genuine.genesis)
    assert [p.field for p in report.problems] == ["format"]
    assert "'tradeledger-bundle/1' is no longer accepted" in report.problems[0].detail
    assert "expected 'tradeledger-bundle/2'" in report.problems[0].detail


def test_a_malformed_bundle_names_the_field(genuine: Fixture) -> None:
    bundle = fresh(genuine)
    del bundle["entries"][1]["header"]["tx_root"]
    report = refused(bundle, genuine.genesis)
    assert [str(p) for p in report.problems] == ["entries[1].header.tx_root: is required"]
    assert report.problems[0].entry == 1
    bundle = fresh(genuine)
    bundle["entries"][0]["surprise"] = 1
    assert refused(bundle, genuine.genesis).problems[0].field == "entries[0].surprise"
    bundle = fresh(genuine)
    bundle["entries"][0]["inclusion_proof"][0] = bundle["entries"][0]["inclusion_proof"][0].upper()
    assert "lowercase hex" in refused(bundle, genuine.genesis).problems[0].detail
    bundle = fresh(genuine)
    bundle["format"] = "tradeledger-bundle/3"
    assert refused(bundle, genuine.genesis).problems[0].field == "format"


# --- commits ----------------------------------------------------------------------------------


def set_commit(bundle: dict[str, Any], index: int, commit: Commit) -> None:
    bundle["entries"][index]["commit"] = commit_to_json(commit)


def test_a_commit_with_too_few_signatures_is_refused(genuine: Fixture) -> None:
    commit = genuine.entries[1].commit
    assert len(commit.signatures) == 3  # quorum of 4 validators of power 1
    bundle = fresh(genuine)
    set_commit(bundle, 1, dataclasses.replace(commit, signatures=commit.signatures[:2]))
    report = refused(bundle, genuine.genesis)
    assert report.problems[0].field == "entries[1].commit.signatures"
    assert "power 2 of 4" in report.problems[0].detail


def test_a_commit_with_a_repeated_signature_is_refused(genuine: Fixture) -> None:
    commit = genuine.entries[0].commit
    signatures = (*commit.signatures[:2], commit.signatures[0])
    bundle = fresh(genuine)
    set_commit(bundle, 0, dataclasses.replace(commit, signatures=signatures))
    report = refused(bundle, genuine.genesis)
    assert report.problems[0].field == "entries[0].commit.signatures[2]"
    assert "twice" in report.problems[0].detail


def sign_precommit(signer: crypto.SigningKey, commit: Commit, chain_id: str) -> CommitSignature:
    signature = CommitSignature(validator=signer.public_key, timestamp_ms=1, signature=bytes(64))
    payload = commit.precommit(signature).signed_payload()
    return dataclasses.replace(
        signature, signature=signer.sign(Domain.PRECOMMIT, chain_id, payload)
    )


def test_a_commit_with_an_unknown_signer_is_refused(genuine: Fixture) -> None:
    commit = genuine.entries[2].commit
    stranger = sign_precommit(key("stranger"), commit, genuine.genesis.chain_id)
    bundle = fresh(genuine)
    set_commit(
        bundle, 2, dataclasses.replace(commit, signatures=(*commit.signatures[:2], stranger))
    )
    report = refused(bundle, genuine.genesis)
    assert report.problems[0].field == "entries[2].commit.signatures[2].validator"
    assert "not a validator of the genesis" in report.problems[0].detail


def test_a_precommit_signed_for_another_chain_is_refused(genuine: Fixture) -> None:
    commit = genuine.entries[2].commit
    signer = key("validator-3")  # a genuine validator, signing for another network
    elsewhere = sign_precommit(signer, commit, "other-chain")
    bundle = fresh(genuine)
    set_commit(
        bundle, 2, dataclasses.replace(commit, signatures=(*commit.signatures[:2], elsewhere))
    )
    report = refused(bundle, genuine.genesis)
    assert report.problems[0].field == "entries[2].commit.signatures[2].signature"


# --- proofs -----------------------------------------------------------------------------------


def test_a_wrong_inclusion_proof_is_refused(genuine: Fixture) -> None:
    bundle = fresh(genuine)
    # entry 1's proof presented for entry 0's transaction
    bundle["entries"][0]["inclusion_proof"] = bundle["entries"][1]["inclusion_proof"]
    report = refused(bundle, genuine.genesis)
    assert report.problems[0].field == "entries[0].inclusion_proof"
    bundle = fresh(genuine)
    bundle["entries"][2]["inclusion_proof"].pop()
    assert refused(bundle, genuine.genesis).problems[0].field == "entries[2].inclusion_proof"


def test_a_transaction_moved_to_another_block_is_refused(genuine: Fixture) -> None:
    bundle = fresh(genuine)
    # entry 1's transaction claimed to sit in entry 2's block
    bundle["entries"][1]["transaction"] = bundle["entries"][2]["transaction"]
    bundle["entries"][2]["transaction"] = fresh(genuine)["entries"][1]["transaction"]
    report = refused(bundle, genuine.genesis)
    assert {p.field for p in report.problems} == {
        "entries[1].inclusion_proof",
        "entries[2].inclusion_proof",
    }


def test_an_unrelated_transaction_is_refused(
    genuine: Fixture, tmp_path_factory: pytest.TempPathFactory
) -> None:
    chain = ChainBuilder()
    with LedgerStore.open(tmp_path_factory.mktemp("unrelated") / "db", chain.genesis) as store:
        issue = chain.transaction("bl.issue", reference="BL-9", document_sha256=bytes(32))
        note = chain.transaction(n=1)  # genuine, committed, but not about the bill
        store.persist_block(chain.next_block([issue, note]))
        entries = [bundle_entry(store, tx.id) for tx in (issue, note)]
    bundle = bundle_to_json(
        genesis=chain.genesis,
        document_id=issue.id.hex(),
        document={},
        entries=[e for e in entries if e is not None],
    )
    report = refused(json.loads(json.dumps(bundle)), chain.genesis)
    assert [p.field for p in report.problems] == ["entries[1].transaction"]
    assert "not part of this document's history" in report.problems[0].detail
    assert report.entries[1].verified
    assert not report.entries[1].mentions_document


def test_entries_out_of_order_or_repeated_are_refused(genuine: Fixture) -> None:
    bundle = fresh(genuine)
    bundle["entries"].append(bundle["entries"][0])
    report = refused(bundle, genuine.genesis)
    assert report.problems[0].field == "entries[3].log_index"


def test_a_bundle_without_the_creating_transaction_is_refused(genuine: Fixture) -> None:
    bundle = fresh(genuine)
    del bundle["entries"][0]
    report = refused(bundle, genuine.genesis, FILE)
    assert [p.field for p in report.problems] == ["document_id", "file"]
    bundle["entries"] = []
    assert refused(bundle, genuine.genesis).problems[0].field == "entries"


# --- chain, genesis, file ---------------------------------------------------------------------


def test_a_bundle_of_another_chain_is_refused(
    genuine: Fixture, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = build_bundle(tmp_path_factory.mktemp("other") / "db", ChainBuilder(chain_id="other"))
    report = refused(other.bundle, genuine.genesis, FILE)
    fields = {p.field for p in report.problems}
    assert {"chain_id", "genesis_hash"} <= fields
    assert {f"entries[{i}].header.chain_id" for i in range(3)} <= fields
    # only the top-level chain id changed
    bundle = fresh(genuine)
    bundle["chain_id"] = "other"
    assert [p.field for p in refused(bundle, genuine.genesis).problems] == ["chain_id"]


def test_a_different_genesis_is_refused(genuine: Fixture) -> None:
    later = dataclasses.replace(
        genuine.genesis, genesis_time_ms=genuine.genesis.genesis_time_ms + 1
    )
    report = refused(fresh(genuine), later)
    assert [p.field for p in report.problems] == ["genesis_hash"]
    # a genesis with other validators: no commit verifies
    validators = ValidatorSet.of(
        [
            Validator(node_key=key(f"elsewhere-{i}").public_key, power=1, organisation="gov")
            for i in range(4)
        ]
    )
    stranger_set = dataclasses.replace(genuine.genesis, validators=validators)
    report = refused(fresh(genuine), stranger_set)
    assert {p.field for p in report.problems} >= {
        "genesis_hash",
        "entries[0].commit.signatures[0].validator",
    }


def test_a_file_whose_hash_differs_is_refused(genuine: Fixture) -> None:
    report = refused(fresh(genuine), genuine.genesis, OTHER_FILE)
    assert [p.field for p in report.problems] == ["file"]
    assert report.file_matches is False
    assert "not the file that was registered" in report.problems[0].detail
    assert report.entries[0].verified  # the proofs themselves are fine
