"""The mutual challenge-response handshake and session keys (docs/PROTOCOL.md §5).

Pure module (no Django, no I/O): message construction and checks shared by the client
(`peers.client`) and the server (`peers.consumers`), so both sides agree byte for byte.

Flow over one WebSocket on mutual TLS:

    client → hello        {versions, node_id, manifest, challenge, ephemeral_key}
    server → challenge    {version, node_id, challenge, ephemeral_key, signature}
    client → response     {signature}
    server → established  {session_id, expires_at, heartbeat_seconds}

Each signature covers the same transcript — both node ids, the chosen version, the versions
the client offered, both challenges, both ephemeral keys and both TLS certificate fingerprints
(the binding to this TLS connection) — under a role label, so a signature is valid for one
direction of one handshake only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from federation import crypto
from federation.canonical import canonical_json
from federation.manifest import PROTOCOL_VERSIONS

CHALLENGE_BYTES = 32
MAX_FRAME_BYTES = 64 * 1024
CHALLENGE_TIMEOUT_SECONDS = 10.0


class HandshakeError(Exception):
    """A refused handshake step. `code` is the stable reason code sent to the peer and audited."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def new_challenge() -> bytes:
    return secrets.token_bytes(CHALLENGE_BYTES)


def negotiate_version(offered: Any) -> str:
    """The newest version both sides speak; never a silent downgrade to one we do not offer."""
    if not isinstance(offered, list) or not all(isinstance(v, str) for v in offered):
        raise HandshakeError("malformed", "versions must be a list of strings")
    for version in PROTOCOL_VERSIONS:  # ours, newest first
        if version in offered:
            return version
    raise HandshakeError("unsupported_version", f"no common protocol version in {offered[:8]}")


@dataclass(frozen=True)
class Transcript:
    version: str
    offered_versions: tuple[str, ...]
    client_node_id: str
    server_node_id: str
    client_challenge: bytes
    server_challenge: bytes
    client_ephemeral: bytes
    server_ephemeral: bytes
    client_cert_fingerprint: str
    server_cert_fingerprint: str

    def signing_bytes(self, role: str) -> bytes:
        if role not in ("client", "server"):
            raise ValueError(role)
        return canonical_json(
            {
                "purpose": f"accord-handshake/{role}",
                "version": self.version,
                "offered_versions": list(self.offered_versions),
                "client_node_id": self.client_node_id,
                "server_node_id": self.server_node_id,
                "client_challenge": crypto.b64encode(self.client_challenge),
                "server_challenge": crypto.b64encode(self.server_challenge),
                "client_ephemeral_key": crypto.b64encode(self.client_ephemeral),
                "server_ephemeral_key": crypto.b64encode(self.server_ephemeral),
                "client_cert_fingerprint": self.client_cert_fingerprint,
                "server_cert_fingerprint": self.server_cert_fingerprint,
            }
        )

    def session_id(self) -> str:
        """Both sides compute it; nobody chooses it."""
        return hashlib.sha256(b"accord-session-id\x00" + self.signing_bytes("client")).hexdigest()[:32]


def sign_transcript(key: Any, transcript: Transcript, role: str) -> str:
    return crypto.b64encode(crypto.sign(key, transcript.signing_bytes(role)))


def check_signature(public_key: bytes, signature: Any, transcript: Transcript, role: str) -> None:
    raw = decode_b64(signature, "signature", 64)
    if not crypto.verify(public_key, raw, transcript.signing_bytes(role)):
        raise HandshakeError("bad_signature", f"{role} signature does not verify over this handshake")


def decode_b64(value: Any, name: str, length: int) -> bytes:
    if not isinstance(value, str):
        raise HandshakeError("malformed", f"{name} must be a base64 string")
    try:
        raw = crypto.b64decode(value)
    except ValueError as exc:
        raise HandshakeError("malformed", f"{name} is not base64") from exc
    if len(raw) != length:
        raise HandshakeError("malformed", f"{name} must be {length} bytes")
    return raw


