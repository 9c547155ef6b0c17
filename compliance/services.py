"""Writes to the audit trail. `record_event` is the only way an event gets in."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

from django.db import transaction
from django.utils import timezone

from compliance import chain
from compliance.models import AuditChainHead, AuditEvent, Outcome
from federation.canonical import CanonicalJSONError, canonical_json

ACTION_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
MAX_DETAILS_BYTES = 16 * 1024


class InvalidAuditEvent(ValueError):
    pass


def format_timestamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _check(action: str, outcome: str, details: dict[str, Any]) -> None:
    if not ACTION_PATTERN.match(action) or len(action) > 64:
        raise InvalidAuditEvent(f"action {action!r} must look like 'category.verb'")
    if outcome not in Outcome.values:
        raise InvalidAuditEvent(f"outcome {outcome!r} must be one of {Outcome.values}")
    try:
        encoded = canonical_json(details)
    except CanonicalJSONError as exc:
        raise InvalidAuditEvent(f"details are not canonical JSON: {exc}") from exc
    if len(encoded) > MAX_DETAILS_BYTES:
        raise InvalidAuditEvent(f"details exceed {MAX_DETAILS_BYTES} bytes")
    if b"\\u0000" in encoded:  # PostgreSQL jsonb cannot store NUL; refuse everywhere alike
        raise InvalidAuditEvent("details contain a NUL character")


@transaction.atomic
def record_event(
    *,
    action: str,
    outcome: str = Outcome.SUCCESS,
    actor: str = "",
    subject: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain. Never pass raw PII or secrets in `details`.

    Runs inside the caller's transaction when there is one, so an event is only ever kept
    together with the change it describes.
    """
    details = details or {}
    _check(action, outcome, details)
    head, _ = AuditChainHead.objects.select_for_update().get_or_create(
        id=1, defaults={"last_seq": 0, "last_hash": chain.GENESIS_HASH}
    )
    event = AuditEvent(
        seq=head.last_seq + 1,
        created_at=timezone.now(),
        category=action.split(".", 1)[0],
        action=action,
        outcome=outcome,
        actor=actor[:200],
        subject=subject[:200],
        details=details,
        prev_hash=head.last_hash,
    )
    event.hash = chain.record_hash(event.chain_fields(), event.prev_hash)
    event.save(force_insert=True)
    AuditChainHead.objects.filter(id=1).update(last_seq=event.seq, last_hash=event.hash)
    return event


def _records(chunk_size: int) -> Iterator[chain.ChainRecord]:
    rows = AuditEvent.objects.order_by("seq").values(
        "seq", "created_at", "category", "action", "outcome", "actor", "subject", "details", "prev_hash", "hash"
    )
    for row in rows.iterator(chunk_size=chunk_size):
        prev_hash, digest = row.pop("prev_hash"), row.pop("hash")
        row["created_at"] = format_timestamp(row["created_at"])
        yield chain.ChainRecord(fields=row, prev_hash=prev_hash, hash=digest)


def verify_audit_chain(*, chunk_size: int = 5000) -> chain.ChainReport:
    head = AuditChainHead.objects.filter(id=1).values_list("last_seq", "last_hash").first()
    return chain.verify_records(_records(chunk_size), head=head or (0, chain.GENESIS_HASH))
