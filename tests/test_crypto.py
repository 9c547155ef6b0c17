from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from federation import crypto

SECRET = b"s" * 40


def test_node_id_is_derived_from_public_key_and_stable() -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    raw = crypto.public_key_raw(key)
    assert crypto.derive_node_id(raw) == crypto.derive_node_id(raw)
    assert len(crypto.derive_node_id(raw)) == 32
    assert crypto.derive_node_id(raw) != crypto.derive_node_id(crypto.public_key_raw(crypto.generate_signing_key()))


def test_private_key_round_trips_only_with_the_right_secret() -> None:
    key = crypto.generate_signing_key()
    pem = crypto.encrypt_private_key(key, SECRET)
    assert b"ENCRYPTED PRIVATE KEY" in pem
    assert crypto.public_key_raw(crypto.decrypt_private_key(pem, SECRET)) == crypto.public_key_raw(key)
    with pytest.raises(crypto.KeyDecryptionError):
        crypto.decrypt_private_key(pem, b"t" * 40)


def test_damaged_key_file_is_reported_as_such() -> None:
    pem = crypto.encrypt_private_key(crypto.generate_signing_key(), SECRET)
    with pytest.raises(crypto.KeyFormatError):
        crypto.decrypt_private_key(b"garbage", SECRET)
    lines = pem.splitlines()
    lines[2] = b"A" * len(lines[2])  # ciphertext replaced: cannot decrypt any more
    with pytest.raises(crypto.KeyDecryptionError):
        crypto.decrypt_private_key(b"\n".join(lines), SECRET)


def test_signatures_fail_on_any_change() -> None:
    key = crypto.generate_signing_key()
    raw = crypto.public_key_raw(key)
    signature = crypto.sign(key, b"hello")
    assert crypto.verify(raw, signature, b"hello")
    assert not crypto.verify(raw, signature, b"hellO")
    assert not crypto.verify(crypto.public_key_raw(crypto.generate_signing_key()), signature, b"hello")
    assert not crypto.verify(raw, b"\x00" * 64, b"hello")


def test_self_signed_certificate_is_ed25519_and_pinned_by_fingerprint() -> None:
    key = crypto.generate_signing_key()
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = crypto.make_self_signed_certificate(
        key, node_id="abc", hostnames=["localhost", "127.0.0.1"], now=now, valid_days=30
    )
    assert isinstance(cert.public_key(), Ed25519PublicKey)
    assert crypto.public_key_raw(cert.public_key()) == crypto.public_key_raw(key)  # type: ignore[arg-type]
    assert cert.not_valid_after_utc == now + dt.timedelta(days=30)
    fingerprint = crypto.certificate_fingerprint(cert)
    assert fingerprint.startswith("sha256:") and len(fingerprint) == 7 + 64
    other = crypto.make_self_signed_certificate(key, node_id="abc", hostnames=["localhost"], now=now, valid_days=30)
    assert crypto.certificate_fingerprint(other) != fingerprint  # new serial, new pin


def test_subkeys_are_independent_per_purpose() -> None:
    assert crypto.derive_subkey(SECRET, "a") != crypto.derive_subkey(SECRET, "b")
    assert crypto.derive_subkey(SECRET, "a") == crypto.derive_subkey(SECRET, "a")
