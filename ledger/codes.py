"""The one documented enum of transaction result codes.

Every transaction committed in a block has exactly one of these codes (``ok`` or the reason it
was refused); the block header's `results_root` is the Merkle root over them in block order
(`ledger.types.results_root`). The API answers a refusal with ``{"error": code.value, ...}``,
the CLI prints `code.description`. Values are
stable snake_case text: never rename or reuse one, only add.

`Code` is a `StrEnum`, but the canonical codec refuses `str` subclasses: encode
``code.value``, never the member itself.
"""

from __future__ import annotations

import enum


class Code(enum.StrEnum):
    """A transaction's result. The description is the one line shown to people."""

    description: str

    def __new__(cls, value: str, description: str) -> Code:
        member = str.__new__(cls, value)
        member._value_ = value
        member.description = description
        return member

    @classmethod
    def from_value(cls, value: str) -> Code:
        """The code with this value (as read back from a results list or an API answer)."""
        member = cls._value2member_map_.get(value)
        if not isinstance(member, Code):
            raise ValueError(f"unknown result code {value!r}")
        return member

    @property
    def ok(self) -> bool:
        return self is Code.OK

    # --- accepted -----------------------------------------------------------------------
    OK = ("ok", "accepted and applied")

    # --- envelope: chain, replay, expiry ------------------------------------------------
    WRONG_CHAIN = ("wrong_chain", "the transaction was signed for another chain id")
    DUPLICATE_TRANSACTION = ("duplicate_transaction", "this transaction id is already committed")
    EXPIRED = ("expired", "the transaction's expiry height is below the block height")
    EXPIRY_TOO_FAR = ("expiry_too_far", "the expiry height is further ahead than the chain allows")
    NONCE_REUSED = ("nonce_reused", "the sender already used this nonce")
    UNKNOWN_KIND = ("unknown_kind", "no contract handles this transaction kind")
    MALFORMED_BODY = ("malformed_body", "the body is missing a field or has a field out of range")

    # --- who signed ---------------------------------------------------------------------
    KEY_UNKNOWN = ("key_unknown", "the sender key is not a registered member or admin key")
    KEY_REVOKED = ("key_revoked", "the sender key was revoked")
    ORGANISATION_SUSPENDED = ("organisation_suspended", "the organisation is suspended")
    ROLE_NOT_ALLOWED = ("role_not_allowed", "none of the organisation's roles allows this action")
    ADMIN_REQUIRED = ("admin_required", "this action needs an organisation admin key")

    # --- documents ----------------------------------------------------------------------
    DOCUMENT_UNKNOWN = ("document_unknown", "no document has this id")
    WRONG_DOCUMENT_FAMILY = ("wrong_document_family", "the document is of another family")
    DOCUMENT_INACTIVE = ("document_inactive", "the document is surrendered, void or superseded")
    REFERENCE_TAKEN = ("reference_taken", "the issuer already used this document reference")
    FILE_HASH_TAKEN = ("file_hash_taken", "a document with this file hash is already recorded")
    LINKED_DOCUMENT_UNKNOWN = (
        "linked_document_unknown",
        "a referenced document does not exist or is of the wrong family",
    )
    SENDER_NOT_ISSUER = ("sender_not_issuer", "only the issuer of the document may do this")
    SENDER_NOT_HOLDER = ("sender_not_holder", "only the current holder may do this")
    PARTY_UNKNOWN = ("party_unknown", "the named organisation is not a member of the ledger")
    PARTY_SUSPENDED = ("party_suspended", "the named organisation is suspended")

    # --- bill of lading -----------------------------------------------------------------
    TRANSFER_PENDING = ("transfer_pending", "a transfer offer is pending; cancel it first")
    NO_PENDING_TRANSFER = ("no_pending_transfer", "there is no pending transfer offer")
    SENDER_NOT_RECIPIENT = ("sender_not_recipient", "only the offer's recipient may accept it")
    OFFER_EXPIRED = ("offer_expired", "the transfer offer lapsed")
    OFFER_EXPIRY_INVALID = (
        "offer_expiry_invalid",
        "the offer must expire after this block and within the allowed window",
    )
    RECIPIENT_NOT_ALLOWED = (
        "recipient_not_allowed",
        "the bill may not pass to this party (straight consignee or endorsee rule)",
    )
    RECIPIENT_IS_HOLDER = ("recipient_is_holder", "the recipient already holds the bill")
    NOT_TO_ORDER = ("not_to_order", "only a to-order bill can be endorsed")
    ENDORSEMENT_NOT_ALLOWED = (
        "endorsement_not_allowed",
        "the holder is not an endorsee entitled to endorse further",
    )
    SURRENDER_PENDING = ("surrender_pending", "a surrender is pending with the carrier")
    NO_PENDING_SURRENDER = ("no_pending_surrender", "there is no pending surrender")
    NOT_SURRENDERED_FOR_AMENDMENT = (
        "not_surrendered_for_amendment",
        "an amended bill needs an accepted surrender for amendment",
    )
    ALREADY_TRANSFERRED = ("already_transferred", "the bill was transferred; it cannot be voided")

    # --- certificates, payments ---------------------------------------------------------
    DOCUMENT_EXPIRED = ("document_expired", "the document's expiry date has passed")
    DOCUMENT_HISTORY_FULL = (
        "document_history_full",
        "the document's history or endorsement chain has reached its limit",
    )
    ALREADY_CONFIRMED = ("already_confirmed", "the payment is already confirmed")
    SENDER_NOT_BENEFICIARY_BANK = (
        "sender_not_beneficiary_bank",
        "only the beneficiary's bank named in the attestation may confirm it",
    )

    # --- membership and governance ------------------------------------------------------
    KEY_EXISTS = ("key_exists", "this key is already registered (keys are never reused)")
    MEMBER_UNKNOWN = ("member_unknown", "no member of the sender's organisation has this key")
    PROPOSAL_UNKNOWN = ("proposal_unknown", "no governance proposal has this id")
    PROPOSAL_CLOSED = ("proposal_closed", "the proposal was already executed or has expired")
    ALREADY_APPROVED = ("already_approved", "this admin key already approved the proposal")
    PROPOSAL_INVALID = (
        "proposal_invalid",
        "the proposed change cannot be applied to the current state",
    )

    # --- admission: refused by a node before any block (never a committed result) ------
    MALFORMED_TRANSACTION = (
        "malformed_transaction",
        "the bytes are not one canonical, well-formed transaction",
    )
    BAD_SIGNATURE = ("bad_signature", "the signature does not verify for the sender and chain")
    TRANSACTION_TOO_LARGE = ("transaction_too_large", "the transaction exceeds the size limit")
    MEMPOOL_FULL = ("mempool_full", "the node's queue of pending transactions is full; retry")


__all__ = ["Code"]
