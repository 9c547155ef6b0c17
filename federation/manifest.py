"""Signed node manifests (MISSION §2.1, docs/PROTOCOL.md §2).

A manifest is a JSON object. Its `signature` member is the base64 ed25519 signature, by the key
in `public_key`, over the RFC 8785 canonical JSON of the object without `signature`. A verifier
needs nothing but the JSON: it checks the signature, that `node_id` is derived from `public_key`,
and the validity window. A valid manifest proves who published it; it never grants trust.

Pure module (no Django).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from federation import crypto
from federation.canonical import CanonicalJSONError, canonical_json

MANIFEST_TYPE = "accord.manifest"
MANIFEST_VERSION = 1
PROTOCOL_VERSIONS = ("accord/1",)
DEFAULT_CLOCK_SKEW = dt.timedelta(minutes=5)
MAX_MANIFEST_BYTES = 64 * 1024
REQUIRED_FIELDS = {
    "type": str,
    "manifest_version": int,
    "node_id": str,
    "display_name": str,
    "public_key": str,
    "endpoints": dict,
    "capabilities": list,
    "protocol_versions": list,
    "compliance_modes": list,
    "tls_cert_fingerprint": str,
    "issued_at": str,
    "expires_at": str,
    "key_history": list,
    "signature": str,
}


class ManifestError(ValueError):
    """A manifest failed verification. `code` is a stable machine-readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def format_time(moment: dt.datetime) -> str:
    """RFC 3339 UTC with second precision and a `Z`, the only time format in manifests."""
    return moment.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError) as exc:
        raise ManifestError("bad_timestamp", f"timestamp {text!r} is not YYYY-MM-DDTHH:MM:SSZ") from exc
    return moment.replace(tzinfo=dt.UTC)


def signing_bytes(manifest: dict[str, Any]) -> bytes:
    """The exact bytes that are signed: canonical JSON of every member except `signature`."""
    unsigned = {key: value for key, value in manifest.items() if key != "signature"}
    try:
        return canonical_json(unsigned)
    except CanonicalJSONError as exc:
        raise ManifestError("not_canonicalizable", f"manifest cannot be canonicalised: {exc}") from exc


def build_manifest(
    *,
    key: Ed25519PrivateKey,
    display_name: str,
    endpoints: dict[str, str],
    capabilities: list[str],
    compliance_modes: list[str],
    tls_cert_fingerprint: str,
    issued_at: dt.datetime,
    ttl: dt.timedelta,
    key_history: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    public_raw = crypto.public_key_raw(key)
    manifest: dict[str, Any] = {
        "type": MANIFEST_TYPE,
        "manifest_version": MANIFEST_VERSION,
        "node_id": crypto.derive_node_id(public_raw),
        "display_name": display_name,
        "public_key": crypto.b64encode(public_raw),
        "endpoints": dict(endpoints),
        "capabilities": sorted(capabilities),
        "protocol_versions": list(PROTOCOL_VERSIONS),
        "compliance_modes": sorted(compliance_modes),
        "tls_cert_fingerprint": tls_cert_fingerprint,
        "issued_at": format_time(issued_at),
        "expires_at": format_time(issued_at + ttl),
        "key_history": list(key_history or []),
    }
    manifest["signature"] = crypto.b64encode(crypto.sign(key, signing_bytes(manifest)))
    return manifest


@dataclass(frozen=True)
class VerifiedManifest:
    node_id: str
    public_key: bytes
    issued_at: dt.datetime
    expires_at: dt.datetime
    document: dict[str, Any]


def verify_manifest(
    manifest: Any,
    *,
    now: dt.datetime,
    clock_skew: dt.timedelta = DEFAULT_CLOCK_SKEW,
    expected_node_id: str | None = None,
) -> VerifiedManifest:
    """Check structure, signature, derived node id and validity window; raise ManifestError."""
    if not isinstance(manifest, dict):
        raise ManifestError("malformed", "manifest must be a JSON object")
    for field, kind in REQUIRED_FIELDS.items():
        if field not in manifest:
            raise ManifestError("missing_field", f"manifest has no {field!r}")
        value = manifest[field]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ManifestError("bad_field", f"manifest field {field!r} must be {kind.__name__}")
    if manifest["type"] != MANIFEST_TYPE:
        raise ManifestError("bad_type", f"manifest type must be {MANIFEST_TYPE!r}")
    if manifest["manifest_version"] != MANIFEST_VERSION:
        raise ManifestError("unsupported_version", f"manifest_version {manifest['manifest_version']} is not supported")
    try:
        public_raw = crypto.b64decode(manifest["public_key"])
        signature = crypto.b64decode(manifest["signature"])
    except ValueError as exc:
        raise ManifestError("bad_encoding", "public_key and signature must be base64") from exc
    if len(public_raw) != 32:
        raise ManifestError("bad_public_key", "public_key must be a 32-byte ed25519 key")
    if not crypto.verify(public_raw, signature, signing_bytes(manifest)):
        raise ManifestError("bad_signature", "manifest signature does not verify")
    derived = crypto.derive_node_id(public_raw)
    if not crypto.constant_time_equal(derived, manifest["node_id"]):
        raise ManifestError("node_id_mismatch", "node_id is not derived from public_key")
    if expected_node_id is not None and not crypto.constant_time_equal(expected_node_id, derived):
        raise ManifestError("unexpected_node", f"expected node {expected_node_id}, got {derived}")
    issued_at = parse_time(manifest["issued_at"])
    expires_at = parse_time(manifest["expires_at"])
    if expires_at <= issued_at:
        raise ManifestError("bad_validity", "expires_at is not after issued_at")
    if issued_at > now + clock_skew:
        raise ManifestError("not_yet_valid", f"manifest issued in the future ({manifest['issued_at']})")
    if expires_at <= now - clock_skew:
        raise ManifestError("expired", f"manifest expired at {manifest['expires_at']}")
    return VerifiedManifest(
        node_id=derived,
        public_key=public_raw,
        issued_at=issued_at,
        expires_at=expires_at,
        document=manifest,
    )
