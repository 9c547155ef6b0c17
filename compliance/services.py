"""Writes to the audit trail. `record_event` is the only way an event gets in."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from compliance import chain
from compliance.models import AuditEvent, Outcome
from federation.canonical import CanonicalJSONError, canonical_json

ACTION_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
MAX_DETAILS_BYTES = 16 * 1024
AUDIT_CHAIN_LOCK = 0x4143434F5244  # "ACCORD": the advisory lock key of the audit chain


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


def _lock_chain() -> None:
    """Serialise appenders until the transaction ends, so no two events share a sequence number.

    PostgreSQL: a transaction-scoped advisory lock (no row is rewritten per event, so long
    transactions with many events stay fast). SQLite: the node opens every transaction with
    BEGIN IMMEDIATE (settings), which already holds the database write lock.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [AUDIT_CHAIN_LOCK])


@dataclass(frozen=True)
class EventSpec:
    """One event for `record_events`; the same fields `record_event` takes."""

    action: str
    outcome: str = Outcome.SUCCESS
    actor: str = ""
    subject: str = ""
    details: dict[str, Any] = field(default_factory=dict)


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
    spec = EventSpec(action=action, outcome=outcome, actor=actor, subject=subject, details=details or {})
    return record_events([spec])[0]


@transaction.atomic
def record_events(specs: list[EventSpec]) -> list[AuditEvent]:
    """Append several events in order under one lock and one insert (batch receipt, broadcast)."""
    for spec in specs:
        _check(spec.action, spec.outcome, spec.details)
    if not specs:
        return []
    _lock_chain()
    last_seq, last_hash = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first() or (
        0,
        chain.GENESIS_HASH,
    )
    events = []
    for offset, spec in enumerate(specs, start=1):
        event = AuditEvent(
            seq=last_seq + offset,
            created_at=timezone.now(),
            category=spec.action.split(".", 1)[0],
            action=spec.action,
            outcome=spec.outcome,
            actor=spec.actor[:200],
            subject=spec.subject[:200],
            details=spec.details,
            prev_hash=last_hash,
        )
        event.hash = last_hash = chain.record_hash(event.chain_fields(), event.prev_hash)
        events.append(event)
    if len(events) == 1:
        events[0].save(force_insert=True)
    else:
        # The manager refuses bulk inserts so nothing else bypasses this function; here is the chain.
        models.QuerySet(AuditEvent).bulk_create(events)
    return events


def _records(chunk_size: int) -> Iterator[chain.ChainRecord]:
    rows = AuditEvent.objects.order_by("seq").values(
        "seq", "created_at", "category", "action", "outcome", "actor", "subject", "details", "prev_hash", "hash"
    )
    for row in rows.iterator(chunk_size=chunk_size):
        prev_hash, digest = row.pop("prev_hash"), row.pop("hash")
        row["created_at"] = format_timestamp(row["created_at"])
        yield chain.ChainRecord(fields=row, prev_hash=prev_hash, hash=digest)


def verify_audit_chain(*, chunk_size: int = 5000) -> chain.ChainReport:
    return chain.verify_records(_records(chunk_size))
