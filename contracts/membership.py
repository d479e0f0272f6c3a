"""Membership and governance.

Member keys: an organisation's admin registers, rotates and revokes its own member keys
(``member.*``, admin key required). A revoked key keeps its record (``revoked_height``): what
it signed before stays valid, nothing it signs from that height on is accepted. Keys are
never reused.

Organisation-level changes (add, suspend or reinstate an organisation; add, re-weight or
remove a validator) are decided by governance admins, as a **proposal + approvals** flow:
an admin key of an organisation with the governance role sends ``gov.propose`` (which counts
as its approval); other governance admin keys send ``gov.approve``. When
`genesis.governance_threshold` distinct governance admin keys have approved, the change is
applied in that same transaction. A proposal not executed by its ``expiry_height`` is closed.
We chose separate transactions over one multi-signed body so each approval is an ordinary
signed, replay-protected transaction that the node checks like any other, and so approvers
need no off-ledger coordination to collect signatures.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from contracts import common
from contracts.common import Call, Kind, rejected
from contracts.context import LIMITS, Event, TxOutcome
from contracts.identity import (
    KEY_KIND_ADMIN,
    KEY_KIND_MEMBER,
    KeyRecord,
    OrganisationRecord,
    governance_threshold,
    load_key,
    load_organisation,
    load_validator_set,
)
from contracts.records import VALIDATORS_KEY, key_key, organisation_key, proposal_key
from ledger import crypto
from ledger.codec import Value
from ledger.codes import Code
from ledger.errors import BadSignature, ValidationError
from ledger.fields import Fields, check_binary
from ledger.types import VALIDATOR_COUNT_MAX, Organisation, Validator, ValidatorSet

PROPOSAL_ACTIONS = ("org.add", "org.suspend", "org.reinstate", "validator.set")
PROPOSAL_OPEN = "open"
PROPOSAL_EXECUTED = "executed"
VALIDATOR_POWER_MAX = 1_000_000

# --- member keys ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Register:
    key: bytes
    name: str

    @classmethod
    def parse(cls, r: Fields) -> Register:
        body = cls(key=_public_key(r, "key"), name=r.text("name", length_max=256))
        r.finish()
        return body


@dataclass(frozen=True, slots=True, kw_only=True)
class Rotate:
    old_key: bytes
    new_key: bytes
    name: str | None

    @classmethod
    def parse(cls, r: Fields) -> Rotate:
        body = cls(
            old_key=r.binary("old_key", size=32),
            new_key=_public_key(r, "new_key"),
            name=r.optional_text("name", length_max=256),
        )
        r.finish()
        return body


@dataclass(frozen=True, slots=True, kw_only=True)
class Revoke:
    key: bytes

    @classmethod
    def parse(cls, r: Fields) -> Revoke:
        body = cls(key=r.binary("key", size=32))
        r.finish()
        return body


def _public_key(r: Fields, name: str) -> bytes:
    key = r.binary(name, size=32)
    try:
        crypto.check_public_key(key)
    except BadSignature as exc:
        raise ValidationError(r.path(name), str(exc)) from None
    return key


def _member_event(call: Call, key: bytes) -> Event:
    return Event(kind=call.tx.kind, subject=key.hex(), parties=(call.sender.org,))


def register(call: Call, body: Register) -> TxOutcome:
    if call.changes.get(key_key(body.key)) is not None:
        return rejected(Code.KEY_EXISTS)
    record = KeyRecord(
        key=body.key,
        organisation=call.sender.org,
        kind=KEY_KIND_MEMBER,
        name=body.name,
        registered_height=call.ctx.height,
    )
    call.changes.put(key_key(body.key), record.to_value())
    return call.done(_member_event(call, body.key))


def _own_member(call: Call, key: bytes) -> KeyRecord | TxOutcome:
    record = load_key(call.changes, key)
    if record is None or record.organisation != call.sender.org or record.kind != KEY_KIND_MEMBER:
        return rejected(Code.MEMBER_UNKNOWN)
    if record.revoked_height is not None:
        return rejected(Code.KEY_REVOKED, "the member key is already revoked")
    return record


def rotate(call: Call, body: Rotate) -> TxOutcome:
    old = _own_member(call, body.old_key)
    if isinstance(old, TxOutcome):
        return old
    if call.changes.get(key_key(body.new_key)) is not None:
        return rejected(Code.KEY_EXISTS)
    new = KeyRecord(
        key=body.new_key,
        organisation=call.sender.org,
        kind=KEY_KIND_MEMBER,
        name=body.name or old.name,
        registered_height=call.ctx.height,
    )
    call.changes.put(key_key(body.old_key), old.revoked(call.ctx.height, body.new_key).to_value())
    call.changes.put(key_key(body.new_key), new.to_value())
    return call.done(_member_event(call, body.old_key), _member_event(call, body.new_key))


def revoke(call: Call, body: Revoke) -> TxOutcome:
    old = _own_member(call, body.key)
    if isinstance(old, TxOutcome):
        return old
    call.changes.put(key_key(body.key), old.revoked(call.ctx.height).to_value())
    return call.done(_member_event(call, body.key))


# --- governance -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Propose:
    action: str
    params: dict[str, Value]
    expiry_height: int

    @classmethod
    def parse(cls, r: Fields) -> Propose:
        action = common.code(r, "action", PROPOSAL_ACTIONS)
        params = r.raw("params")
        _parse_params(action, params, r.path("params"))
        if not isinstance(params, dict):  # _parse_params checked; this narrows the type
            raise ValidationError(r.path("params"), "expected a map")
        body = cls(action=action, params=params, expiry_height=r.integer("expiry_height"))
        r.finish()
        return body


@dataclass(frozen=True, slots=True, kw_only=True)
class Approve:
    proposal: str

    @classmethod
    def parse(cls, r: Fields) -> Approve:
        body = cls(proposal=common.document_id(r, "proposal"))
        r.finish()
        return body


@dataclass(frozen=True, slots=True, kw_only=True)
class OrganisationChange:
    organisation: str
    reason: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidatorChange:
    node_key: bytes
    organisation: str
    power: int  # 0 removes the validator


Params = Organisation | OrganisationChange | ValidatorChange


def _parse_params(action: str, value: Value, path: str) -> Params:
    if action == "org.add":
        return Organisation.from_value(value, path)
    r = Fields(value, path)
    params: Params
    if action in ("org.suspend", "org.reinstate"):
        params = OrganisationChange(
            organisation=common.organisation_id(r, "organisation"),
            reason=common.optional_free_text(r, "reason"),
        )
    else:
        assert action == "validator.set"
        params = ValidatorChange(
            node_key=_public_key(r, "node_key"),
            organisation=common.organisation_id(r, "organisation"),
            power=r.integer("power", maximum=VALIDATOR_POWER_MAX),
        )
    r.finish()
    return params


def _applicable(call: Call, action: str, params: Params) -> str | None:
    """None if the change can be applied to the current state, else why not."""
    view = call.changes
    if isinstance(params, Organisation):
        if load_organisation(view, params.id) is not None:
            return f"organisation {params.id!r} exists"
        for admin_key in params.admin_keys:
            if view.get(key_key(admin_key)) is not None:
                return f"key {admin_key.hex()[:16]}… is already registered"
        if len(set(params.admin_keys)) != len(params.admin_keys):
            return "an admin key is listed twice"
        return None
    organisation = load_organisation(view, params.organisation)
    if organisation is None:
        return f"organisation {params.organisation!r} does not exist"
    if isinstance(params, OrganisationChange):
        if action == "org.suspend" and organisation.suspended:
            return "the organisation is already suspended"
        if action == "org.reinstate" and not organisation.suspended:
            return "the organisation is not suspended"
        return None
    current = load_validator_set(view)
    next_set = _next_validators(current, params)
    if not next_set:
        return "the validator set cannot become empty"
    if len(next_set) > VALIDATOR_COUNT_MAX:
        return f"at most {VALIDATOR_COUNT_MAX} validators"
    if params.power == 0 and current.power_of(params.node_key) == 0:
        return "no validator has this node key"
    return None


def _next_validators(current: ValidatorSet, change: ValidatorChange) -> list[Validator]:
    kept = [v for v in current.validators if v.node_key != change.node_key]
    if change.power > 0:
        kept.append(
            Validator(
                node_key=change.node_key, organisation=change.organisation, power=change.power
            )
        )
    return kept


def _apply(call: Call, params: Params) -> None:
    view = call.changes
    height = call.ctx.height
    if isinstance(params, Organisation):
        view.put(organisation_key(params.id), OrganisationRecord.of(params, height).to_value())
        for admin_key in params.admin_keys:
            record = KeyRecord(
                key=admin_key,
                organisation=params.id,
                kind=KEY_KIND_ADMIN,
                name=f"{params.id} admin",
                registered_height=height,
            )
            view.put(key_key(admin_key), record.to_value())
    elif isinstance(params, OrganisationChange):
        organisation = load_organisation(view, params.organisation)
        assert organisation is not None
        suspend = not organisation.suspended
        view.put(
            organisation_key(organisation.id),
            replace(
                organisation,
                suspended=suspend,
                suspended_height=height if suspend else None,
            ).to_value(),
        )
    else:
        next_set = ValidatorSet.of(_next_validators(load_validator_set(view), params))
        view.put(VALIDATORS_KEY, next_set.to_value())


def _proposal_value(
    proposal_id: str,
    body: Propose,
    proposer: bytes,
    approvals: list[Value],
    status: str,
    created_height: int,
    executed_height: int | None,
) -> dict[str, Value]:
    return {
        "action": body.action,
        "approvals": approvals,
        "created_height": created_height,
        "executed_height": executed_height,
        "expiry_height": body.expiry_height,
        "id": proposal_id,
        "params": body.params,
        "proposer": proposer,
        "status": status,
    }


def _decide(call: Call, body: Propose, approvals: list[Value], proposal_id: str) -> TxOutcome:
    """Store the proposal with `approvals`; apply it if the threshold is reached."""
    params = _parse_params(body.action, body.params, "params")
    problem = _applicable(call, body.action, params)
    if problem is not None:
        return rejected(Code.PROPOSAL_INVALID, problem)
    stored = call.changes.get(proposal_key(proposal_id))
    created_height = call.ctx.height
    proposer = call.sender.key.key
    if isinstance(stored, dict):
        created = stored.get("created_height")
        original = stored.get("proposer")
        assert isinstance(created, int)
        assert isinstance(original, bytes)
        created_height, proposer = created, original
    executed = len(approvals) >= governance_threshold(call.changes)
    if executed:
        _apply(call, params)
    call.changes.put(
        proposal_key(proposal_id),
        _proposal_value(
            proposal_id,
            body,
            proposer,
            approvals,
            PROPOSAL_EXECUTED if executed else PROPOSAL_OPEN,
            created_height,
            call.ctx.height if executed else None,
        ),
    )
    subject = params.id if isinstance(params, Organisation) else None
    if isinstance(params, OrganisationChange | ValidatorChange):
        subject = params.organisation
    assert subject is not None
    events = [Event(kind=call.tx.kind, subject=proposal_id, parties=(call.sender.org,))]
    if executed:
        events.append(Event(kind=body.action, subject=subject, parties=(subject,)))
    return call.done(*events)


def propose(call: Call, body: Propose) -> TxOutcome:
    height = call.ctx.height
    if not height <= body.expiry_height <= height + LIMITS.proposal_expiry_blocks_max:
        return rejected(
            Code.PROPOSAL_INVALID,
            f"expiry_height must be in {height}..{height + LIMITS.proposal_expiry_blocks_max}",
        )
    return _decide(call, body, [call.sender.key.key], call.tx_id)


def approve(call: Call, body: Approve) -> TxOutcome:
    value = call.changes.get(proposal_key(body.proposal))
    if not isinstance(value, dict):
        return rejected(Code.PROPOSAL_UNKNOWN)
    r = Fields(value, "proposal")
    status = r.text("status", length_max=16)
    expiry_height = r.integer("expiry_height")
    approvals = list(r.items("approvals", lambda v, p: check_binary(v, p, size=32), length_max=64))
    if status != PROPOSAL_OPEN or call.ctx.height > expiry_height:
        return rejected(Code.PROPOSAL_CLOSED)
    if call.sender.key.key in approvals:
        return rejected(Code.ALREADY_APPROVED)
    action = r.text("action", length_max=32)
    params = r.raw("params")
    assert isinstance(params, dict)
    proposal = Propose(action=action, params=params, expiry_height=expiry_height)
    return _decide(call, proposal, [*approvals, call.sender.key.key], body.proposal)


KINDS: dict[str, Kind] = {
    "member.register": Kind(Register.parse, register),
    "member.rotate": Kind(Rotate.parse, rotate),
    "member.revoke": Kind(Revoke.parse, revoke),
    "gov.propose": Kind(Propose.parse, propose),
    "gov.approve": Kind(Approve.parse, approve),
}
