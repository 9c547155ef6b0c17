"""The audit hash chain, as pure functions (no Django).

Each record's hash is SHA-256 over the RFC 8785 canonical JSON of its fields plus the previous
record's hash, so changing, removing or reordering any record breaks every hash after it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from federation.canonical import canonical_json

GENESIS_HASH = "0" * 64
HASHED_FIELDS = ("seq", "created_at", "category", "action", "outcome", "actor", "subject", "details")


def record_hash(fields: dict[str, Any], prev_hash: str) -> str:
    body = {name: fields[name] for name in HASHED_FIELDS}
    body["prev_hash"] = prev_hash
    return hashlib.sha256(canonical_json(body)).hexdigest()


@dataclass(frozen=True)
class ChainRecord:
    fields: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    last_seq: int
    first_bad_seq: int | None = None
    reason: str = ""


def verify_records(records: Iterable[ChainRecord]) -> ChainReport:
    """Walk records in sequence order; report the first one that breaks the chain.

    Records cut off the end leave a valid shorter chain: signed checkpoints (MISSION §7) are
    what pins the length, so an end-truncation is caught against the latest checkpoint.
    """
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    for record in records:
        seq = record.fields["seq"]
        if seq != expected_seq:
            bad = min(seq, expected_seq)
            return ChainReport(
                False, checked, expected_seq - 1, bad, f"sequence gap: expected {expected_seq}, found {seq}"
            )
        if record.prev_hash != prev_hash:
            return ChainReport(False, checked, seq - 1, seq, "prev_hash does not match the previous record")
        if record_hash(record.fields, record.prev_hash) != record.hash:
            return ChainReport(False, checked, seq - 1, seq, "record content does not match its hash")
        prev_hash, expected_seq, checked = record.hash, seq + 1, checked + 1
    return ChainReport(True, checked, expected_seq - 1)