def new_ephemeral() -> tuple[X25519PrivateKey, bytes]:
    private = X25519PrivateKey.generate()
    return private, private.public_key().public_bytes_raw()


def derive_mac_key(private: X25519PrivateKey, peer_public: bytes, transcript: Transcript) -> bytes:
    """Session MAC key: X25519 shared secret → HKDF-SHA256, salted with both challenges and bound
    to the session id. Ephemeral keys: a stolen node key cannot recover past session keys."""
    shared = private.exchange(X25519PublicKey.from_public_bytes(peer_public))
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=transcript.client_challenge + transcript.server_challenge,
        info=b"accord/session-mac/" + transcript.session_id().encode(),
    ).derive(shared)


def heartbeat_mac(mac_key: bytes, fields: dict[str, Any]) -> str:
    return hmac.new(mac_key, canonical_json(fields), hashlib.sha256).hexdigest()


def check_mac(mac_key: bytes, fields: dict[str, Any], mac: Any) -> bool:
    return isinstance(mac, str) and hmac.compare_digest(heartbeat_mac(mac_key, fields), mac)


def _field(message: Any, name: str, kind: type) -> Any:
    if not isinstance(message, dict):
        raise HandshakeError("malformed", "message must be a JSON object")
    value = message.get(name)
    if not isinstance(value, kind):
        raise HandshakeError("malformed", f"{name!r} missing or not {kind.__name__}")
    return value


@dataclass
class Initiator:
    """The client side. Knows the server from its verified manifest and its pinned certificate."""

    signing_key: Any
    node_id: str
    manifest: dict[str, Any]
    cert_fingerprint: str
    server_node_id: str
    server_public_key: bytes
    server_cert_fingerprint: str
    offered: tuple[str, ...] = PROTOCOL_VERSIONS

    def __post_init__(self) -> None:
        self.challenge = new_challenge()
        self._ephemeral, self.ephemeral_public = new_ephemeral()
        self.transcript: Transcript | None = None
        self.mac_key: bytes | None = None

    @classmethod
    def for_server(cls, identity: Any, own_manifest: dict[str, Any], server: Any, pinned: str) -> Initiator:
        """The usual case: this node (a home.NodeIdentity) dialling a peer known by its verified
        manifest (`server`) whose certificate fingerprint is `pinned`."""
        return cls(
            signing_key=identity.signing_key,
            node_id=identity.node_id,
            manifest=own_manifest,
            cert_fingerprint=identity.tls_fingerprint,
            server_node_id=server.node_id,
            server_public_key=server.public_key,
            server_cert_fingerprint=pinned,
        )

    def hello(self) -> dict[str, Any]:
        return {
            "type": "hello",
            "versions": list(self.offered),
            "node_id": self.node_id,
            "manifest": self.manifest,
            "challenge": crypto.b64encode(self.challenge),
            "ephemeral_key": crypto.b64encode(self.ephemeral_public),
        }

    def on_challenge(self, message: Any) -> dict[str, Any]:
        if _field(message, "type", str) != "challenge":
            raise HandshakeError("unexpected_message", f"expected challenge, got {message.get('type')!r}")
        if not crypto.constant_time_equal(_field(message, "node_id", str), self.server_node_id):
            raise HandshakeError("unexpected_node", "the server answered as another node")
        version = _field(message, "version", str)
        if version not in self.offered:
            raise HandshakeError("unsupported_version", f"server chose {version!r}, which we did not offer")
        self.transcript = Transcript(
            version=version,
            offered_versions=self.offered,
            client_node_id=self.node_id,
            server_node_id=self.server_node_id,
            client_challenge=self.challenge,
            server_challenge=decode_b64(message.get("challenge"), "challenge", CHALLENGE_BYTES),
            client_ephemeral=self.ephemeral_public,
            server_ephemeral=decode_b64(message.get("ephemeral_key"), "ephemeral_key", 32),
            client_cert_fingerprint=self.cert_fingerprint,
            server_cert_fingerprint=self.server_cert_fingerprint,
        )
        check_signature(self.server_public_key, message.get("signature"), self.transcript, "server")
        self.mac_key = derive_mac_key(self._ephemeral, self.transcript.server_ephemeral, self.transcript)
        return {"type": "response", "signature": sign_transcript(self.signing_key, self.transcript, "client")}

    def on_established(self, message: Any) -> dict[str, Any]:
        if _field(message, "type", str) != "established":
            raise HandshakeError("unexpected_message", f"expected established, got {message.get('type')!r}")
        if self.transcript is None or _field(message, "session_id", str) != self.transcript.session_id():
            raise HandshakeError("session_mismatch", "the server named a different session")
        return message


