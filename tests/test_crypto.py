from __future__ import annotations

import json

import pytest

from ledger import crypto
from ledger.crypto import Domain, SigningKey
from ledger.errors import BadSignature
from tests.testdata import TESTDATA

ED25519 = TESTDATA / "ed25519"


def _rfc8032_vectors() -> list[dict[str, str]]:
    loaded = json.loads((ED25519 / "rfc8032-section7.1-ed25519.json").read_text())
    vectors: list[dict[str, str]] = loaded["vectors"] if isinstance(loaded, dict) else loaded
    return vectors


def _wycheproof_cases() -> list[tuple[str, str, str, str, str]]:
    loaded = json.loads((ED25519 / "wycheproof-ed25519_test.json").read_text())
    cases = []
    for group in loaded["testGroups"]:
        for test in group["tests"]:
            cases.append(
                (
                    f"tc{test['tcId']}-{test['comment']}",
                    group["publicKey"]["pk"],
                    test["msg"],
                    test["sig"],
                    test["result"],
                )
            )
    return cases


@pytest.mark.parametrize("vector", _rfc8032_vectors(), ids=lambda v: v.get("name", "vector"))
def test_rfc8032_vectors(vector: dict[str, str]) -> None:
    key = SigningKey(bytes.fromhex(vector["secret_key_hex"]))
    assert key.public_key.hex() == vector["public_key_hex"]
    message = bytes.fromhex(vector["message_hex"])
    signature = key._key.sign(message).signature
    assert signature.hex() == vector["signature_hex"]
    crypto.verify_raw(key.public_key, message, signature)


WYCHEPROOF = _wycheproof_cases()


def test_wycheproof_file_is_complete() -> None:
    assert len(WYCHEPROOF) == 151
    assert sum(1 for case in WYCHEPROOF if case[4] == "invalid") == 63


@pytest.mark.parametrize(
    ("public_key", "message", "signature", "result"),
    [case[1:] for case in WYCHEPROOF],
    ids=[case[0] for case in WYCHEPROOF],
)
def test_wycheproof(public_key: str, message: str, signature: str, result: str) -> None:
    args = (bytes.fromhex(public_key), bytes.fromhex(message), bytes.fromhex(signature))
    if result == "valid":
        crypto.verify_raw(*args)
    else:
        with pytest.raises(BadSignature):
            crypto.verify_raw(*args)


def test_signature_is_bound_to_domain_and_chain() -> None:
    key = SigningKey(bytes(range(32)))
    signature = key.sign(Domain.TRANSACTION, "trade-1", b"payload")
    crypto.verify(key.public_key, Domain.TRANSACTION, "trade-1", b"payload", signature)
    for domain, chain in [(Domain.PRECOMMIT, "trade-1"), (Domain.TRANSACTION, "trade-2")]:
        with pytest.raises(BadSignature):
            crypto.verify(key.public_key, domain, chain, b"payload", signature)
    with pytest.raises(BadSignature):
        crypto.verify(key.public_key, Domain.TRANSACTION, "trade-1", b"payloaD", signature)


def test_malleated_signature_is_refused() -> None:
    key = SigningKey(bytes(range(32)))
    signature = key.sign(Domain.TRANSACTION, "c", b"m")
    s = int.from_bytes(signature[32:], "little") + 2**252 + 27742317777372353535851937790883648493
    malleated = signature[:32] + s.to_bytes(32, "little")
    with pytest.raises(BadSignature, match="malleable"):
        crypto.verify(key.public_key, Domain.TRANSACTION, "c", b"m", malleated)


@pytest.mark.parametrize(("key_size", "signature_size"), [(31, 64), (33, 64), (32, 63), (32, 65)])
def test_wrong_lengths_are_refused(key_size: int, signature_size: int) -> None:
    with pytest.raises(BadSignature, match="bytes"):
        crypto.verify_raw(bytes(key_size), b"m", bytes(signature_size))


def test_tagged_hashes_differ_by_domain() -> None:
    assert crypto.tagged_hash(Domain.HEADER, b"x") != crypto.tagged_hash(Domain.STATE, b"x")
    assert len({d.value for d in Domain}) == len(Domain)


def test_chain_id_is_validated() -> None:
    with pytest.raises(ValueError, match="chain id"):
        crypto.sign_bytes(Domain.TRANSACTION, "", b"")
    with pytest.raises(ValueError, match="chain id"):
        crypto.sign_bytes(Domain.TRANSACTION, "é", b"")


def test_key_repr_hides_the_seed() -> None:
    key = SigningKey(bytes(range(32)))
    assert bytes(range(32)).hex() not in repr(key)
