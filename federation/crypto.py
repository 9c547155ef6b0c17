"""Node key material: ed25519 identity, key encryption at rest, node ids, TLS certificates.

Pure module (no Django): everything here is deterministic given its inputs, apart from key
generation, which always uses the operating system's CSPRNG.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import os

import nacl.bindings
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import NameOID

NODE_ID_BYTES = 20  # 160 bits of SHA-256: collision-safe for any realistic federation


class KeyDecryptionError(ValueError):
    """The secret does not open this key file (wrong secret, or the file was altered)."""


class KeyFormatError(ValueError):
    """The key file is not an encrypted ed25519 PKCS#8 PEM at all."""


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def generate_signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_key_raw(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_public_key(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


def derive_node_id(public_raw: bytes) -> str:
    """Node id = lowercase unpadded base32 of the first 20 bytes of SHA-256(raw public key).

    Derived, never chosen: the same key always yields the same id, and nobody can claim an id
    without holding the matching private key.
    """
    digest = hashlib.sha256(public_raw).digest()[:NODE_ID_BYTES]
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()


def sign(key: Ed25519PrivateKey, message: bytes) -> bytes:
    return key.sign(message)


def verify(public_raw: bytes, signature: bytes, message: bytes) -> bool:
    try:
        load_public_key(public_raw).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def derive_subkey(secret: bytes, purpose: str, length: int = 32) -> bytes:
    """Independent keys for independent uses, all from the one node secret (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=f"accord/{purpose}".encode()).derive(secret)


def encrypt_private_key(key: Ed25519PrivateKey, secret: bytes) -> bytes:
    """Encrypted PKCS#8 PEM (PBES2, AES-256), readable by OpenSSL given the derived passphrase."""
    passphrase = derive_subkey(secret, "key-encryption")
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


def decrypt_private_key(pem: bytes, secret: bytes) -> Ed25519PrivateKey:
    if b"-----BEGIN ENCRYPTED PRIVATE KEY-----" not in pem:
        raise KeyFormatError("not an encrypted PKCS#8 PEM file")
    passphrase = derive_subkey(secret, "key-encryption")
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase)
    except ValueError as exc:
        # cryptography reports a wrong password and a damaged ciphertext the same way.
        raise KeyDecryptionError("the secret does not decrypt this key (wrong secret or altered file)") from exc
    except (TypeError, x509.InvalidVersion) as exc:  # pragma: no cover - defensive
        raise KeyFormatError(str(exc)) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFormatError(f"expected an ed25519 key, found {type(key).__name__}")
    return key


def make_self_signed_certificate(
    key: Ed25519PrivateKey,
    *,
    node_id: str,
    hostnames: list[str],
    now: dt.datetime,
    valid_days: int,
) -> x509.Certificate:
    """A self-signed Ed25519 certificate for mutual TLS; peers pin its fingerprint, no CA needed."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, node_id),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Accord federation node"),
        ]
    )
    alt_names: list[x509.GeneralName] = []
    for host in hostnames:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH, x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(key, algorithm=None)
    )


def certificate_fingerprint(cert: x509.Certificate) -> str:
    """`sha256:` + lowercase hex of SHA-256 over the DER certificate."""
    return "sha256:" + cert.fingerprint(hashes.SHA256()).hex()


def constant_time_equal(a: str | bytes, b: str | bytes) -> bool:
    a_bytes = a.encode() if isinstance(a, str) else a
    b_bytes = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)


def seal(key: bytes, plaintext: bytes, *, context: bytes) -> bytes:
    """AES-256-GCM with a random nonce; `context` is authenticated, so a sealed value moved to
    another row (another context) no longer opens."""
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def unseal(key: bytes, sealed: bytes, *, context: bytes) -> bytes:
    return AESGCM(key).decrypt(sealed[:12], sealed[12:], context)


def private_seed(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())


def pair_secret(own: Ed25519PrivateKey, peer_public_raw: bytes, *, purpose: str, node_ids: tuple[str, str]) -> bytes:
    """A key only this pair of nodes can derive, the same on both sides, with no exchange and
    nothing stored: X25519 between the two ed25519 identity keys (birationally mapped, as
    libsodium does), then HKDF bound to ``purpose`` and both node ids in a fixed order."""
    _, secret_key = nacl.bindings.crypto_sign_seed_keypair(private_seed(own))
    own_x25519 = nacl.bindings.crypto_sign_ed25519_sk_to_curve25519(secret_key)
    peer_x25519 = nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(peer_public_raw)
    shared = nacl.bindings.crypto_scalarmult(own_x25519, peer_x25519)
    if not any(shared):
        raise ValueError("the peer's public key is a low-order point")
    return derive_subkey(shared, f"{purpose}/" + "/".join(sorted(node_ids)))
