"""Claim documents: what is signed, and how a receiver checks one (pure, no database).

    {"v": 1, "kind": "claim", "id": "<hex>", "type": "federation:read",
     "issuer": "<node id>", "subject": "<node id>",
     "issued_at": "2026-12-07T12:00:00Z", "expires_at": "2027-01-01T00:00:00Z" | null,
     "signature": "<base64 ed25519 over RFC 8785 of every other member>"}

A revocation is the same shape with "kind": "revocation", "claim": "<claim id>" and
"revoked_at" in place of "type" / "issued_at" / "expires_at" (docs/PROTOCOL.md §8).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from federation import crypto
from federation.canonical import CanonicalJSONError, canonical_json
from federation.capabilities import CLAIM_TYPES
from federation.manifest import ManifestError, format_time, parse_time

BAD_CLAIM = "CLAIM_INVALID"
FORGED = "CLAIM_FORGED"
WRONG_ISSUER = "CLAIM_WRONG_ISSUER"
WRONG_SUBJECT = "CLAIM_WRONG_SUBJECT"
EXPIRED = "CLAIM_EXPIRED"
REVOKED = "CLAIM_REVOKED"

_ID = re.compile(r"[0-9a-f]{32}")
_CLAIM_MEMBERS = {"v", "kind", "id", "type", "issuer", "subject", "issued_at", "expires_at", "signature"}
_REVOCATION_MEMBERS = {"v", "kind", "id", "claim", "issuer", "subject", "revoked_at", "signature"}


class ClaimError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _signed(document: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    return {**document, "signature": crypto.b64encode(crypto.sign(key, canonical_json(document)))}


def make_claim(
    key: Ed25519PrivateKey, *, claim_type: str, issuer: str, subject: str, issued_at: dt.datetime,
    expires_at: dt.datetime | None,
) -> dict[str, Any]:  # fmt: skip
    if claim_type not in CLAIM_TYPES:
        raise ClaimError(BAD_CLAIM, f"unknown claim type {claim_type!r}: use one of {', '.join(CLAIM_TYPES)}")
    if expires_at is not None and expires_at <= issued_at:
        raise ClaimError(EXPIRED, "the expiry must be in the future")
    document = {
        "v": 1,
        "kind": "claim",
        "id": secrets.token_hex(16),
        "type": claim_type,
        "issuer": issuer,
        "subject": subject,
        "issued_at": format_time(issued_at),
        "expires_at": format_time(expires_at) if expires_at else None,
    }
    return _signed(document, key)


def make_revocation(key: Ed25519PrivateKey, claim: dict[str, Any], *, revoked_at: dt.datetime) -> dict[str, Any]:
    document = {
        "v": 1,
        "kind": "revocation",
        "id": secrets.token_hex(16),
        "claim": claim["id"],
        "issuer": claim["issuer"],
        "subject": claim["subject"],
        "revoked_at": format_time(revoked_at),
    }
    return _signed(document, key)


def verify(document: Any, *, issuer: str, issuer_key: bytes, subject: str) -> dict[str, Any]:
    """Shape, issuer, subject, then the ed25519 signature; returns the document or raises."""
    if not isinstance(document, dict) or document.get("kind") not in ("claim", "revocation"):
        raise ClaimError(BAD_CLAIM, "a claim document is an object with kind 'claim' or 'revocation'")
    members = _CLAIM_MEMBERS if document["kind"] == "claim" else _REVOCATION_MEMBERS
    if set(document) != members or document.get("v") != 1:
        raise ClaimError(BAD_CLAIM, f"a {document['kind']} has exactly the members {', '.join(sorted(members))}")
    if not all(isinstance(document[m], str) and len(document[m]) <= 128 for m in members - {"v", "expires_at"}):
        raise ClaimError(BAD_CLAIM, "claim members are strings of at most 128 characters")
    ids = [document["id"]] + ([document["claim"]] if document["kind"] == "revocation" else [])
    if not all(_ID.fullmatch(value) for value in ids):
        raise ClaimError(BAD_CLAIM, "claim ids are 32 lowercase hex digits")
    if (
        document["kind"] == "claim"
        and document["expires_at"] is not None
        and not isinstance(document["expires_at"], str)
    ):
        raise ClaimError(BAD_CLAIM, "expires_at is a timestamp or null")
    if document["kind"] == "claim" and document["type"] not in CLAIM_TYPES:
        raise ClaimError(BAD_CLAIM, f"unknown claim type {document['type'][:40]!r}")
    if not crypto.constant_time_equal(document["issuer"], issuer):
        raise ClaimError(WRONG_ISSUER, "the claim was not issued by the peer that sent it")
    if not crypto.constant_time_equal(document["subject"], subject):
        raise ClaimError(WRONG_SUBJECT, "the claim is not about this node")
    try:
        unsigned = canonical_json({k: v for k, v in document.items() if k != "signature"})
        signature = crypto.b64decode(document["signature"])
    except (CanonicalJSONError, ValueError) as exc:
        raise ClaimError(BAD_CLAIM, f"the claim cannot be checked: {exc}") from exc
    if not crypto.verify(issuer_key, signature, unsigned):
        raise ClaimError(FORGED, "the claim's signature does not verify with the issuer's key")
    return document


def times(document: dict[str, Any]) -> tuple[dt.datetime, dt.datetime | None]:
    """(issued_at, expires_at) of a verified claim; raises ClaimError on a bad timestamp."""
    try:
        issued = parse_time(document["issued_at"])
        expires = parse_time(document["expires_at"]) if document["expires_at"] is not None else None
    except ManifestError as exc:
        raise ClaimError(BAD_CLAIM, str(exc)) from exc
    return issued, expires