@dataclass
class Responder:
    """The server side. Learns the client from the manifest it presents in `hello`."""

    signing_key: Any
    node_id: str
    cert_fingerprint: str
    client_cert_fingerprint: str
    verify_manifest: Any  # callable(document) -> VerifiedManifest, raising ManifestError
    timeout: float = CHALLENGE_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        self.transcript: Transcript | None = None
        self.client: Any = None
        self.challenge_sent_at: float | None = None
        self.mac_key: bytes | None = None

    def on_hello(self, message: Any, *, now: float) -> dict[str, Any]:
        from federation.manifest import ManifestError

        if _field(message, "type", str) != "hello":
            raise HandshakeError("unexpected_message", f"expected hello, got {message.get('type')!r}")
        version = negotiate_version(message.get("versions"))
        try:
            self.client = self.verify_manifest(_field(message, "manifest", dict))
        except ManifestError as exc:
            raise HandshakeError(f"manifest_{exc.code}", f"client manifest refused: {exc}") from exc
        if not crypto.constant_time_equal(_field(message, "node_id", str), self.client.node_id):
            raise HandshakeError("node_id_mismatch", "hello node_id differs from the manifest's")
        if self.client.node_id == self.node_id:
            raise HandshakeError("self_connection", "a node cannot hand-shake with itself")
        pinned = self.client.document["tls_cert_fingerprint"]
        if not crypto.constant_time_equal(pinned, self.client_cert_fingerprint):
            raise HandshakeError("certificate_mismatch", "client certificate does not match its manifest pin")
        challenge = new_challenge()
        ephemeral, ephemeral_public = new_ephemeral()
        self.transcript = Transcript(
            version=version,
            offered_versions=tuple(message["versions"]),
            client_node_id=self.client.node_id,
            server_node_id=self.node_id,
            client_challenge=decode_b64(message.get("challenge"), "challenge", CHALLENGE_BYTES),
            server_challenge=challenge,
            client_ephemeral=decode_b64(message.get("ephemeral_key"), "ephemeral_key", 32),
            server_ephemeral=ephemeral_public,
            client_cert_fingerprint=self.client_cert_fingerprint,
            server_cert_fingerprint=self.cert_fingerprint,
        )
        self.mac_key = derive_mac_key(ephemeral, self.transcript.client_ephemeral, self.transcript)
        self.challenge_sent_at = now
        return {
            "type": "challenge",
            "version": version,
            "node_id": self.node_id,
            "challenge": crypto.b64encode(challenge),
            "ephemeral_key": crypto.b64encode(ephemeral_public),
            "signature": sign_transcript(self.signing_key, self.transcript, "server"),
        }

    def on_response(self, message: Any, *, now: float) -> Transcript:
        if self.transcript is None or self.challenge_sent_at is None:
            raise HandshakeError("unexpected_message", "response before hello")
        if _field(message, "type", str) != "response":
            raise HandshakeError("unexpected_message", f"expected response, got {message.get('type')!r}")
        if now - self.challenge_sent_at > self.timeout:
            raise HandshakeError("stale_challenge", f"response came after the {self.timeout:g}s limit")
        check_signature(self.client.public_key, message.get("signature"), self.transcript, "client")
        return self.transcript
