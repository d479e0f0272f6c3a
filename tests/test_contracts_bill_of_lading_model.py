"""The bill of lading contract against a simple model (hypothesis stateful testing).

The model keeps, per bill: one holder, a pending offer, the endorsee, and a status. Every
rule sends one signed transaction in a block of its own, from any organisation, and checks
that the contract accepts exactly what the model allows and that afterwards:
- each bill has exactly one holder, equal to the model's, and it is what the endorsement
  chain says (replaying ISSUE / TRANSFER / SACC from the issuance gives the holder);
- nothing happens to a bill after its surrender is accepted or after it is voided/amended;
- of a bill and its amendments, at most one record is active.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from contracts.context import LIMITS
from contracts.records import BillStatus, Document, load_document
from contracts.testing import Network, bill_body, issue_body, sha

HOLDERS = ("seller", "seller2", "buyer", "bank")
SENDERS = (*HOLDERS, "carrier", "carrier2", "customs")
CARRIER = "carrier"
# Senders are drawn from these: "@holder" and the like resolve to the bill's current party,
# so runs reach deep states (accepted surrenders, amendments) as often as refusals.
SENDER_CHOICES = (*("@holder",) * 3, *("@recipient",) * 3, "@carrier", "@carrier", *SENDERS)


def senders(preferred: str) -> st.SearchStrategy[str]:
    """Half the time the party the rule is meant for, else anyone (to test refusals)."""
    return st.one_of(st.just(preferred), st.sampled_from(SENDER_CHOICES))


# -1 picks the bill touched last (so offers get accepted, surrenders decided), else any bill.
_PENDING = (
    BillStatus.PENDING_SURRENDER_FOR_DELIVERY,
    BillStatus.PENDING_SURRENDER_FOR_AMENDMENT,
)
INDEX = st.one_of(st.just(-1), st.just(-1), st.integers(0, 50))
BILLS_MAX = 6
RECIPIENT_CHOICES = ("@endorsee", "@endorsee", "@consignee", "@consignee", *HOLDERS)


@dataclass(frozen=True)
class ModelBill:
    to_order: bool
    consignee: str | None
    endorsee: str | None
    endorsable: bool
    holder: str
    status: str
    offer: tuple[str, int] | None = None  # recipient, expiry height
    surrendered_by: str | None = None
    transferred: bool = False


class BillMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.net = Network()
        self.bills: dict[str, ModelBill] = {}
        self.order: list[str] = []
        self.references = 0
        self.last = ""

    # --- helpers -----------------------------------------------------------------------------

    def _lapse(self) -> None:
        """What the next block does first: offers whose expiry is below its height lapse."""
        height = self.net.height + 1
        for bill_id, bill in self.bills.items():
            if bill.offer is not None and bill.offer[1] < height:
                self.bills[bill_id] = replace(bill, offer=None, status=BillStatus.ISSUED)

    def _send(self, sender: str, kind: str, body: Mapping[str, Any], allowed: bool) -> str:
        code, tx, result = self.net.run(sender, kind, body)
        assert (code == "ok") == allowed, f"{kind} by {sender}: got {code}, model {allowed}"
        if not allowed:  # only the replay record (and lapses at the block start) were written
            changed = {key.split("/")[1] for key in result.writes if key.startswith("doc/")}
            lapsed = {event.subject for event in result.events if event.kind == "bl.lapse"}
            assert changed <= lapsed, "a rejected transaction changed a document"
        return tx.id.hex()

    def _record(self, bill_id: str) -> Document:
        record = load_document(self.net.state, bill_id)
        assert record is not None
        return record

    @staticmethod
    def _who(choice: str, bill: ModelBill) -> str:
        resolved = {
            "@holder": bill.holder,
            "@recipient": bill.offer[0] if bill.offer else bill.holder,
            "@carrier": CARRIER,
            "@endorsee": bill.endorsee or "bank",
            "@consignee": bill.consignee or "buyer",
        }
        return resolved.get(choice, choice)

    def _pick(self, index: int, *wanted: str) -> tuple[str, ModelBill]:
        """Index -1: a bill in one of the `wanted` statuses if any (newest first), else the
        bill touched last; otherwise any bill."""
        bill_id = self.last
        if index >= 0:
            bill_id = self.order[index % len(self.order)]
        else:
            candidates = [b for b in reversed(self.order) if self.bills[b].status in wanted]
            if candidates:
                bill_id = candidates[0]
        self.last = bill_id
        return bill_id, self.bills[bill_id]

    # --- rules ----------------------------------------------------------------------------------

    @precondition(lambda self: len(self.order) < BILLS_MAX)
    @rule(
        to_order=st.booleans(),
        issue_to=st.sampled_from(HOLDERS),
        other=st.sampled_from((None, *HOLDERS)),
    )
    def issue(self, to_order: bool, issue_to: str, other: str | None) -> None:
        self._lapse()
        self.references += 1
        body = issue_body(
            f"BL-{self.references}",
            issue_to,
            to_order=to_order,
            endorsee=other if to_order else None,
            consignee=None if to_order else other,
        )
        bill_id = self._send(CARRIER, "bl.issue", body, allowed=True)
        self.bills[bill_id] = ModelBill(
            to_order=to_order,
            consignee=None if to_order else other,
            endorsee=other if to_order else None,
            endorsable=True,
            holder=issue_to,
            status=BillStatus.ISSUED,
        )
        self.order.append(bill_id)
        self.last = bill_id

    @precondition(lambda self: self.order)
    @rule(
        index=INDEX,
        sender=senders("@holder"),
        recipient=st.sampled_from(RECIPIENT_CHOICES),
        delta=st.integers(-1, 4),
    )
    def transfer(self, index: int, sender: str, recipient: str, delta: int) -> None:
        self._lapse()
        bill_id, bill = self._pick(index, BillStatus.ISSUED)
        sender = self._who(sender, bill)
        recipient = self._who(recipient, bill)
        height = self.net.height + 1
        expiry = height + delta
        allowed = (
            sender in HOLDERS
            and bill.status == BillStatus.ISSUED
            and bill.holder == sender
            and recipient != sender
            and (
                recipient == bill.consignee
                if not bill.to_order
                else bill.endorsee in (None, recipient)
            )
            and height < expiry <= height + LIMITS.offer_expiry_blocks_max
        )
        body = {"document": bill_id, "recipient": recipient, "offer_expiry_height": expiry}
        self._send(sender, "bl.transfer", body, allowed)
        if allowed:
            self.bills[bill_id] = replace(
                bill, offer=(recipient, expiry), status=BillStatus.TRANSFER_PENDING
            )

    @precondition(lambda self: self.order)
    @rule(index=INDEX, sender=senders("@recipient"))
    def accept(self, index: int, sender: str) -> None:
        self._lapse()
        bill_id, bill = self._pick(index, BillStatus.TRANSFER_PENDING)
        sender = self._who(sender, bill)
        allowed = (
            sender in HOLDERS
            and bill.status == BillStatus.TRANSFER_PENDING
            and bill.offer is not None
            and bill.offer[0] == sender
        )
        self._send(sender, "bl.accept", {"document": bill_id}, allowed)
        if allowed:
            self.bills[bill_id] = replace(
                bill, holder=sender, offer=None, status=BillStatus.ISSUED, transferred=True
            )

    @precondition(lambda self: self.order)
    @rule(index=INDEX, sender=senders("@holder"))
    def cancel(self, index: int, sender: str) -> None:
        self._lapse()
        bill_id, bill = self._pick(index, BillStatus.TRANSFER_PENDING)
        sender = self._who(sender, bill)
        allowed = (
            sender in HOLDERS
            and bill.status == BillStatus.TRANSFER_PENDING
            and bill.holder == sender
        )
        self._send(sender, "bl.cancel", {"document": bill_id}, allowed)
        if allowed:
            self.bills[bill_id] = replace(bill, offer=None, status=BillStatus.ISSUED)

    @precondition(lambda self: self.order)
    @rule(
        index=INDEX,
        sender=senders("@holder"),
        action=st.sampled_from(("ENDORSE", "ENDORSE_TO_ORDER", "BLANK_ENDORSE")),
        endorsee=st.sampled_from(HOLDERS),
    )
    def endorse(self, index: int, sender: str, action: str, endorsee: str) -> None:
        self._lapse()
        bill_id, bill = self._pick(index, BillStatus.ISSUED)
        sender = self._who(sender, bill)
        target = None if action == "BLANK_ENDORSE" else endorsee
        allowed = (
            sender in HOLDERS
            and bill.status == BillStatus.ISSUED
            and bill.holder == sender
            and bill.to_order
            and (bill.endorsee is None or (bill.endorsee == sender and bill.endorsable))
            and not (action == "BLANK_ENDORSE" and bill.endorsee is None)
        )
        body: dict[str, object] = {"document": bill_id, "action": action}
        if target is not None:
            body["endorsee"] = target
        self._send(sender, "bl.endorse", body, allowed)
        if allowed:
            self.bills[bill_id] = replace(bill, endorsee=target, endorsable=action != "ENDORSE")

    @precondition(lambda self: self.order)
    @rule(
        index=INDEX,
        sender=senders("@holder"),
        purpose=st.sampled_from(("delivery", "amendment")),
    )
    def surrender(self, index: int, sender: str, purpose: str) -> None:
        self._lapse()
        bill_id, bill = self._pick(index, BillStatus.ISSUED)
        sender = self._who(sender, bill)
        allowed = (
            sender in HOLDERS
            and bill.status == BillStatus.ISSUED
            and bill.holder == sender
            and (not bill.to_order or bill.endorsee in (None, sender))
            and not (
                purpose == "delivery"
                and not bill.to_order
                and bill.consignee is not None
                and bill.consignee != sender
            )
        )
        self._send(sender, "bl.surrender", {"document": bill_id, "purpose": purpose}, allowed)
        if allowed:
            status = (
                BillStatus.PENDING_SURRENDER_FOR_DELIVERY
                if purpose == "delivery"
                else BillStatus.PENDING_SURRENDER_FOR_AMENDMENT
            )
            self.bills[bill_id] = replace(bill, status=status, surrendered_by=sender)

    @precondition(lambda self: self.order)
    @rule(index=INDEX, sender=senders("@carrier"), accept=st.booleans())
    def carrier_decides(self, index: int, sender: str, accept: bool) -> None:
        self._lapse()
        bill_id, bill = self._pick(index, *_PENDING)
        sender = self._who(sender, bill)
        pending = bill.status in (
            BillStatus.PENDING_SURRENDER_FOR_DELIVERY,
            BillStatus.PENDING_SURRENDER_FOR_AMENDMENT,
        )
        allowed = sender == CARRIER and pending
        if accept:
            self._send(sender, "bl.surrender_accept", {"document": bill_id}, allowed)
        else:
            body = {"document": bill_id, "reason": "documents incomplete"}
            self._send(sender, "bl.surrender_reject", body, allowed)
        if not allowed:
            return
        if not accept:
            self.bills[bill_id] = replace(bill, status=BillStatus.ISSUED, surrendered_by=None)
        elif bill.status == BillStatus.PENDING_SURRENDER_FOR_DELIVERY:
            self.bills[bill_id] = replace(
                bill, status=BillStatus.SURRENDERED_FOR_DELIVERY, holder=CARRIER
            )
        else:
            self.bills[bill_id] = replace(
                bill, status=BillStatus.SURRENDERED_FOR_AMENDMENT, holder=CARRIER
            )

    @precondition(lambda self: self.order)
    @rule(index=INDEX, sender=senders("@carrier"))
    def amend(self, index: int, sender: str) -> None:
        self._lapse()
        bill_id, bill = self._pick(index, BillStatus.SURRENDERED_FOR_AMENDMENT)
        sender = self._who(sender, bill)
        allowed = sender == CARRIER and bill.status == BillStatus.SURRENDERED_FOR_AMENDMENT
        self.references += 1
        body = {
            "document": bill_id,
            "reference": self._record(bill_id).reference,
            "document_sha256": sha(f"amended/{self.references}"),
            "bill": bill_body(),
        }
        new_id = self._send(sender, "bl.amend", body, allowed)
        if allowed:
            assert bill.surrendered_by is not None
            self.bills[bill_id] = replace(bill, status=BillStatus.AMENDED)
            self.bills[new_id] = replace(
                bill,
                holder=bill.surrendered_by,
                status=BillStatus.ISSUED,
                surrendered_by=None,
                transferred=False,
            )
            self.order.append(new_id)
            self.last = new_id

    @precondition(lambda self: self.order)
    @rule(index=INDEX, sender=senders("@carrier"))
    def void(self, index: int, sender: str) -> None:
        self._lapse()
        bill_id, bill = self._pick(index, BillStatus.ISSUED)
        sender = self._who(sender, bill)
        allowed = sender == CARRIER and bill.status == BillStatus.ISSUED and not bill.transferred
        self._send(sender, "bl.void", {"document": bill_id, "reason": "issued in error"}, allowed)
        if allowed:
            self.bills[bill_id] = replace(bill, status=BillStatus.VOIDED)

    @rule(blocks=st.integers(1, 3))
    def idle(self, blocks: int) -> None:
        for _ in range(blocks):
            self._lapse()
            self.net.block()

    # --- invariants -----------------------------------------------------------------------------

    @invariant()
    def matches_model(self) -> None:
        for bill_id, bill in self.bills.items():
            record = self._record(bill_id)
            title = record.title
            assert title is not None
            assert record.status == bill.status, (bill_id, record.status, bill.status)
            assert title.holder == bill.holder
            assert title.endorsee == bill.endorsee
            offer = (
                None if title.offer is None else (title.offer.recipient, title.offer.expiry_height)
            )
            if bill.offer is not None and bill.offer[1] < self.net.height + 1:
                # lapses at the start of the next block; the contract treats it as lapsed already
                assert offer in (None, bill.offer)
            else:
                assert offer == bill.offer

    @invariant()
    def chain_is_linear_from_issuance(self) -> None:
        for bill_id in self.order:
            record = self._record(bill_id)
            assert record.title is not None
            chain = record.title.chain
            assert chain[0].action == "ISSUE"
            assert chain[0].actor == record.issuer
            assert sum(entry.action == "ISSUE" for entry in chain) == 1
            holder = chain[0].recipient
            for entry in chain[1:]:
                assert entry.height >= chain[0].height
                if entry.action == "TRANSFER":
                    assert entry.actor == holder, "only the holder transfers"
                    holder = entry.recipient
                elif entry.action.startswith(("ENDORSE", "BLANK", "SURRENDER_FOR")):
                    assert entry.actor == holder, "only the holder endorses or surrenders"
                elif entry.action == "SACC":
                    assert entry.actor == record.issuer
                    holder = entry.actor
                elif entry.action == "SREJ":
                    assert entry.actor == record.issuer
            assert holder == record.title.holder
            if record.status in BillStatus.FINAL or (
                record.status == BillStatus.SURRENDERED_FOR_AMENDMENT
            ):
                finals = [e for e in chain if e.action == "SACC"]
                if finals:
                    assert chain[-1] == finals[-1], "nothing after an accepted surrender"

    @invariant()
    def one_active_record_per_lineage(self) -> None:
        for bill_id in self.order:
            record = self._record(bill_id)
            successor = record.links.get("amended_by")
            if successor is not None:
                assert record.status == BillStatus.AMENDED
                assert self._record(successor).links.get("amends") == bill_id


TestBillOfLadingModel = BillMachine.TestCase
TestBillOfLadingModel.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None, database=None
)
