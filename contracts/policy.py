"""The role policy: which roles may send which transaction kinds. Checked in one place.

The table says what an organisation's role permits at all; the document rules then say
whether this organisation may do it to this document now (only the holder transfers, only
the issuer revokes, ...). A kind marked admin-only also needs one of the organisation's
admin keys (a member key is refused with ``admin_required``).

(cust = customs, carr = carrier, cham = chamber, sell = seller, gov = governance)

| kind                | cust| bank| carr| cham| sell| buy | gov | key   |
|---------------------|-----|-----|-----|-----|-----|-----|-----|-------|
| bl.issue            |     |     |  x  |     |     |     |     |       |
| bl.transfer         |     |  x  |     |     |  x  |  x  |     |       |
| bl.accept           |     |  x  |     |     |  x  |  x  |     |       |
| bl.cancel           |     |  x  |     |     |  x  |  x  |     |       |
| bl.endorse          |     |  x  |     |     |  x  |  x  |     |       |
| bl.surrender        |     |  x  |     |     |  x  |  x  |     |       |
| bl.surrender_accept |     |     |  x  |     |     |     |     |       |
| bl.surrender_reject |     |     |  x  |     |     |     |     |       |
| bl.amend            |     |     |  x  |     |     |     |     |       |
| bl.void             |     |     |  x  |     |     |     |     |       |
| coo.issue           |     |     |     |  x  |     |     |     |       |
| coo.revoke          |     |     |     |  x  |     |     |     |       |
| coo.verify          |  x  |     |     |     |     |     |     |       |
| pay.attest          |     |  x  |     |     |     |     |     |       |
| pay.confirm         |     |  x  |     |     |     |     |     |       |
| pay.correct         |     |  x  |     |     |     |     |     |       |
| pay.revoke          |     |  x  |     |     |     |     |     |       |
| customs.record      |  x  |     |     |     |     |     |     |       |
| member.register     |  x  |  x  |  x  |  x  |  x  |  x  |  x  | admin |
| member.rotate       |  x  |  x  |  x  |  x  |  x  |  x  |  x  | admin |
| member.revoke       |  x  |  x  |  x  |  x  |  x  |  x  |  x  | admin |
| gov.propose         |     |     |     |     |     |     |  x  | admin |
| gov.approve         |     |     |     |     |     |     |  x  | admin |
"""

from __future__ import annotations

from types import MappingProxyType

from ledger.codes import Code
from ledger.types import Role

ALL_ROLES = frozenset(Role)
_HOLDERS = frozenset({Role.SELLER, Role.BUYER, Role.BANK})
_CARRIER = frozenset({Role.CARRIER})

POLICY: MappingProxyType[str, frozenset[Role]] = MappingProxyType(
    {
        "bl.issue": _CARRIER,
        "bl.transfer": _HOLDERS,
        "bl.accept": _HOLDERS,
        "bl.cancel": _HOLDERS,
        "bl.endorse": _HOLDERS,
        "bl.surrender": _HOLDERS,
        "bl.surrender_accept": _CARRIER,
        "bl.surrender_reject": _CARRIER,
        "bl.amend": _CARRIER,
        "bl.void": _CARRIER,
        "coo.issue": frozenset({Role.CHAMBER}),
        "coo.revoke": frozenset({Role.CHAMBER}),
        "coo.verify": frozenset({Role.CUSTOMS}),
        "pay.attest": frozenset({Role.BANK}),
        "pay.confirm": frozenset({Role.BANK}),
        "pay.correct": frozenset({Role.BANK}),
        "pay.revoke": frozenset({Role.BANK}),
        "customs.record": frozenset({Role.CUSTOMS}),
        "member.register": ALL_ROLES,
        "member.rotate": ALL_ROLES,
        "member.revoke": ALL_ROLES,
        "gov.propose": frozenset({Role.GOVERNANCE}),
        "gov.approve": frozenset({Role.GOVERNANCE}),
    }
)
"""Transaction kind -> the roles that may send it (any one of them suffices)."""

ADMIN_ONLY: frozenset[str] = frozenset(
    {"member.register", "member.rotate", "member.revoke", "gov.propose", "gov.approve"}
)
"""Kinds that need an organisation admin key, not just a member key."""

KINDS: tuple[str, ...] = tuple(POLICY)


def authorise(kind: str, roles: tuple[Role, ...], is_admin: bool) -> Code | None:
    """None if an organisation with `roles` may send `kind` with this key, else why not.

    `kind` must be a known kind (the engine answers ``unknown_kind`` before asking).
    """
    allowed = POLICY[kind]
    if allowed.isdisjoint(roles):
        return Code.ROLE_NOT_ALLOWED
    if kind in ADMIN_ONLY and not is_admin:
        return Code.ADMIN_REQUIRED
    return None


def render_table() -> str:
    """The policy as a Markdown table (docs/contracts.md is checked against it in tests)."""
    roles = [role for role in Role]
    header = "| kind | " + " | ".join(role.value for role in roles) + " | key |"
    rule = "|" + "---|" * (len(roles) + 2)
    lines = [header, rule]
    for kind, allowed in POLICY.items():
        marks = " | ".join("x" if role in allowed else "" for role in roles)
        key = "admin" if kind in ADMIN_ONLY else ""
        lines.append(f"| {kind} | {marks} | {key} |")
    return "\n".join(lines)
