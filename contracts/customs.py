"""Customs records: a customs authority records a verification or clearance decision that
references documents on the ledger (bills, certificates, attestations).

A decision is its own record (family ``customs``, status ``recorded``, final); each document
it references also gains a history event pointing to it, so a document's history shows every
decision taken on it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from contracts import common
from contracts.common import Call, Kind, rejected
from contracts.context import LIMITS, Event, TxOutcome
from contracts.records import FAMILY_CUSTOMS, Document, RecordStatus, reference_key
from ledger.codes import Code
from ledger.errors import ValidationError
from ledger.fields import Fields

OUTCOMES = {
    "verification": ("accepted", "rejected", "query"),
    "clearance": ("released", "held", "refused"),
}
_NO_REASON_NEEDED = ("accepted", "released")


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    reference: str
    decision: str
    outcome: str
    documents: tuple[str, ...]
    reason: str | None
    declaration_reference: str | None

    @classmethod
    def parse(cls, r: Fields) -> Record:
        decision = common.code(r, "decision", tuple(OUTCOMES))
        body = cls(
            reference=common.reference(r, "reference"),
            decision=decision,
            outcome=common.code(r, "outcome", OUTCOMES[decision]),
            documents=r.items(
                "documents",
                common.check_document_id,
                length_min=1,
                length_max=LIMITS.referenced_documents_max,
            ),
            reason=common.optional_free_text(r, "reason"),
            declaration_reference=common.optional_reference(r, "declaration_reference"),
        )
        r.finish()
        if body.outcome not in _NO_REASON_NEEDED and body.reason is None:
            raise ValidationError(r.path("reason"), f"is required for outcome {body.outcome}")
        if len(set(body.documents)) != len(body.documents):
            raise ValidationError(r.path("documents"), "lists a document twice")
        return body


def record(call: Call, body: Record) -> TxOutcome:
    issuer = call.sender.org
    if call.changes.get(reference_key(FAMILY_CUSTOMS, issuer, body.reference)):
        return rejected(Code.REFERENCE_TAKEN, f"reference {body.reference!r}")
    referenced: list[Document] = []
    for document_id in body.documents:
        document = call.changes.document(document_id)
        if document is None:
            return rejected(Code.LINKED_DOCUMENT_UNKNOWN, f"document {document_id}")
        referenced.append(document)
    parties = {issuer}
    for document in referenced:
        parties.update(document.parties)
    decision = Document(
        id=call.tx_id,
        family=FAMILY_CUSTOMS,
        record_type="decision",
        issuer=issuer,
        reference=body.reference,
        status=RecordStatus.RECORDED,
        data=common.without_none(
            {
                "decision": body.decision,
                "outcome": body.outcome,
                "documents": list(body.documents),
                "reason": body.reason,
                "declaration_reference": body.declaration_reference,
            }
        ),
        document_sha256=None,
        created_height=call.ctx.height,
        created_time_ms=call.ctx.time_ms,
        updated_height=call.ctx.height,
        parties=tuple(sorted(parties)),
    )
    call.changes.put(reference_key(FAMILY_CUSTOMS, issuer, body.reference), decision.id)
    stored = call.record(decision)
    for document in referenced:
        call.record(
            replace(document, parties=tuple(sorted({*document.parties, issuer}))),
            {"decision": decision.id, "outcome": body.outcome},
        )
    return call.done(Event(kind=call.tx.kind, subject=stored.id, parties=stored.parties))


KINDS: dict[str, Kind] = {"customs.record": Kind(Record.parse, record)}
