"""RFC 6962 (Certificate Transparency) Merkle log: pure proofs and a persistent, incremental log.

Hashes are SHA-256 and 32 bytes long (RFC 6962 §2.1):

    leaf_hash(d)    = SHA-256(0x00 || d)
    node_hash(l, r) = SHA-256(0x01 || l || r)
    MTH({})         = SHA-256("")                 (EMPTY_ROOT)
    MTH(D[n])       = node_hash(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n

The pure functions (`root`, `inclusion_proof`, `consistency_proof`, `verify_inclusion`,
`root_from_inclusion_proof`, `verify_consistency`) need nothing but this module, so an auditor
can check a proof offline.
Verification follows RFC 9162 §2.1.3.2 and §2.1.4.2 to the letter, after checking that the
proof has exactly the number of hashes the sizes call for.

Errors (all are `LedgerError`s; catch `MerkleError` for "verified or not"):

    MerkleError(LedgerError, ValueError)
    ├── InvalidArgument   input that can never be part of a valid claim: a hash that is not
    │                     32 bytes, an index outside the tree, size1 > size2, a size over
    │                     TREE_SIZE_MAX, a proof longer than PROOF_HASHES_MAX
    └── InvalidProof      well-formed input that does not prove the claim
    StoreCorrupted        (ledger.errors) the node store lacks, or holds a malformed, node that
                          the log's size says must exist

Persistence (`MerkleLog`): node (level, index) is the root of the complete subtree over leaves
[index * 2**level, (index + 1) * 2**level); level 0 holds the leaf hashes. Nodes never change
once created, so the log only ever adds them:

1. `nodes = log.append(leaf_hashes)` advances `log.size` and returns every node it created.
   The log also keeps them in a pending overlay, so reads see them before they are persisted.
2. The caller writes `log.pending_nodes` (the union of all appends since the last persist) in
   the same atomic batch as the data they belong to, e.g. `store.put_nodes(log.pending_nodes)`.
3. After the batch is durable, the caller calls `log.mark_persisted()`, emptying the overlay.
4. If the batch fails (or the process dies), drop the log and build a new one from the store
   at its persisted size: `MerkleLog(store, persisted_size)`. Nothing else needs undoing.
5. `MerkleLog(reader, size)` reads the O(log n) frontier nodes at once, so a wrong size or a
   damaged store raises `StoreCorrupted` at construction, not in the middle of an append.

Roots and proofs at any past size are built from O(log n) complete subtrees per hash, so
O(log² n) node reads per proof; no leaf is rehashed. A `MerkleLog` is not thread-safe.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Protocol

from ledger.errors import LedgerError, StoreCorrupted

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE_BYTES",
    "LEVEL_MAX",
    "PROOF_HASHES_MAX",
    "TREE_SIZE_MAX",
    "InvalidArgument",
    "InvalidProof",
    "MemoryNodeStore",
    "MerkleError",
    "MerkleLog",
    "NodeKey",
    "NodeReader",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE_BYTES = 32
# RFC 6962 sizes are uint64. We stop at 2**63 so that every valid proof fits in
# PROOF_HASHES_MAX: an inclusion proof has at most 63 hashes (the tree height), a consistency
# proof at most 64 (the height plus one seed).
TREE_SIZE_MAX = 1 << 63
# A proof longer than this is refused before any hash in it is looked at.
PROOF_HASHES_MAX = 64
# Complete subtrees of a tree of at most TREE_SIZE_MAX leaves have levels 0..63.
LEVEL_MAX = 63

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeKey = tuple[int, int]
"""(level, index) of a complete subtree: leaves [index * 2**level, (index + 1) * 2**level)."""

_RangeHash = Callable[[int, int], bytes]
"""MTH of leaves [begin, end); begin is aligned (see `_complete_subtrees`)."""


class MerkleError(LedgerError, ValueError):
    """A Merkle argument or proof was refused."""


class InvalidArgument(MerkleError):
    """An argument is malformed or out of range; no data could make the claim valid."""


class InvalidProof(MerkleError):
    """The arguments are well-formed, but the proof does not prove the claim."""


class NodeReader(Protocol):
    """Read access to persisted nodes; `None` means the node was never stored."""

    def get_node(self, level: int, index: int) -> bytes | None: ...


# --- hashing ---------------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one log entry."""
    hasher = hashlib.sha256(_LEAF_PREFIX)
    hasher.update(data)
    return hasher.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return _node_hash(_require_hash("left", left), _require_hash("right", right))


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


