"""Tallies of one (height, round, kind): each validator counted once per value it voted for."""

from __future__ import annotations

from ledger.types import SignedVote, ValidatorSet


class VoteSet:
    """The votes of one (height, round, kind).

    Thresholds count validators, never messages (spec pitfall 1): a re-delivered vote is a
    no-op, and `power_any` counts each validator once. A validator that equivocates is
    counted toward both of its values (pitfall 16: safe, since quorum intersection relies
    only on honest validators, and needed for liveness: a proof-of-lock forwarded with a
    re-proposal may hold the equivocator's other vote). We keep its first vote and its first
    conflicting vote; a third value from it is ignored (the evidence is already taken).
    """

    __slots__ = ("_power_by_hash", "_validators", "conflicting", "power_any", "votes")

    def __init__(self, validators: ValidatorSet) -> None:
        self._validators = validators
        self.votes: dict[bytes, SignedVote] = {}
        self.conflicting: dict[bytes, SignedVote] = {}
        self._power_by_hash: dict[bytes | None, int] = {}
        self.power_any = 0

    def add(self, signed: SignedVote) -> SignedVote | None:
        """Count `signed`; when it is the validator's first conflicting vote, return the
        earlier vote it conflicts with (the pair is duplicate-vote evidence)."""
        validator = signed.vote.validator
        block_hash = signed.vote.block_hash
        power = self._validators.power_of(validator)
        assert power > 0, "the caller checks that the signer is a validator"
        earlier = self.votes.get(validator)
        if earlier is None:
            self.votes[validator] = signed
            self.power_any += power
            self._power_by_hash[block_hash] = self._power_by_hash.get(block_hash, 0) + power
            return None
        if earlier.vote.block_hash == block_hash or validator in self.conflicting:
            return None  # the same vote again, or a third value: not counted
        self.conflicting[validator] = signed
        self._power_by_hash[block_hash] = self._power_by_hash.get(block_hash, 0) + power
        return earlier

    def remove(self, validator: bytes) -> None:
        power = self._validators.power_of(validator)
        for table in (self.votes, self.conflicting):
            signed = table.pop(validator, None)
            if signed is not None:
                self._power_by_hash[signed.vote.block_hash] -= power
                if table is self.votes:
                    self.power_any -= power

    def power_for(self, block_hash: bytes | None) -> int:
        """Power of the validators who voted for `block_hash` (None: nil)."""
        return self._power_by_hash.get(block_hash, 0)

    def hashes_with_power(self, power_min: int) -> list[bytes]:
        """The non-nil hashes with at least `power_min`."""
        return sorted(h for h, p in self._power_by_hash.items() if h is not None and p >= power_min)

    def for_hash(self, block_hash: bytes | None) -> list[SignedVote]:
        """One vote for `block_hash` per validator who cast one, in the validator set's order."""
        found = []
        for validator in self._validators.validators:
            for table in (self.votes, self.conflicting):
                signed = table.get(validator.node_key)
                if signed is not None and signed.vote.block_hash == block_hash:
                    found.append(signed)
                    break
        return found
