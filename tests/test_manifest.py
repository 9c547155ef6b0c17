from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.signing
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from federation import manifest

VECTOR = json.loads((Path(__file__).parent / "vectors" / "manifest-v1.json").read_text())
AT = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)


def independent_verify(document: dict[str, Any]) -> str:
    """The procedure of docs/PROTOCOL.md §2, written with PyNaCl and rfc8785 only."""
    unsigned = {k: v for k, v in document.items() if k != "signature"}
    public = base64.b64decode(document["public_key"])
    nacl.signing.VerifyKey(public).verify(rfc8785.dumps(unsigned), base64.b64decode(document["signature"]))
    node_id = base64.b32encode(hashlib.sha256(public).digest()[:20]).decode().rstrip("=").lower()
    assert node_id == document["node_id"]
    return node_id


def build() -> dict[str, Any]:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(VECTOR["private_key_seed_hex"]))
    source = VECTOR["manifest"]
    arguments: dict[str, Any] = {
        "key": key,
        "display_name": source["display_name"],
        "endpoints": source["endpoints"],
        "capabilities": source["capabilities"],
        "compliance_modes": source["compliance_modes"],
        "tls_cert_fingerprint": source["tls_cert_fingerprint"],
        "issued_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "ttl": dt.timedelta(days=1),
    }
    return manifest.build_manifest(**arguments)


def test_vector_is_reproduced_byte_for_byte() -> None:
    document = build()
    assert document == VECTOR["manifest"]
    assert manifest.signing_bytes(document).decode() == VECTOR["signing_input"]


def test_vector_verifies_with_our_code_and_an_independent_verifier() -> None:
    verified = manifest.verify_manifest(VECTOR["manifest"], now=AT)
    assert verified.node_id == VECTOR["manifest"]["node_id"] == independent_verify(VECTOR["manifest"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("display_name", "Evil Bank"),
        ("endpoints", {"base_url": "https://attacker.example"}),
        ("capabilities", ["discovery.manifest", "federation:admin"]),
        ("tls_cert_fingerprint", "sha256:" + "cd" * 32),
        ("expires_at", "2027-01-01T00:00:00Z"),
        ("key_history", [{"public_key": "x"}]),
        ("protocol_versions", ["accord/0"]),
    ],
)
def test_any_changed_field_breaks_the_signature(field: str, value: Any) -> None:
    forged = copy.deepcopy(VECTOR["manifest"])
    forged[field] = value
    with pytest.raises(manifest.ManifestError) as caught:
        manifest.verify_manifest(forged, now=AT)
    assert caught.value.code == "bad_signature"
    with pytest.raises(nacl.exceptions.BadSignatureError):
        independent_verify(forged)


def test_key_swap_with_old_node_id_is_refused() -> None:
    other = manifest.build_manifest(
        key=Ed25519PrivateKey.generate(),
        display_name="x",
        endpoints={},
        capabilities=[],
        compliance_modes=[],
        tls_cert_fingerprint="sha256:00",
        issued_at=AT,
        ttl=dt.timedelta(hours=1),
    )
    forged = dict(other, node_id=VECTOR["manifest"]["node_id"])
    # Re-signed by the attacker's own key so only the node-id binding can catch it.
    key = Ed25519PrivateKey.generate()
    forged["public_key"] = base64.b64encode(key.public_key().public_bytes_raw()).decode()
    forged["signature"] = base64.b64encode(key.sign(manifest.signing_bytes(forged))).decode()
    with pytest.raises(manifest.ManifestError) as caught:
        manifest.verify_manifest(forged, now=AT)
    assert caught.value.code == "node_id_mismatch"


@pytest.mark.parametrize(
    ("now", "code"),
    [
        (dt.datetime(2025, 12, 31, 23, 0, tzinfo=dt.UTC), "not_yet_valid"),
        (dt.datetime(2026, 1, 2, 0, 10, tzinfo=dt.UTC), "expired"),
    ],
)
def test_validity_window_is_enforced_with_bounded_skew(now: dt.datetime, code: str) -> None:
    with pytest.raises(manifest.ManifestError) as caught:
        manifest.verify_manifest(VECTOR["manifest"], now=now)
    assert caught.value.code == code
    # inside the five-minute skew allowance both ends still verify
    manifest.verify_manifest(VECTOR["manifest"], now=dt.datetime(2026, 1, 2, 0, 4, tzinfo=dt.UTC))


def test_expected_node_id_is_checked() -> None:
    with pytest.raises(manifest.ManifestError) as caught:
        manifest.verify_manifest(VECTOR["manifest"], now=AT, expected_node_id="someoneelse")
    assert caught.value.code == "unexpected_node"


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda d: d.pop("signature"), "missing_field"),
        (lambda d: d.update(manifest_version=True), "bad_field"),
        (lambda d: d.update(manifest_version=2), "unsupported_version"),
        (lambda d: d.update(type="other"), "bad_type"),
        (lambda d: d.update(signature="***"), "bad_encoding"),
        (lambda d: d.update(public_key=base64.b64encode(b"short").decode()), "bad_public_key"),
        (lambda d: d.update(endpoints="https://x"), "bad_field"),
    ],
)
def test_malformed_manifests_get_precise_reasons(mutate: Any, code: str) -> None:
    document = copy.deepcopy(VECTOR["manifest"])
    mutate(document)
    with pytest.raises(manifest.ManifestError) as caught:
        manifest.verify_manifest(document, now=AT)
    assert caught.value.code == code


@pytest.mark.parametrize("value", [None, [], "manifest", 3])
def test_non_objects_are_refused(value: Any) -> None:
    with pytest.raises(manifest.ManifestError) as caught:
        manifest.verify_manifest(value, now=AT)
    assert caught.value.code == "malformed"


def test_signature_covers_nested_members_in_canonical_order() -> None:
    reordered = json.loads(json.dumps(VECTOR["manifest"], sort_keys=True))  # key order must not matter
    assert manifest.verify_manifest(reordered, now=AT).node_id == VECTOR["manifest"]["node_id"]
    nested = copy.deepcopy(VECTOR["manifest"])
    nested["endpoints"]["api"] = "https://node-a.example:8443/api/v2/"
    with pytest.raises(manifest.ManifestError):
        manifest.verify_manifest(nested, now=AT)
