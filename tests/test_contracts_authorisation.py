"""The full authorisation matrix: every role x every kind x every relevant document state.

Each organisation here has exactly one role. For every kind, a fixture puts a document in
the state the kind needs, with the acting organisation as the right party (holder, issuer,
recipient, beneficiary bank...), so that only the role policy and the document state can
refuse it. Then:
- a role the policy table forbids gets ``role_not_allowed``, whatever the state;
- a role it allows succeeds exactly in the states the kind is meant for, and is refused
  (with a document-level code, never ``role_not_allowed``) in every other state.
The expected states are written here independently of the contract's own code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from contracts.policy import ADMIN_ONLY, POLICY, render_table
from contracts.records import (
    FAMILY_BILL_OF_LADING,
    FAMILY_CERTIFICATE_OF_ORIGIN,
    FAMILY_PAYMENT,
    BillStatus,
    ChainEntry,
    Document,
    Offer,
    RecordStatus,
    Title,
    document_key,
)
from contracts.testing import Network, bill_body, issue_body, seeded_key, sha
from ledger.codec import Value
from ledger.codes import Code
from ledger.state import MemoryState
from ledger.types import Role

ORGANISATIONS = {role.value: (role,) for role in Role} | {
    "bank2": (Role.BANK,),
    "buyer2": (Role.BUYER,),
}
DOC = "ab" * 32  # the id of the fixture document
# Which bill states each bill kind acts on (an independent statement of the state machine).
BILL_STATES: dict[str, tuple[str, ...]] = {
    "bl.transfer": (BillStatus.ISSUED,),
    "bl.accept": (BillStatus.TRANSFER_PENDING,),
    "bl.cancel": (BillStatus.TRANSFER_PENDING,),
    "bl.endorse": (BillStatus.ISSUED,),
    "bl.surrender": (BillStatus.ISSUED,),
    "bl.surrender_accept": (
        BillStatus.PENDING_SURRENDER_FOR_DELIVERY,
        BillStatus.PENDING_SURRENDER_FOR_AMENDMENT,
    ),
    "bl.surrender_reject": (
        BillStatus.PENDING_SURRENDER_FOR_DELIVERY,
        BillStatus.PENDING_SURRENDER_FOR_AMENDMENT,
    ),
    "bl.amend": (BillStatus.SURRENDERED_FOR_AMENDMENT,),
    "bl.void": (BillStatus.ISSUED,),
}
HOLDER_KINDS = ("bl.transfer", "bl.cancel", "bl.endorse", "bl.surrender")


@pytest.fixture(scope="module")
def base() -> Network:
    return Network(organisations=ORGANISATIONS, admins_per_organisation=2, governance_threshold=2)


def other(actor: str) -> str:
    """A counterparty that has a holder role and is not the actor."""
    return "buyer2" if actor == "buyer" else "buyer"


def bill(actor: str, kind: str, status: str) -> Document:
    """A to-order, blank-endorsed bill in `status`, with `actor` as the party `kind` needs."""
    issuer = actor if kind not in (*HOLDER_KINDS, "bl.accept") else "carrier"
    holder = actor if kind in HOLDER_KINDS else other(actor)
    if kind == "bl.accept":
        holder = other(actor)
    offer = None
    if status == BillStatus.TRANSFER_PENDING:
        recipient = actor if kind == "bl.accept" else other(holder)
        offer = Offer(recipient=recipient, expiry_height=10**6, offered_height=1, offer_id=DOC)
    surrendered_by = None
    if status not in (BillStatus.ISSUED, BillStatus.TRANSFER_PENDING, BillStatus.VOIDED):
        surrendered_by = holder
        if status in (BillStatus.SURRENDERED_FOR_AMENDMENT, BillStatus.SURRENDERED_FOR_DELIVERY):
            surrendered_by, holder = holder, issuer
    issue = ChainEntry(action="ISSUE", actor=issuer, recipient=holder, height=1, time_ms=0, tx=DOC)
    return Document(
        id=DOC,
        family=FAMILY_BILL_OF_LADING,
        record_type="bill",
        issuer=issuer,
        reference="BL-FIXTURE",
        status=status,
        data={},
        document_sha256=sha("fixture"),
        created_height=1,
        created_time_ms=0,
        updated_height=1,
        parties=(issuer, holder),
        title=Title(
            holder=holder,
            to_order=True,
            endorsee=None,
            endorsable=True,
            consignee=None,
            offer=offer,
            surrendered_by=surrendered_by,
            chain=(issue,),
        ),
    )


def record(family: str, issuer: str, status: str, data: dict[str, Value]) -> Document:
    return Document(
        id=DOC,
        family=family,
        record_type="certificate" if family == FAMILY_CERTIFICATE_OF_ORIGIN else "attestation",
        issuer=issuer,
        reference="FIXTURE-1",
        status=status,
        data=data,
        document_sha256=None,
        created_height=1,
        created_time_ms=0,
        updated_height=1,
        parties=(issuer,),
    )


def attestation_body(beneficiary: str) -> dict[str, Value]:
    return {
        "reference": "PAY-NEW",
        "uetr": "8a562c67-ca16-48ba-b074-65581be6f001",
        "beneficiary_bank": beneficiary,
        "direction": "sent",
        "payer": {"name": "Buyer Inc"},
        "payee": {"name": "Seller BV"},
        "payer_bank_bic": "DEUTDEFF",
        "payee_bank_bic": "ABNANL2A",
        "amount_minor": 1_250_000,
        "currency": "EUR",
        "value_date": "2026-01-02",
    }


@dataclass(frozen=True)
class Case:
    """A state to start from (documents to put), and the body the actor sends."""

    documents: tuple[Document, ...]
    body: dict[str, Value]


def case_for(kind: str, actor: str, net: Network) -> Case:
    """The non-bill kinds, in the state they act on, with `actor` as the right party."""
    new_key = seeded_key(f"{actor}/new").public_key
    member = net.members[actor].public_key
    cases: dict[str, Callable[[], Case]] = {
        "bl.issue": lambda: Case((), issue_body("BL-NEW", other(actor), to_order=True)),
        "coo.issue": lambda: Case((), certificate_body()),
        "coo.revoke": lambda: Case(
            (record(FAMILY_CERTIFICATE_OF_ORIGIN, actor, RecordStatus.ISSUED, {}),),
            {"document": DOC, "reason": "issued in error"},
        ),
        "coo.verify": lambda: Case(
            (record(FAMILY_CERTIFICATE_OF_ORIGIN, "chamber", RecordStatus.ISSUED, {}),),
            {"document": DOC, "outcome": "accepted"},
        ),
        "pay.attest": lambda: Case((), attestation_body("bank2" if actor == "bank" else "bank")),
        "pay.confirm": lambda: Case(
            (record(FAMILY_PAYMENT, "bank2", RecordStatus.ATTESTED, {"beneficiary_bank": actor}),),
            {"document": DOC},
        ),
        "pay.correct": lambda: Case(
            (record(FAMILY_PAYMENT, actor, RecordStatus.ATTESTED, {"beneficiary_bank": "bank2"}),),
            {"document": DOC, **attestation_body("bank2")},
        ),
        "pay.revoke": lambda: Case(
            (record(FAMILY_PAYMENT, actor, RecordStatus.ATTESTED, {"beneficiary_bank": "bank2"}),),
            {"document": DOC, "reason": "duplicate"},
        ),
        "customs.record": lambda: Case(
            (record(FAMILY_CERTIFICATE_OF_ORIGIN, "chamber", RecordStatus.ISSUED, {}),),
            {
                "reference": "DEC-1",
                "decision": "clearance",
                "outcome": "released",
                "documents": [DOC],
            },
        ),
        "member.register": lambda: Case((), {"key": new_key, "name": "new clerk"}),
        "member.rotate": lambda: Case((), {"old_key": member, "new_key": new_key}),
        "member.revoke": lambda: Case((), {"key": member}),
        "gov.propose": lambda: Case(
            (),
            {
                "action": "org.suspend",
                "params": {"organisation": "buyer2"},
                "expiry_height": net.height + 50,
            },
        ),
    }
    return cases[kind]()


def certificate_body() -> dict[str, Value]:
    return {
        "reference": "COO-NEW",
        "document_sha256": sha("coo-new"),
        "exporter": {"name": "Seller BV", "country": "NL"},
        "importer": {"name": "Buyer Pte", "country": "SG"},
        "country_of_export": "NL",
        "country_of_import": "SG",
        "goods": [
            {
                "description": "Cheese",
                "hs_code": "040690",
                "quantity": 100,
                "unit": "KGM",
                "origin_country": "NL",
                "origin_criterion": "WO",
            }
        ],
        "issue_date": "2026-01-01",
    }


def run(
    net: Network, snapshot: dict[str, Value], actor: str, kind: str, case: Case, admin: bool
) -> tuple[str, str]:
    net.state = MemoryState(snapshot)
    net.state.apply({document_key(d.id): d.to_value() for d in case.documents})
    code, _, result = net.run(actor, kind, case.body, admin=admin)
    return code, result.details[0]


def expected_role_code(kind: str, role: Role, admin: bool) -> str | None:
    if role not in POLICY[kind]:
        return Code.ROLE_NOT_ALLOWED.value
    if kind in ADMIN_ONLY and not admin:
        return Code.ADMIN_REQUIRED.value
    return None


@pytest.mark.parametrize("kind", sorted(BILL_STATES))
def test_bill_kinds_by_role_and_state(base: Network, kind: str) -> None:
    snapshot = dict(base.state.items())
    for role in Role:
        for status in BillStatus.ALL:
            case = Case((bill(role.value, kind, status),), bill_kind_body(kind, role.value))
            code, detail = run(base, snapshot, role.value, kind, case, admin=False)
            refused = expected_role_code(kind, role, admin=False)
            where = f"{kind} by {role.value} on a {status} bill: {code} ({detail})"
            if refused is not None:
                assert code == refused, where
            elif status in BILL_STATES[kind]:
                assert code == "ok", where
            else:
                assert code not in ("ok", Code.ROLE_NOT_ALLOWED.value), where
    base.state = MemoryState(snapshot)


def bill_kind_body(kind: str, actor: str) -> dict[str, Value]:
    bodies: dict[str, dict[str, Value]] = {
        "bl.transfer": {"document": DOC, "recipient": other(actor), "offer_expiry_height": 10**4},
        "bl.endorse": {"document": DOC, "action": "ENDORSE_TO_ORDER", "endorsee": other(actor)},
        "bl.surrender": {"document": DOC, "purpose": "amendment", "reason_code": "SWI"},
        "bl.surrender_reject": {"document": DOC, "reason": "not the lawful holder"},
        "bl.void": {"document": DOC, "reason": "issued in error"},
        "bl.amend": {
            "document": DOC,
            "reference": "BL-FIXTURE",
            "document_sha256": sha("amended"),
            "bill": bill_body(),
        },
    }
    return bodies.get(kind, {"document": DOC})


OTHER_KINDS = sorted(set(POLICY) - set(BILL_STATES) - {"gov.approve"})


@pytest.mark.parametrize("kind", OTHER_KINDS)
@pytest.mark.parametrize("admin", [False, True])
def test_other_kinds_by_role(base: Network, kind: str, admin: bool) -> None:
    snapshot = dict(base.state.items())
    for role in Role:
        case = case_for(kind, role.value, base)
        code, detail = run(base, snapshot, role.value, kind, case, admin=admin)
        refused = expected_role_code(kind, role, admin)
        where = f"{kind} by {role.value} ({'admin' if admin else 'member'} key): {code} {detail}"
        assert code == (refused or "ok"), where
    base.state = MemoryState(snapshot)


@pytest.mark.parametrize("admin", [False, True])
def test_governance_approval_by_role(base: Network, admin: bool) -> None:
    snapshot = dict(base.state.items())
    body: dict[str, Value] = {
        "action": "org.suspend",
        "params": {"organisation": "buyer2"},
        "expiry_height": base.height + 50,
    }
    for role in Role:
        base.state = MemoryState(snapshot)
        proposal = base.tx(base.key("governance", admin=True, index=1), "gov.propose", body)
        assert base.block([proposal]).codes == (Code.OK,)
        code, _, _ = base.run(
            role.value, "gov.approve", {"proposal": proposal.id.hex()}, admin=admin
        )
        assert code == (expected_role_code("gov.approve", role, admin) or "ok"), role
    base.state = MemoryState(snapshot)


def test_every_kind_is_in_the_matrix() -> None:
    assert set(BILL_STATES) | set(OTHER_KINDS) | {"gov.approve"} == set(POLICY)


def test_policy_docstring_matches_table() -> None:
    """The table in contracts/policy.py's docstring is the table the code enforces."""
    import contracts.policy

    doc = contracts.policy.__doc__ or ""
    rows = [line for line in doc.splitlines() if line.startswith("| ") and "kind" not in line]
    documented: dict[str, set[str]] = {}
    order = ["customs", "bank", "carrier", "chamber", "seller", "buyer", "governance"]
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        documented[cells[0]] = {order[i] for i, mark in enumerate(cells[1:8]) if mark == "x"}
    assert documented == {kind: {role.value for role in roles} for kind, roles in POLICY.items()}
    assert "bl.issue" in render_table()
