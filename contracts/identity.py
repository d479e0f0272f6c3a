"""Organisations, keys and the genesis state; who signed a transaction.

An organisation's record holds its roles and admin keys and whether it is suspended. Every
key that may sign has a key record: an admin key (from genesis or an `org.add` decision) or
a member key (registered by its organisation's admin). A key is never deleted or reused:
a revoked key keeps its record with `revoked_height`, so what it signed before stays
attributable, and nothing it signs from that height on is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from contracts.records import GOVERNANCE_KEY, VALIDATORS_KEY, key_key, organisation_key
from ledger.codec import Value
from ledger.codes import Code
from ledger.errors import ValidationError
from ledger.fields import Fields, check_binary, check_text
from ledger.state import StateView, get_parsed
from ledger.types import Genesis, Organisation, Role, Validator, ValidatorSet

KEY_KIND_ADMIN = "admin"
KEY_KIND_MEMBER = "member"


@dataclass(frozen=True, slots=True, kw_only=True)
class OrganisationRecord:
    id: str
    name: str
    country: str
    roles: tuple[Role, ...]
    admin_keys: tuple[bytes, ...]
    suspended: bool = False
    added_height: int = 0  # 0: listed in genesis
    suspended_height: int | None = None

    def to_value(self) -> dict[str, Value]:
        return {
            "added_height": self.added_height,
            "admin_keys": list(self.admin_keys),
            "country": self.country,
            "id": self.id,
            "name": self.name,
            "roles": list(sorted(role.value for role in self.roles)),
            "suspended": self.suspended,
            "suspended_height": self.suspended_height,
        }

    @classmethod
    def from_value(cls, value: Value, path: str = "organisation") -> OrganisationRecord:
        r = Fields(value, path)
        record = cls(
            added_height=r.integer("added_height"),
            admin_keys=r.items(
                "admin_keys", lambda v, p: check_binary(v, p, size=32), length_max=16
            ),
            country=r.text("country", length_max=2),
            id=r.text("id", length_max=64),
            name=r.text("name", length_max=256),
            roles=r.items("roles", lambda v, p: Role(check_text(v, p)), length_max=len(Role)),
            suspended=r.boolean("suspended"),
            suspended_height=r.optional_integer("suspended_height"),
        )
        r.finish()
        return record

    @classmethod
    def of(cls, organisation: Organisation, height: int) -> OrganisationRecord:
        return cls(
            id=organisation.id,
            name=organisation.name,
            country=organisation.country,
            roles=tuple(sorted(set(organisation.roles), key=lambda role: role.value)),
            admin_keys=organisation.admin_keys,
            added_height=height,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRecord:
    key: bytes
    organisation: str
    kind: str  # KEY_KIND_ADMIN or KEY_KIND_MEMBER
    name: str
    registered_height: int
    revoked_height: int | None = None
    replaced_by: bytes | None = None  # the key that replaced it in a rotation

    @property
    def is_admin(self) -> bool:
        return self.kind == KEY_KIND_ADMIN

    def to_value(self) -> dict[str, Value]:
        return {
            "key": self.key,
            "kind": self.kind,
            "name": self.name,
            "organisation": self.organisation,
            "registered_height": self.registered_height,
            "replaced_by": self.replaced_by,
            "revoked_height": self.revoked_height,
        }

    @classmethod
    def from_value(cls, value: Value, path: str = "key") -> KeyRecord:
        r = Fields(value, path)
        record = cls(
            key=r.binary("key", size=32),
            kind=r.text("kind", length_max=16),
            name=r.text("name", length_max=256),
            organisation=r.text("organisation", length_max=64),
            registered_height=r.integer("registered_height"),
            replaced_by=r.optional_binary("replaced_by", size=32),
            revoked_height=r.optional_integer("revoked_height"),
        )
        r.finish()
        return record

    def revoked(self, height: int, replaced_by: bytes | None = None) -> KeyRecord:
        return replace(self, revoked_height=height, replaced_by=replaced_by)


@dataclass(frozen=True, slots=True, kw_only=True)
class Sender:
    """The signer of a transaction, resolved against the state."""

    key: KeyRecord
    organisation: OrganisationRecord

    @property
    def org(self) -> str:
        return self.organisation.id

    @property
    def is_admin(self) -> bool:
        return self.key.is_admin


def load_organisation(view: StateView, organisation_id: str) -> OrganisationRecord | None:
    return get_parsed(view, organisation_key(organisation_id), OrganisationRecord.from_value)


def load_key(view: StateView, public_key: bytes) -> KeyRecord | None:
    return get_parsed(view, key_key(public_key), KeyRecord.from_value)


def load_validator_set(view: StateView) -> ValidatorSet:
    value = view.get(VALIDATORS_KEY)
    assert isinstance(value, list), "the genesis state has a validator set"
    return ValidatorSet.of(
        [Validator.from_value(item, f"validators[{i}]") for i, item in enumerate(value)]
    )


def governance_threshold(view: StateView) -> int:
    value = view.get(GOVERNANCE_KEY)
    r = Fields(value, "governance")
    return r.integer("threshold", minimum=1)


def resolve_sender(view: StateView, public_key: bytes) -> Sender | Code:
    """The sender's key and organisation, or why it may not sign anything now."""
    key = load_key(view, public_key)
    if key is None:
        return Code.KEY_UNKNOWN
    if key.revoked_height is not None:
        return Code.KEY_REVOKED
    organisation = load_organisation(view, key.organisation)
    assert organisation is not None, "every key record names an existing organisation"
    if organisation.suspended:
        return Code.ORGANISATION_SUSPENDED
    return Sender(key=key, organisation=organisation)


def party_code(view: StateView, organisation_id: str) -> Code | None:
    """None if `organisation_id` may receive or hold a document now, else why not."""
    organisation = load_organisation(view, organisation_id)
    if organisation is None:
        return Code.PARTY_UNKNOWN
    if organisation.suspended:
        return Code.PARTY_SUSPENDED
    return None


def genesis_writes(genesis: Genesis) -> dict[str, Value]:
    """The state before block 1: organisations, their admin and member keys, the validator
    set and the governance policy. A key listed twice (as admin of two organisations, or as
    both admin and member) is refused: every key must name exactly one organisation."""
    writes: dict[str, Value] = {}
    for organisation in genesis.organisations:
        writes[organisation_key(organisation.id)] = OrganisationRecord.of(
            organisation, 0
        ).to_value()
        for admin_key in organisation.admin_keys:
            _put_new_key(
                writes,
                KeyRecord(
                    key=admin_key,
                    organisation=organisation.id,
                    kind=KEY_KIND_ADMIN,
                    name=f"{organisation.id} admin",
                    registered_height=0,
                ),
            )
    for member in genesis.members:
        _put_new_key(
            writes,
            KeyRecord(
                key=member.key,
                organisation=member.organisation,
                kind=KEY_KIND_MEMBER,
                name=member.name,
                registered_height=0,
            ),
        )
    writes[VALIDATORS_KEY] = genesis.validators.to_value()
    writes[GOVERNANCE_KEY] = {"threshold": genesis.governance_threshold}
    return writes


def _put_new_key(writes: dict[str, Value], record: KeyRecord) -> None:
    state_key = key_key(record.key)
    if state_key in writes:
        raise ValidationError(
            "genesis", f"key {record.key.hex()[:16]}… is listed for more than one role or org"
        )
    writes[state_key] = record.to_value()
