"""`ledger.types.results_root` and the proof of one result code (`results_proof`, `verify_result`).

The results root is the tagged hash (Domain.RESULTS) of the RFC 6962 root whose leaf i is the
canonical encoding of code i. Every index of every block of 1..40 codes is proven, and each
single-bit change of the code, a proof hash or the index must be refused.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import crypto, merkle
from ledger.codec import encode
from ledger.codes import Code
from ledger.crypto import Domain
from ledger.types import results_proof, results_root, verify_result

BLOCK_SIZE_MAX = 40
CODES = tuple(code.value for code in Code)


def block_codes(size: int) -> list[str]:
    """Mostly "ok", with refusals in between, so equal and different leaves both occur."""
    return [CODES[(i * 7) % len(CODES)] if i % 3 else "ok" for i in range(size)]


def refused(code: str, index: int, count: int, proof: list[bytes], root: bytes) -> bool:
    try:
        verify_result(code, index, count, proof, root)
    except merkle.MerkleError:
        return True
    return False


def flipped_bits(data: bytes) -> list[bytes]:
    """`data` with one bit changed, for every bit."""
    flipped = []
    for position in range(len(data)):
        for bit in range(8):
            changed = bytearray(data)
            changed[position] ^= 1 << bit
            flipped.append(bytes(changed))
    return flipped


def test_the_definition_by_hand() -> None:
    leaf_ok = hashlib.sha256(b"\x00\xa2ok").digest()  # msgpack fixstr "ok"
    leaf_expired = hashlib.sha256(b"\x00\xa7expired").digest()
    assert results_root(["ok"]) == crypto.tagged_hash(Domain.RESULTS, leaf_ok)
    assert results_root(("ok", "expired")) == crypto.tagged_hash(
        Domain.RESULTS, hashlib.sha256(b"\x01" + leaf_ok + leaf_expired).digest()
    )
    assert results_root([]) == crypto.tagged_hash(Domain.RESULTS, merkle.EMPTY_ROOT)
    assert results_proof(("ok", "expired"), 0) == (leaf_expired,)


@pytest.mark.parametrize("size", range(1, BLOCK_SIZE_MAX + 1))
def test_every_code_proves_and_any_single_bit_change_is_refused(size: int) -> None:
    codes = block_codes(size)
    root = results_root(codes)
    assert root == results_root(tuple(codes))
    for index, code in enumerate(codes):
        proof = list(results_proof(codes, index))
        assert len(proof) == len(merkle.inclusion_proof([bytes(32)] * size, index))
        verify_result(code, index, size, proof, root)
        # the code: every bit of its encoding that still leaves text
        for changed in flipped_bits(code.encode()):
            try:
                other = changed.decode()
            except UnicodeDecodeError:
                continue
            assert refused(other, index, size, proof, root), (size, index, other)
        # the proof: every bit of every hash, and one hash too many or too few
        for position, digest in enumerate(proof):
            for changed in flipped_bits(digest):
                altered = [*proof[:position], changed, *proof[position + 1 :]]
                assert refused(code, index, size, altered, root), (size, index, position)
        assert refused(code, index, size, [*proof, bytes(32)], root)
        if proof:
            assert refused(code, index, size, proof[:-1], root)
        # the index: every bit up to the block's size, inside the block or not
        for bit in range(size.bit_length() + 1):
            assert refused(code, index ^ (1 << bit), size, proof, root), (size, index, bit)
        # and the root it is checked against
        for changed in flipped_bits(root)[::37]:
            assert refused(code, index, size, proof, changed)


def test_refusals_say_why() -> None:
    codes = block_codes(5)
    proof = list(results_proof(codes, 3))
    with pytest.raises(merkle.InvalidProof, match="has 3 hashes, got 2"):
        verify_result(codes[3], 3, 5, proof[:2], results_root(codes))
    with pytest.raises(merkle.InvalidArgument, match="outside a tree of size 5"):
        verify_result(codes[3], 5, 5, proof, results_root(codes))
    with pytest.raises(merkle.InvalidArgument, match="32 bytes"):
        verify_result(codes[3], 3, 5, [*proof[:2], proof[2][:31]], results_root(codes))
    assert codes[3] != "expired"
    with pytest.raises(merkle.InvalidProof, match="code 'expired' as result 3 of 5"):
        verify_result("expired", 3, 5, proof, results_root(codes))


def test_results_roots_of_different_codes_differ() -> None:
    blocks = [block_codes(size) for size in range(BLOCK_SIZE_MAX + 1)]
    blocks += [["ok"] * size for size in range(2, BLOCK_SIZE_MAX + 1)]
    blocks += [[*codes[1:], codes[0]] for codes in blocks if len(set(codes)) > 1]
    for size in (1, 2, 3, 7, 8, 9):  # each single code replaced by every other code
        for index in range(size):
            for code in CODES[1:]:
                codes = ["ok"] * size
                codes[index] = code
                blocks.append(codes)
    distinct = {tuple(codes) for codes in blocks}
    assert len({results_root(codes) for codes in distinct}) == len(distinct)


def test_the_root_is_domain_separated() -> None:
    codes = block_codes(9)
    leaves = [merkle.leaf_hash(encode(code)) for code in codes]
    assert results_root(codes) != merkle.root(leaves)
    assert results_root(codes) == crypto.tagged_hash(Domain.RESULTS, merkle.root(leaves))
    # not the pre-Merkle definition (a hash over all codes at once)
    assert results_root(codes) != crypto.tagged_hash(Domain.RESULTS, encode(list(codes)))


code_lists = st.lists(st.sampled_from(CODES), min_size=1, max_size=300)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(codes=code_lists, data=st.data())
def test_any_code_of_any_block_proves(codes: list[str], data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(codes) - 1), label="index")
    proof = results_proof(codes, index)
    verify_result(codes[index], index, len(codes), proof, results_root(codes))
    other = data.draw(st.sampled_from(CODES).filter(lambda code: code != codes[index]))
    assert refused(other, index, len(codes), list(proof), results_root(codes))


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(first=code_lists, second=code_lists)
def test_different_blocks_have_different_roots(first: list[str], second: list[str]) -> None:
    assert (results_root(first) == results_root(second)) == (first == second)
