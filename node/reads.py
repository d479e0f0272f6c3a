"""What the API answers: every read of the ledger, authorised by `contracts.visibility`.

Each public method here is the one function an API route calls. It takes parsed input (and,
for a signed read, the authenticated `Reader`), decides, and returns a JSON-ready value, or
raises `ApiError` with a documented code. Bytes are rendered as lowercase hex.

All of it runs on the node's event loop (the store and the Merkle log are not thread-safe).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from contracts import queries
from contracts.identity import KeyRecord, OrganisationRecord, load_key
from contracts.records import FAMILIES, FAMILY_BILL_OF_LADING, Document, load_document
from contracts.visibility import Reader, may_see_document, may_see_event, may_see_members
from ledger.bundle import BUNDLE_FORMAT, bundle_entry, bundle_to_json
from ledger.codec import value_to_json as to_json
from ledger.merkle import MerkleError
from ledger.types import Transaction

if TYPE_CHECKING:
    from node.events import BlockEvents
    from node.runtime import Node

_HEX_ID = re.compile(r"[0-9a-f]{64}")


class ApiError(Exception):
    """A refusal: HTTP `status`, documented `error` code, `detail` in words, `tx` if known."""

    def __init__(self, status: int, error: str, detail: str, tx: bytes | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.tx = tx

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.error, "detail": self.detail}
        if self.tx is not None:
            body["tx"] = self.tx.hex()
        return body


def parse_hex_id(text: str, what: str) -> bytes:
    """A 32-byte id or hash given as 64 hex digits (either case), or 400 bad_request."""
    lowered = text.lower()
    if _HEX_ID.fullmatch(lowered) is None:
        raise ApiError(400, "bad_request", f"{what} must be 64 hex digits")
    return bytes.fromhex(lowered)


class Reads:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.store = node.store

    # --- node and transactions ---------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        node = self.node
        head = self.store.head
        best = max(node.peer_heights.values(), default=head.height)
        return {
            "chain_id": node.chain_id,
            "genesis_hash": self.store.genesis.hash().hex(),
            "node": node.config.name,
            "node_key": node.key.public_key.hex(),
            "height": head.height,
            "head_hash": head.header_hash.hex(),
            "log_size": head.log_size,
            "log_root": head.log_root.hex(),
            "state_root": head.state_root.hex(),
            "peers": sorted(p.hex() for p in node.transport.connected_peers()),
            "syncing": best > head.height + 1,
            "mempool": {"transactions": len(node.mempool), "bytes": node.mempool.size_bytes},
            "stats": dict(node.stats),
        }

    def readiness(self) -> dict[str, Any]:
        """Ready when this node and its connected peers hold a quorum of voting power."""
        node = self.node
        peers = node.transport.connected_peers()
        validators = self.store.validators_at(self.store.height + 1)
        power = validators.power_of(node.key.public_key) + sum(
            validators.power_of(peer) for peer in peers
        )
        return {
            "ready": power >= validators.quorum_power,
            "peers": len(peers),
            "height": self.store.height,
        }

    def transaction_status(self, tx_id: bytes) -> dict[str, Any]:
        committed = self.node.committed(tx_id)
        if committed is not None:
            return {
                "id": tx_id.hex(),
                "status": "committed",
                "height": committed.height,
                "code": committed.code,
            }
        if tx_id in self.node.mempool:
            return {"id": tx_id.hex(), "status": "pending"}
        raise ApiError(404, "not_found", "no committed or pending transaction has this id")

    # --- blocks and proofs (public) ----------------------------------------------------------

    def block(self, height: int | None) -> dict[str, Any]:
        """The block at `height` (None: the latest) with its commit."""
        if height is None:
            height = self.store.height
        stored = self.store.block(height) if 1 <= height <= self.store.height else None
        commit = self.store.commit(height) if stored is not None else None
        if stored is None or commit is None:
            raise ApiError(404, "not_found", f"no block at height {height}")
        return {
            "height": height,
            "hash": stored.hash().hex(),
            "header": to_json(stored.header.to_value()),
            "transactions": len(stored.transactions),
            "commit": to_json(commit.to_value()),
        }

    def consistency_proof(self, first: int, second: int) -> dict[str, Any]:
        log = self.store.log
        if not 0 <= first <= second <= log.size:
            raise ApiError(
                400, "bad_request", f"need 0 <= from <= to <= {log.size} (the log size now)"
            )
        try:
            proof = log.consistency_proof(first, second)
            root_from, root_to = log.root(first), log.root(second)
        except MerkleError as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
        return {
            "from": first,
            "to": second,
            "proof": [node.hex() for node in proof],
            "root_from": root_from.hex(),
            "root_to": root_to.hex(),
        }

    def inclusion_proof(self, reader: Reader, tx_id: bytes, size: int | None) -> dict[str, Any]:
        """The inclusion proof of a committed transaction the reader may see."""
        location = self.store.transaction_location(tx_id)
        if location is None:
            raise ApiError(404, "not_found", "no committed transaction has this id")
        block = self.store.block(location.height)
        assert block is not None, f"block {location.height} of a located transaction is missing"
        tx = Transaction.decode(block.transactions[location.index])
        if not self._may_see_transaction(reader, tx):
            raise _forbidden("the transaction")
        log = self.store.log
        tree_size = log.size if size is None else size
        if not location.log_index < tree_size <= log.size:
            raise ApiError(
                400,
                "bad_request",
                f"size must be in {location.log_index + 1}..{log.size} for this transaction",
            )
        return {
            "leaf_index": location.log_index,
            "tree_size": tree_size,
            "proof": [node.hex() for node in log.inclusion_proof(location.log_index, tree_size)],
            "root": log.root(tree_size).hex(),
        }

    def validators(self) -> dict[str, Any]:
        node = self.node
        connected = set(node.transport.connected_peers()) | {node.key.public_key}
        validators = self.store.validators_at(self.store.height + 1)
        return {
            "height": self.store.height,
            "validators": [
                {
                    "node_key": v.node_key.hex(),
                    "power": v.power,
                    "organisation": v.organisation,
                    "connected": v.node_key in connected,
                }
                for v in validators.validators
            ],
        }

    # --- the file-hash check (public: only what the file's holder already knows) -------------

    def verify_file(self, sha256: bytes) -> dict[str, Any]:
        document_id = queries.by_file_hash(self.store, sha256)
        document = None if document_id is None else load_document(self.store, document_id)
        if document is None:
            return {"registered": False}
        answer: dict[str, Any] = {
            "registered": True,
            "document": document.id,
            "family": document.family,
            "record_type": document.record_type,
            "status": document.status,
            "issuer": document.issuer,
            "registered_height": document.created_height,
            "registered_time_ms": document.created_time_ms,
        }
        superseded_by = document.links.get("amended_by") or document.links.get("corrected_by")
        if superseded_by is not None:
            answer["superseded_by"] = superseded_by
        return answer

    # --- documents (signed reads) ------------------------------------------------------------

    def document(self, reader: Reader, document_id: str) -> dict[str, Any]:
        """The document's current record, as `contracts.queries.document` returns it."""
        document = self._visible_document(reader, document_id)
        result: dict[str, Any] = to_json(document.to_value())
        return result

    def history(self, reader: Reader, document_id: str) -> dict[str, Any]:
        document = self._visible_document(reader, document_id)
        answer: dict[str, Any] = {
            "document": to_json(document.to_value()),
            "events": to_json(list(queries.document_history(self.store, document.id))),
        }
        if document.family == FAMILY_BILL_OF_LADING:
            answer["endorsement_chain"] = to_json(
                list(queries.endorsement_chain(self.store, document.id))
            )
        return answer

    def lookup(self, reader: Reader, family: str, issuer: str, reference: str) -> dict[str, Any]:
        """The current document for an issuer's reference. References are guessable, so a
        document the reader may not see is answered as not found (no existence oracle)."""
        if family not in FAMILIES:
            raise ApiError(400, "bad_request", f"family must be one of {', '.join(FAMILIES)}")
        document_id = queries.by_reference(self.store, family, issuer, reference)
        document = None if document_id is None else load_document(self.store, document_id)
        if document is None or not self.may_see(reader, document):
            raise ApiError(
                404, "not_found", f"no {family} document of {issuer!r} with this reference"
            )
        return {"id": document.id}

    def bundle(self, reader: Reader, document_id: str) -> dict[str, Any]:
        """The evidence bundle (`tradeledger-bundle/2`, docs/api.md) of a visible document:
        every transaction in its history whose inclusion proof the reader may get (a payment
        attestation referencing a bill is in the bill's history, but only its banks may see
        it), each with its block's header and commit, its result code with that code's
        inclusion proof under the header's results root, and the transaction's inclusion
        proof under the header's log root."""
        document = self._visible_document(reader, document_id)
        tx_ids: list[str] = []
        for event in queries.document_history(self.store, document.id):
            tx = event.get("tx")
            if isinstance(tx, str) and tx not in tx_ids:
                tx_ids.append(tx)
        entries = []
        for tx_hex in tx_ids:
            entry = bundle_entry(self.store, bytes.fromhex(tx_hex))
            assert entry is not None, f"history names an unknown transaction {tx_hex}"
            if self._may_see_transaction(reader, Transaction.decode(entry.transaction)):
                entries.append(entry)
        return bundle_to_json(
            genesis=self.store.genesis,
            document_id=document.id,
            document=to_json(document.to_value()),
            entries=entries,
        )

    # --- organisations (signed reads) ----------------------------------------------------------

    def organisations(self) -> dict[str, Any]:
        organisations = []
        for key, value in self.store.state_items("org/"):
            record = OrganisationRecord.from_value(value, key)
            organisations.append(
                {
                    "id": record.id,
                    "name": record.name,
                    "country": record.country,
                    "roles": sorted(role.value for role in record.roles),
                    "suspended": record.suspended,
                    "added_height": record.added_height,
                    "suspended_height": record.suspended_height,
                }
            )
        return {"organisations": organisations}

    def members(self, reader: Reader, organisation_id: str) -> dict[str, Any]:
        """An organisation's admin and member keys, revoked ones included (with the height)."""
        if not may_see_members(reader, organisation_id):
            raise _forbidden("this organisation's members")
        if queries.organisation(self.store, organisation_id) is None:
            raise ApiError(404, "not_found", f"no organisation {organisation_id!r}")
        members = []
        for key, value in self.store.state_items("key/"):
            record = KeyRecord.from_value(value, key)
            if record.organisation == organisation_id:
                members.append(
                    {
                        "key": record.key.hex(),
                        "kind": record.kind,
                        "name": record.name,
                        "registered_height": record.registered_height,
                        "revoked_height": record.revoked_height,
                        "replaced_by": None
                        if record.replaced_by is None
                        else record.replaced_by.hex(),
                    }
                )
        return {"organisation": organisation_id, "members": members}

    # --- events ------------------------------------------------------------------------------

    def still_authorised(self, reader: Reader) -> bool:
        """The reader's key is still registered and unrevoked (checked during a stream)."""
        record = load_key(self.store, reader.key)
        return record is not None and record.revoked_height is None

    def visible_events(self, reader: Reader, block: BlockEvents) -> list[dict[str, Any]]:
        """The block's contract events the reader may hear of, in order."""
        visible = []
        for event in block.events:
            document = (
                load_document(self.store, event.subject)
                if _HEX_ID.fullmatch(event.subject)
                else None
            )
            if may_see_event(reader, event.parties, document):
                visible.append(
                    {
                        "height": block.height,
                        "kind": event.kind,
                        "subject": event.subject,
                        "parties": list(event.parties),
                    }
                )
        return visible

    # --- visibility --------------------------------------------------------------------------

    def may_see(self, reader: Reader, document: Document) -> bool:
        return may_see_document(reader, document)

    def _visible_document(self, reader: Reader, document_id: str) -> Document:
        if _HEX_ID.fullmatch(document_id) is None:
            raise ApiError(400, "bad_request", "a document id is 64 lowercase hex digits")
        document = load_document(self.store, document_id)
        if document is None:
            raise ApiError(404, "not_found", f"no document {document_id}")
        if not self.may_see(reader, document):
            raise _forbidden("this document")
        return document

    def _may_see_transaction(self, reader: Reader, tx: Transaction) -> bool:
        """Sent by the reader's organisation, or about a document the reader may see (the
        document it created, else the one its body names)."""
        sender = load_key(self.store, tx.sender)
        if sender is not None and sender.organisation == reader.organisation:
            return True
        named = tx.body.get("document")
        for candidate in (tx.id.hex(), named):
            if isinstance(candidate, str) and _HEX_ID.fullmatch(candidate):
                document = load_document(self.store, candidate)
                if document is not None:
                    return self.may_see(reader, document)
        return False


def _forbidden(what: str) -> ApiError:
    return ApiError(403, "forbidden", f"your organisation may not see {what}")


__all__ = ["BUNDLE_FORMAT", "ApiError", "Reads", "parse_hex_id", "to_json"]
