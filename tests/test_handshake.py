"""The handshake state machines of both sides, without network (pure module)."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from federation import crypto, handshake, manifest

NOW = dt.datetime.now(dt.UTC)


class Node:
    def __init__(self, name: str) -> None:
        self.key = crypto.generate_signing_key()
        self.cert = f"sha256:{name * 32}"[:71]
        self.manifest = manifest.build_manifest(
            key=self.key,
            display_name=name,
            endpoints={},
            capabilities=[],
            compliance_modes=[],
            tls_cert_fingerprint=self.cert,
            issued_at=NOW,
            ttl=dt.timedelta(hours=1),
        )
        self.node_id = self.manifest["node_id"]
        self.public = crypto.public_key_raw(self.key)


def verifier(document: dict[str, Any]) -> manifest.VerifiedManifest:
    return manifest.verify_manifest(document, now=dt.datetime.now(dt.UTC))


def pair(client: Node, server: Node, *, seen_client_cert: str | None = None) -> tuple[Any, Any]:
    initiator = handshake.Initiator(
        signing_key=client.key,
        node_id=client.node_id,
        manifest=client.manifest,
        cert_fingerprint=client.cert,
        server_node_id=server.node_id,
        server_public_key=server.public,
        server_cert_fingerprint=server.cert,
    )
    responder = handshake.Responder(
        signing_key=server.key,
        node_id=server.node_id,
        cert_fingerprint=server.cert,
        client_cert_fingerprint=seen_client_cert or client.cert,
        verify_manifest=verifier,
    )
    return initiator, responder


@pytest.fixture
def nodes() -> tuple[Node, Node]:
    return Node("a"), Node("b")


def test_both_sides_agree_on_session_and_key(nodes: tuple[Node, Node]) -> None:
    initiator, responder = pair(*nodes)
    challenge = responder.on_hello(initiator.hello(), now=0)
    response = initiator.on_challenge(challenge)
    transcript = responder.on_response(response, now=1)
    assert transcript.session_id() == initiator.transcript.session_id()
    assert responder.mac_key == initiator.mac_key and len(initiator.mac_key) == 32
    assert transcript.version == "accord/1"


def test_fresh_challenges_and_keys_every_time(nodes: tuple[Node, Node]) -> None:
    sessions = set()
    for _ in range(3):
        initiator, responder = pair(*nodes)
        responder.on_hello(initiator.hello(), now=0)
        sessions.add(responder.transcript.session_id())
    assert len(sessions) == 3


def test_response_signed_by_the_wrong_key_is_refused(nodes: tuple[Node, Node]) -> None:
    initiator, responder = pair(*nodes)
    initiator.on_challenge(responder.on_hello(initiator.hello(), now=0))
    forged = handshake.sign_transcript(crypto.generate_signing_key(), initiator.transcript, "client")
    with pytest.raises(handshake.HandshakeError) as caught:
        responder.on_response({"type": "response", "signature": forged}, now=1)
    assert caught.value.code == "bad_signature"


def test_replayed_response_from_an_earlier_handshake_is_refused(nodes: tuple[Node, Node]) -> None:
    first_initiator, first_responder = pair(*nodes)
    old_response = first_initiator.on_challenge(first_responder.on_hello(first_initiator.hello(), now=0))
    first_responder.on_response(old_response, now=1)
    # An attacker replays the recorded response into a new handshake (fresh server challenge).
    _, responder = pair(*nodes)
    responder.on_hello(first_initiator.hello(), now=0)
    with pytest.raises(handshake.HandshakeError) as caught:
        responder.on_response(old_response, now=1)
    assert caught.value.code == "bad_signature"


def test_server_signature_role_cannot_be_reflected_as_client(nodes: tuple[Node, Node]) -> None:
    initiator, responder = pair(*nodes)
    challenge = responder.on_hello(initiator.hello(), now=0)
    with pytest.raises(handshake.HandshakeError):
        responder.on_response({"type": "response", "signature": challenge["signature"]}, now=1)


def test_stale_response_is_refused(nodes: tuple[Node, Node]) -> None:
    initiator, responder = pair(*nodes)
    response = initiator.on_challenge(responder.on_hello(initiator.hello(), now=0))
    with pytest.raises(handshake.HandshakeError) as caught:
        responder.on_response(response, now=handshake.CHALLENGE_TIMEOUT_SECONDS + 0.1)
    assert caught.value.code == "stale_challenge"


def test_answer_from_another_node_is_refused(nodes: tuple[Node, Node]) -> None:
    client, server = nodes
    impostor = Node("c")
    initiator, _ = pair(client, server)
    _, impostor_responder = pair(client, impostor)
    challenge = impostor_responder.on_hello(initiator.hello(), now=0)
    with pytest.raises(handshake.HandshakeError) as caught:
        initiator.on_challenge(challenge)
    assert caught.value.code == "unexpected_node"
    challenge["node_id"] = server.node_id  # lying about who answers breaks the signature instead
    with pytest.raises(handshake.HandshakeError) as caught:
        initiator.on_challenge(challenge)
    assert caught.value.code == "bad_signature"


def test_hello_for_another_node_id_is_refused(nodes: tuple[Node, Node]) -> None:
    initiator, responder = pair(*nodes)
    hello = initiator.hello()
    hello["node_id"] = Node("c").node_id
    with pytest.raises(handshake.HandshakeError) as caught:
        responder.on_hello(hello, now=0)
    assert caught.value.code == "node_id_mismatch"


def test_client_certificate_must_match_its_manifest_pin(nodes: tuple[Node, Node]) -> None:
    initiator, responder = pair(*nodes, seen_client_cert="sha256:" + "f" * 64)
    with pytest.raises(handshake.HandshakeError) as caught:
        responder.on_hello(initiator.hello(), now=0)
    assert caught.value.code == "certificate_mismatch"


@pytest.mark.parametrize(("versions", "code"), [(["accord/0"], "unsupported_version"), ("accord/1", "malformed")])
def test_downgrade_or_garbage_versions_are_refused(nodes: tuple[Node, Node], versions: Any, code: str) -> None:
    initiator, responder = pair(*nodes)
    hello = dict(initiator.hello(), versions=versions)
    with pytest.raises(handshake.HandshakeError) as caught:
        responder.on_hello(hello, now=0)
    assert caught.value.code == code


def test_server_cannot_pick_a_version_the_client_did_not_offer(nodes: tuple[Node, Node]) -> None:
    initiator, responder = pair(*nodes)
    challenge = dict(responder.on_hello(initiator.hello(), now=0), version="accord/0")
    with pytest.raises(handshake.HandshakeError) as caught:
        initiator.on_challenge(challenge)
    assert caught.value.code == "unsupported_version"


def test_expired_manifest_in_hello_is_refused(nodes: tuple[Node, Node]) -> None:
    client, server = nodes
    client.manifest = manifest.build_manifest(
        key=client.key,
        display_name="a",
        endpoints={},
        capabilities=[],
        compliance_modes=[],
        tls_cert_fingerprint=client.cert,
        issued_at=NOW - dt.timedelta(days=3),
        ttl=dt.timedelta(hours=1),
    )
    initiator, responder = pair(client, server)
    with pytest.raises(handshake.HandshakeError) as caught:
        responder.on_hello(initiator.hello(), now=0)
    assert caught.value.code == "manifest_expired"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda m: m.pop("challenge"),
        lambda m: m.update(challenge="c2hvcnQ="),
        lambda m: m.update(ephemeral_key=123),
        lambda m: m.update(type="other"),
        lambda m: m.pop("manifest"),
    ],
)
def test_malformed_hello_is_refused(nodes: tuple[Node, Node], mutate: Any) -> None:
    initiator, responder = pair(*nodes)
    hello = copy.deepcopy(initiator.hello())
    mutate(hello)
    with pytest.raises(handshake.HandshakeError):
        responder.on_hello(hello, now=0)


def test_heartbeat_mac_detects_tampering() -> None:
    key = b"k" * 32
    fields = {"type": "heartbeat", "session_id": "s", "seq": 1}
    mac = handshake.heartbeat_mac(key, fields)
    assert handshake.check_mac(key, fields, mac)
    assert not handshake.check_mac(key, {**fields, "seq": 2}, mac)
    assert not handshake.check_mac(b"x" * 32, fields, mac)
    assert not handshake.check_mac(key, fields, None)


def test_handshake_vector_is_reproduced_byte_for_byte() -> None:
    import json
    from pathlib import Path

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    vector = json.loads((Path(__file__).parent / "vectors" / "handshake-v1.json").read_text())
    client_key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(vector["client_identity_seed_hex"]))
    server_key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(vector["server_identity_seed_hex"]))
    client_eph = X25519PrivateKey.from_private_bytes(bytes.fromhex(vector["client_ephemeral_private_hex"]))
    server_eph = X25519PrivateKey.from_private_bytes(bytes.fromhex(vector["server_ephemeral_private_hex"]))
    transcript = handshake.Transcript(
        version=vector["version"],
        offered_versions=tuple(vector["offered_versions"]),
        client_node_id=crypto.derive_node_id(crypto.public_key_raw(client_key)),
        server_node_id=crypto.derive_node_id(crypto.public_key_raw(server_key)),
        client_challenge=bytes.fromhex(vector["client_challenge_hex"]),
        server_challenge=bytes.fromhex(vector["server_challenge_hex"]),
        client_ephemeral=client_eph.public_key().public_bytes_raw(),
        server_ephemeral=server_eph.public_key().public_bytes_raw(),
        client_cert_fingerprint=vector["client_cert_fingerprint"],
        server_cert_fingerprint=vector["server_cert_fingerprint"],
    )
    assert transcript.client_node_id == vector["client_node_id"]
    assert transcript.signing_bytes("server").decode() == vector["server_signing_input"]
    assert transcript.signing_bytes("client").decode() == vector["client_signing_input"]
    assert handshake.sign_transcript(server_key, transcript, "server") == vector["server_signature"]
    assert handshake.sign_transcript(client_key, transcript, "client") == vector["client_signature"]
    assert transcript.session_id() == vector["session_id"]
    mac_key = handshake.derive_mac_key(client_eph, transcript.server_ephemeral, transcript)
    assert mac_key == handshake.derive_mac_key(server_eph, transcript.client_ephemeral, transcript)
    assert mac_key.hex() == vector["session_mac_key_hex"]
    heartbeat = dict(vector["heartbeat"])
    assert handshake.heartbeat_mac(mac_key, {k: v for k, v in heartbeat.items() if k != "mac"}) == heartbeat["mac"]