# --- argument checks -------------------------------------------------------------------------


def _require_hash(name: str, value: object) -> bytes:
    if not isinstance(value, bytes):
        raise InvalidArgument(f"{name} must be bytes, got {type(value).__name__}")
    if len(value) != HASH_SIZE_BYTES:
        raise InvalidArgument(f"{name} must be {HASH_SIZE_BYTES} bytes, got {len(value)}")
    return value


def _require_size(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgument(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value <= TREE_SIZE_MAX:
        raise InvalidArgument(f"{name} must be in [0, {TREE_SIZE_MAX}], got {value}")
    return value


def _require_index(index: object, size: int) -> int:
    if not isinstance(index, int) or isinstance(index, bool):
        raise InvalidArgument(f"index must be an int, got {type(index).__name__}")
    if not 0 <= index < size:
        raise InvalidArgument(f"index {index} is outside a tree of size {size}")
    return index


def _require_proof(proof: Sequence[bytes]) -> list[bytes]:
    if isinstance(proof, bytes | bytearray | str):
        raise InvalidArgument(f"proof must be a sequence of hashes, got {type(proof).__name__}")
    if len(proof) > PROOF_HASHES_MAX:
        raise InvalidArgument(f"proof has {len(proof)} hashes, the limit is {PROOF_HASHES_MAX}")
    return [_require_hash(f"proof[{i}]", value) for i, value in enumerate(proof)]


def _require_leaf_hashes(leaf_hashes: Sequence[bytes]) -> list[bytes]:
    if isinstance(leaf_hashes, bytes | bytearray | str):
        raise InvalidArgument(
            f"leaf_hashes must be a sequence of hashes, got {type(leaf_hashes).__name__}"
        )
    if len(leaf_hashes) > TREE_SIZE_MAX:
        raise InvalidArgument(f"{len(leaf_hashes)} leaves exceed TREE_SIZE_MAX={TREE_SIZE_MAX}")
    return [_require_hash(f"leaf_hashes[{i}]", value) for i, value in enumerate(leaf_hashes)]


# --- tree shape ------------------------------------------------------------------------------


def _split(size: int) -> int:
    """The largest power of two strictly less than size (size >= 2): RFC 6962's k."""
    assert size >= 2
    return 1 << ((size - 1).bit_length() - 1)


def _complete_subtrees(begin: int, end: int) -> list[NodeKey]:
    """The complete subtrees tiling leaves [begin, end), largest (leftmost) first.

    begin must be a multiple of the largest of them, which holds for [0, size) and for every
    range the RFC 6962 recursion visits. MTH([begin, end)) is their right fold with node_hash.
    """
    nodes: list[NodeKey] = []
    width = end - begin
    position = begin
    for level in range(width.bit_length() - 1, -1, -1):
        if width >> level & 1:
            assert position % (1 << level) == 0, f"range [{begin}, {end}) is not aligned"
            nodes.append((level, position >> level))
            position += 1 << level
    assert position == end
    return nodes


def _fold_right(hashes: Sequence[bytes]) -> bytes:
    """node_hash(h0, node_hash(h1, ... node_hash(h[-2], h[-1]))): MTH of a tiling."""
    assert hashes
    accumulated = hashes[-1]
    for left in reversed(hashes[:-1]):
        accumulated = _node_hash(left, accumulated)
    return accumulated


def _mth(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH by levels: pair neighbours, carry an odd last node up. Equal to RFC 6962 §2.1."""
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    while len(level) > 1:
        paired = [_node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def _inclusion_path(index: int, size: int, range_hash: _RangeHash) -> list[bytes]:
    """PATH(index, D[0:size]), RFC 6962 §2.1.1; 0 <= index < size."""
    top_down: list[bytes] = []
    begin, end = 0, size
    while end - begin > 1:
        middle = begin + _split(end - begin)
        if index < middle:
            top_down.append(range_hash(middle, end))
            end = middle
        else:
            top_down.append(range_hash(begin, middle))
            begin = middle
    top_down.reverse()
    return top_down


def _consistency_path(size1: int, size2: int, range_hash: _RangeHash) -> list[bytes]:
    """PROOF(size1, D[0:size2]) = SUBPROOF(size1, D[0:size2], true), RFC 6962 §2.1.2.

    0 < size1 < size2. `whole` is the RFC's b: [begin, end) is still the old tree's prefix.
    """
    top_down: list[bytes] = []
    begin, end = 0, size2
    whole = True
    while end != size1:
        middle = begin + _split(end - begin)
        if size1 <= middle:
            top_down.append(range_hash(middle, end))
            end = middle
        else:
            top_down.append(range_hash(begin, middle))
            begin = middle
            whole = False
    if not whole:
        top_down.append(range_hash(begin, end))
    top_down.reverse()
    return top_down


def _inclusion_proof_length(index: int, size: int) -> int:
    """Hashes in PATH(index, D[0:size]): the levels where the paths of index and size-1 differ
    (inner), plus one per right turn above them (border)."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner + border


def _consistency_proof_length(size1: int, size2: int) -> int:
    """Hashes in PROOF(size1, D[0:size2]) for 0 < size1 < size2: the inclusion path of the
    old tree's last complete subtree, plus that subtree's hash unless it is the whole old
    tree (size1 a power of two)."""
    level = (size1 & -size1).bit_length() - 1
    index = (size1 - 1) >> level
    length = _inclusion_proof_length(index, ((size2 - 1) >> level) + 1)
    return length if index == 0 else length + 1


# --- pure API: build -------------------------------------------------------------------------


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of the given leaf hashes (RFC 6962 §2.1); EMPTY_ROOT for none."""
    return _mth(_require_leaf_hashes(leaf_hashes))


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]) (RFC 6962 §2.1.1), n = len(leaf_hashes), leaf nearest first."""
    leaves = _require_leaf_hashes(leaf_hashes)
    _require_index(index, len(leaves))
    return _inclusion_path(index, len(leaves), lambda begin, end: _mth(leaves[begin:end]))


def consistency_proof(leaf_hashes: Sequence[bytes], size1: int) -> list[bytes]:
    """PROOF(size1, D[n]) (RFC 6962 §2.1.2), n = len(leaf_hashes); empty when size1 is 0 or n."""
    leaves = _require_leaf_hashes(leaf_hashes)
    _require_size("size1", size1)
    if size1 > len(leaves):
        raise InvalidArgument(f"size1 {size1} exceeds the tree size {len(leaves)}")
    if size1 in (0, len(leaves)):
        return []
    return _consistency_path(size1, len(leaves), lambda begin, end: _mth(leaves[begin:end]))


# --- pure API: verify ------------------------------------------------------------------------


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that leaf_hash is leaf `index` of the tree of `size` leaves with `root`.

    RFC 9162 §2.1.3.2. Raises InvalidArgument for malformed input, InvalidProof otherwise.
    """
    _require_hash("leaf_hash", leaf_hash)
    _require_hash("root", root)
    computed = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if computed != root:
        raise InvalidProof(
            f"inclusion proof for index {index} in a tree of size {size} yields root "
            f"{computed.hex()}, expected {root.hex()}"
        )


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """The root that `proof` gives leaf_hash as leaf `index` of a tree of `size` leaves.

    RFC 9162 §2.1.3.2 without the last step: the caller compares the result with the root
    it trusts (`verify_inclusion` does), or with a hash of it (`ledger.types.verify_result`).
    Raises InvalidArgument for malformed input, InvalidProof for a proof of the wrong length.
    """
    _require_hash("leaf_hash", leaf_hash)
    _require_size("size", size)
    _require_index(index, size)
    path = _require_proof(proof)
    expected_length = _inclusion_proof_length(index, size)
    if len(path) != expected_length:
        raise InvalidProof(
            f"an inclusion proof for index {index} in a tree of size {size} has "
            f"{expected_length} hashes, got {len(path)}"
        )
    # RFC 9162 §2.1.3.2, steps 2-5.
    fn, sn = index, size - 1
    computed = leaf_hash
    for sibling in path:
        if sn == 0:
            raise InvalidProof("inclusion proof has hashes left over after reaching the root")
        if fn & 1 or fn == sn:
            computed = _node_hash(sibling, computed)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            computed = _node_hash(computed, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidProof("inclusion proof ends before reaching the root")
    return computed


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of size2 with root2 extends the tree of size1 with root1.

    RFC 9162 §2.1.4.2 for 0 < size1 < size2. Equal sizes need an empty proof and equal roots;
    size1 = 0 needs an empty proof and root1 = EMPTY_ROOT (every tree extends the empty one).
    Raises InvalidArgument for malformed input, InvalidProof otherwise.
    """
    _require_size("size1", size1)
    _require_size("size2", size2)
    _require_hash("root1", root1)
    _require_hash("root2", root2)
    if size1 > size2:
        raise InvalidArgument(f"size1 {size1} exceeds size2 {size2}")
    path = _require_proof(proof)
    if size1 == 0 and root1 != EMPTY_ROOT:
        raise InvalidProof(f"root1 of the empty tree must be {EMPTY_ROOT.hex()}, got {root1.hex()}")
    if size1 == size2:
        if path:
            raise InvalidProof(
                f"trees of equal size {size1} need an empty proof, got {len(path)} hashes"
            )
        if root1 != root2:
            raise InvalidProof(
                f"trees of equal size {size1} have different roots: {root1.hex()} and {root2.hex()}"
            )
        return
    if size1 == 0:
        if path:
            raise InvalidProof(
                f"a consistency proof from the empty tree is empty, got {len(path)} hashes"
            )
        return
    expected_length = _consistency_proof_length(size1, size2)
    if len(path) != expected_length:
        raise InvalidProof(
            f"a consistency proof from size {size1} to size {size2} has "
            f"{expected_length} hashes, got {len(path)}"
        )
    # RFC 9162 §2.1.4.2, steps 1-7.
    if not path:
        raise InvalidProof("consistency proof is empty")
    if size1 & (size1 - 1) == 0:
        path = [root1, *path]
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    computed1 = computed2 = path[0]
    for sibling in path[1:]:
        if sn == 0:
            raise InvalidProof("consistency proof has hashes left over after reaching the root")
        if fn & 1 or fn == sn:
            computed1 = _node_hash(sibling, computed1)
            computed2 = _node_hash(sibling, computed2)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            computed2 = _node_hash(computed2, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidProof("consistency proof ends before reaching the root")
    if computed1 != root1:
        raise InvalidProof(
            f"consistency proof yields root {computed1.hex()} for size1 {size1}, "
            f"expected root1 {root1.hex()}"
        )
    if computed2 != root2:
        raise InvalidProof(
            f"consistency proof yields root {computed2.hex()} for size2 {size2}, "
            f"expected root2 {root2.hex()}"
        )


# --- persistent log --------------------------------------------------------------------------


def _require_node_key(key: object) -> NodeKey:
    if not (isinstance(key, tuple) and len(key) == 2):
        raise InvalidArgument(f"node key must be a (level, index) tuple, got {key!r}")
    level, index = key
    if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= LEVEL_MAX:
        raise InvalidArgument(f"node level must be an int in [0, {LEVEL_MAX}], got {level!r}")
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise InvalidArgument(f"node index must be an int >= 0, got {index!r}")
    if (index + 1) << level > TREE_SIZE_MAX:
        raise InvalidArgument(f"node ({level}, {index}) lies beyond TREE_SIZE_MAX leaves")
    return level, index


class MemoryNodeStore:
    """A dict-backed NodeReader for tests and auditors. Nodes are write-once."""

    __slots__ = ("_nodes",)

    def __init__(self) -> None:
        self._nodes: dict[NodeKey, bytes] = {}

    def get_node(self, level: int, index: int) -> bytes | None:
        return self._nodes.get((level, index))

    def put_nodes(self, nodes: Mapping[NodeKey, bytes]) -> None:
        """Store all of `nodes` or, if any is malformed or rewrites a node, none of them."""
        for key, value in nodes.items():
            _require_node_key(key)
            _require_hash(f"node {key}", value)
            stored = self._nodes.get(key)
            if stored is not None and stored != value:
                raise InvalidArgument(
                    f"node {key} is stored as {stored.hex()}; a complete subtree never changes, "
                    f"refusing {value.hex()}"
                )
        self._nodes.update(nodes)

    def __len__(self) -> int:
        return len(self._nodes)


class MerkleLog:
    """An append-only RFC 6962 log whose nodes live in a NodeReader (see the module doc)."""

    __slots__ = ("_frontier", "_pending", "_reader", "_size")

    def __init__(self, reader: NodeReader, size: int) -> None:
        """Open the log of `size` leaves whose nodes `reader` holds.

        Raises StoreCorrupted if a node of the size's frontier is missing or malformed.
        """
        self._reader = reader
        self._size = _require_size("size", size)
        self._pending: dict[NodeKey, bytes] = {}
        # The complete subtrees tiling [0, size), largest first: all an append needs.
        self._frontier: list[tuple[int, bytes]] = [
            (level, self._node(level, index)) for level, index in _complete_subtrees(0, size)
        ]

    @property
    def size(self) -> int:
        """The number of leaves appended so far, persisted or not."""
        return self._size

    @property
    def pending_nodes(self) -> Mapping[NodeKey, bytes]:
        """A read-only view of the nodes created since the last `mark_persisted()`."""
        return MappingProxyType(self._pending)

    def mark_persisted(self) -> None:
        """Forget the pending nodes: the caller has durably written `pending_nodes`."""
        self._pending.clear()

    def append(self, leaf_hashes: Sequence[bytes]) -> dict[NodeKey, bytes]:
        """Append leaves; return the nodes created, which are also kept pending.

        Amortised O(1) hashes and nodes per leaf (2n - popcount(n) nodes for n leaves), no reads.
        All or nothing: a malformed hash raises InvalidArgument and appends nothing.
        """
        leaves = _require_leaf_hashes(leaf_hashes)
        if len(leaves) > TREE_SIZE_MAX - self._size:
            raise InvalidArgument(
                f"appending {len(leaves)} leaves to {self._size} exceeds TREE_SIZE_MAX"
            )
        created: dict[NodeKey, bytes] = {}
        frontier = self._frontier
        for index, leaf in enumerate(leaves, start=self._size):
            created[(0, index)] = leaf
            level, position, node = 0, index, leaf
            while position & 1:  # a right child: complete it with its left sibling
                left_level, left = frontier.pop()
                assert left_level == level
                node = _node_hash(left, node)
                level += 1
                position >>= 1
                created[(level, position)] = node
            frontier.append((level, node))
        self._size += len(leaves)
        self._pending.update(created)
        assert [level for level, _ in frontier] == [
            level for level, _ in _complete_subtrees(0, self._size)
        ]
        return created

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first `size` leaves (default: all), for any size <= self.size."""
        if size is None:
            size = self._size
        self._require_past_size("size", size)
        if size == 0:
            return EMPTY_ROOT
        if size == self._size:
            return _fold_right([node for _, node in self._frontier])
        return self._range_hash(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """PATH(index, D[0:size]) for any size <= self.size; equal to `inclusion_proof()`."""
        self._require_past_size("size", size)
        _require_index(index, size)
        return _inclusion_path(index, size, self._range_hash)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """PROOF(size1, D[0:size2]) for size1 <= size2 <= self.size; equal to
        `consistency_proof()`, so empty when size1 is 0 or size2."""
        self._require_past_size("size2", size2)
        _require_size("size1", size1)
        if size1 > size2:
            raise InvalidArgument(f"size1 {size1} exceeds size2 {size2}")
        if size1 in (0, size2):
            return []
        return _consistency_path(size1, size2, self._range_hash)

    def _require_past_size(self, name: str, size: int) -> None:
        _require_size(name, size)
        if size > self._size:
            raise InvalidArgument(f"{name} {size} exceeds the log size {self._size}")

    def _range_hash(self, begin: int, end: int) -> bytes:
        return _fold_right([self._node(level, i) for level, i in _complete_subtrees(begin, end)])

    def _node(self, level: int, index: int) -> bytes:
        node = self._pending.get((level, index))
        if node is not None:
            return node
        node = self._reader.get_node(level, index)
        if node is None:
            raise StoreCorrupted(
                f"merkle node (level={level}, index={index}) is missing from the node store; "
                f"a log of {self._size} leaves needs it"
            )
        if not isinstance(node, bytes) or len(node) != HASH_SIZE_BYTES:
            raise StoreCorrupted(
                f"merkle node (level={level}, index={index}) in the node store is not a "
                f"{HASH_SIZE_BYTES}-byte hash: {node!r}"
            )
        return node
