"""Hostile handshakes against a real node over real mutual TLS: each refused with a reason
code and an audit event, and none changes the stored trust of anyone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from federation import crypto
from tests.conftest import node_environments
from tests.peering import Impostor, RunningNode, new_node

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    with node_environments(tmp_path_factory.mktemp("server")) as make:
        node = new_node(
            make, "server", FEDERATION_HANDSHAKE_TIMEOUT_SECONDS="1", FEDERATION_HANDSHAKE_RATE_LIMIT="1000"
        ).start()
        yield node
        node.stop()


@pytest.fixture(scope="module")
def impostor(tmp_path_factory: pytest.TempPathFactory) -> Impostor:
    return Impostor(tmp_path_factory.mktemp("impostor") / "home")


def refused(answers: list[dict[str, Any]]) -> str:
    assert answers, "the server closed without saying why"
    assert answers[-1]["type"] == "error", answers[-1]
    return answers[-1]["code"]


def test_honest_impostor_identity_can_complete_a_handshake(server: RunningNode, impostor: Impostor) -> None:
    """Control case: the same client, behaving, succeeds — so each refusal below is the server's
    reaction to the one thing that case changes."""
    initiator = impostor.initiator(server)
    answers = impostor.converse(server, [initiator.hello(), initiator.on_challenge])
    assert answers[-1]["type"] == "established"
    assert answers[-1]["session_id"] == initiator.transcript.session_id()


def test_wrong_key_signs_the_challenge(server: RunningNode, impostor: Impostor) -> None:
    initiator = impostor.initiator(server, signing_key=crypto.generate_signing_key())
    assert refused(impostor.converse(server, [initiator.hello(), initiator.on_challenge])) == "bad_signature"


def test_replayed_challenge_response(server: RunningNode, impostor: Impostor) -> None:
    initiator = impostor.initiator(server)
    hello = initiator.hello()
    recorded: dict[str, Any] = {}

    def respond_and_record(challenge: dict[str, Any]) -> dict[str, Any]:
        recorded["response"] = initiator.on_challenge(challenge)
        return recorded["response"]

    impostor.converse(server, [hello, respond_and_record])
    replay = impostor.converse(server, [hello, recorded["response"]])
    assert refused(replay) == "bad_signature"


def test_response_for_another_node_id(server: RunningNode, impostor: Impostor) -> None:
    initiator = impostor.initiator(server)
    hello = {**initiator.hello(), "node_id": server.node_id}
    assert refused(impostor.converse(server, [hello])) == "node_id_mismatch"


def test_stale_challenge(server: RunningNode, impostor: Impostor) -> None:
    initiator = impostor.initiator(server)
    answers = impostor.converse(server, [initiator.hello(), initiator.on_challenge], pause=1.5)
    assert refused(answers) == "stale_challenge"


def test_certificate_not_matching_the_manifest_pin(server: RunningNode, impostor: Impostor, tmp_path: Path) -> None:
    initiator = impostor.initiator(server)
    other = impostor.ssl_context(other_certificate_dir=tmp_path)
    assert refused(impostor.converse(server, [initiator.hello()], context=other)) == "certificate_mismatch"


def test_no_client_certificate(server: RunningNode, impostor: Impostor) -> None:
    from federation.handshake import HandshakeError

    with pytest.raises(HandshakeError) as caught:
        impostor.converse(server, [{"type": "manifest_request"}], context=impostor.ssl_context(certificate=False))
    assert "403" in str(caught.value)
    assert any(e["details"]["reason"] == "no_client_certificate" for e in server.audit("handshake.failed"))


@pytest.mark.parametrize(
    ("issued", "ttl", "code"),
    [
        (dt.timedelta(days=-3), dt.timedelta(hours=1), "manifest_expired"),
        (dt.timedelta(days=2), dt.timedelta(hours=1), "manifest_not_yet_valid"),
    ],
)
def test_expired_or_future_dated_manifest(
    server: RunningNode, impostor: Impostor, issued: dt.timedelta, ttl: dt.timedelta, code: str
) -> None:
    own = impostor.manifest(issued_at=dt.datetime.now(dt.UTC) + issued, ttl=ttl)
    initiator = impostor.initiator(server, own_manifest=own)
    assert refused(impostor.converse(server, [initiator.hello()])) == code


def test_downgrade_to_an_unsupported_version(server: RunningNode, impostor: Impostor) -> None:
    initiator = impostor.initiator(server)
    hello = {**initiator.hello(), "versions": ["accord/0"]}
    assert refused(impostor.converse(server, [hello])) == "unsupported_version"


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("x" * (70 * 1024), "oversized"),
        ("{not json", "malformed"),
        ("[1, 2]", "malformed"),
        ({"type": "launch_missiles"}, "unknown_type"),
        ({"type": "response", "signature": "AAAA"}, "unexpected_message"),
        ({"type": "heartbeat", "session_id": "nope", "seq": 1, "sent_at": "x", "mac": "00"}, "unknown_session"),
    ],
)
def test_oversized_malformed_and_out_of_order_frames(
    server: RunningNode, impostor: Impostor, frame: Any, code: str
) -> None:
    assert refused(impostor.converse(server, [frame])) == code


def test_refusals_are_audited_and_grant_nothing(server: RunningNode, impostor: Impostor) -> None:
    reasons = {event["details"]["reason"] for event in server.audit("handshake.failed")}
    expected = {
        "bad_signature",
        "node_id_mismatch",
        "stale_challenge",
        "certificate_mismatch",
        "manifest_expired",
        "manifest_not_yet_valid",
        "unsupported_version",
        "oversized",
        "malformed",
        "unknown_type",
        "no_client_certificate",
    }
    assert expected <= reasons
    # Only the control case's successful handshake made the impostor VERIFIED; nothing above it.
    tiers = {peer["node_id"]: peer["trust_tier"] for peer in server.peers()}
    assert set(tiers.values()) <= {"VERIFIED"}
    assert server.cli("audit", "verify")["ok"]


def test_a_flood_of_handshakes_from_one_address_is_rate_limited(make_node_env: Any, tmp_path: Path) -> None:
    from federation.handshake import HandshakeError

    node = new_node(make_node_env, "limited", FEDERATION_HANDSHAKE_RATE_LIMIT="5").start()
    flooder = Impostor(tmp_path / "flooder")
    try:
        outcomes = []
        for _ in range(8):
            try:
                answers = flooder.converse(node, [{"type": "manifest_request"}])
                outcomes.append(answers[-1]["type"])
            except HandshakeError as exc:
                outcomes.append(exc.code)
        assert outcomes[:5] == ["manifest"] * 5
        assert outcomes[5:] == ["unreachable"] * 3  # refused at connect (HTTP 403)
        assert {e["details"]["reason"] for e in node.audit("handshake.failed")} == {"rate_limited"}
    finally:
        node.stop()


def test_heartbeats_are_authenticated_bound_to_the_certificate_and_never_replayed(
    server: RunningNode, impostor: Impostor, tmp_path: Path
) -> None:
    from federation import handshake

    initiator = impostor.initiator(server)
    established = impostor.converse(server, [initiator.hello(), initiator.on_challenge])[-1]
    fields = {"type": "heartbeat", "session_id": established["session_id"], "seq": 1, "sent_at": "2026-01-01T00:00:00Z"}
    beat = {**fields, "mac": handshake.heartbeat_mac(initiator.mac_key, fields)}
    ack = impostor.converse(server, [beat])[-1]
    assert ack["type"] == "heartbeat_ack" and ack["seq"] == 1
    assert handshake.check_mac(initiator.mac_key, {k: v for k, v in ack.items() if k != "mac"}, ack["mac"])
    assert refused(impostor.converse(server, [beat])) == "replayed"
    forged = {**fields, "seq": 2, "mac": handshake.heartbeat_mac(b"\0" * 32, {**fields, "seq": 2})}
    assert refused(impostor.converse(server, [forged])) == "bad_mac"
    stolen_context = impostor.ssl_context(other_certificate_dir=tmp_path)
    fields3 = {**fields, "seq": 3}
    hijack = {**fields3, "mac": handshake.heartbeat_mac(initiator.mac_key, fields3)}
    assert refused(impostor.converse(server, [hijack], context=stolen_context)) == "certificate_mismatch"
    assert server.audit("session.hijack_refused")
    assert server.audit("session.hmac_failed")
