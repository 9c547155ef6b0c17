"""Two real nodes: join, VERIFIED both ways, heartbeats, a peer going down and coming back."""

from __future__ import annotations

from typing import Any

import pytest

from tests.peering import new_node
from tests.test_e2e_node import wait_for as wait_until

pytestmark = pytest.mark.e2e
HEARTBEAT = 1  # seconds, so that "unhealthy after 3 missed" is observable in a test


def session_of(node: Any, peer_id: str) -> dict[str, Any] | None:
    for peer in node.peers():
        if peer["node_id"] == peer_id and peer["sessions"]:
            return {**peer["sessions"][0], "trust_tier": peer["trust_tier"]}
    return None


def test_two_nodes_join_keep_a_session_alive_and_recover_after_a_restart(make_node_env: Any) -> None:
    env = {"FEDERATION_SESSION_HEARTBEAT_SECONDS": str(HEARTBEAT)}
    a = new_node(make_node_env, "alpha", **env).start()
    b = new_node(make_node_env, "beta", **env).start()
    try:
        joined = a.cli("join", b.base)
        assert joined["peer"]["node_id"] == b.node_id
        assert joined["peer"]["trust_tier"] == "VERIFIED"
        assert joined["session"]["state"] == "active"

        on_b = session_of(b, a.node_id)
        assert on_b is not None and on_b["trust_tier"] == "VERIFIED" and on_b["role"] == "responder"
        assert on_b["session_id"] == joined["session"]["session_id"]  # both sides derived the same id

        alive = wait_until(
            lambda: (s := session_of(a, b.node_id)) and s["heartbeats_ok"] >= 3 and s,
            30,
            "three acknowledged heartbeats",
        )
        assert alive["state"] == "active" and alive["last_latency_ms"] > 0
        assert a.cli("status")["sessions"]["active"] == 1

        assert b.stop() == 0
        unhealthy = wait_until(
            lambda: (s := session_of(a, b.node_id)) and s["state"] == "unhealthy" and s,
            3 * HEARTBEAT + 20,
            "A to mark the session unhealthy",
        )
        assert unhealthy["missed_heartbeats"] >= 3

        b.start()
        wait_until(
            lambda: (s := session_of(a, b.node_id)) and s["state"] == "active",
            30,
            "A to re-establish the session by itself",
        )
        assert [e["action"] for e in a.audit("session.recovered")]

        left = a.cli("leave")
        assert "ended" in left, left
        assert [r["notice"] for r in left["ended"]] == ["notified"]
        wait_until(lambda: session_of(b, a.node_id) is None, 10, "B to end the session on A's notice")
        assert b.audit("session.ended")[0]["details"]["reason"] == "peer_left"
        for node in (a, b):
            assert node.cli("audit", "verify")["ok"]
    finally:
        for node in (a, b):
            if node.proc is not None:
                node.stop()


def test_join_by_wss_endpoint_fetches_the_manifest_over_the_same_connection(make_node_env: Any) -> None:
    a = new_node(make_node_env, "alpha").start()
    b = new_node(make_node_env, "beta").start()
    try:
        joined = a.cli("join", b.federation_url)
        assert joined["peer"]["node_id"] == b.node_id
        assert joined["peer"]["trust_tier"] == "VERIFIED"
    finally:
        a.stop()
        b.stop()


def test_nodes_find_each_other_with_dns_sd_and_record_each_other_untrusted(make_node_env: Any) -> None:
    # Loopback only: the test must not announce anything on a real network.
    env = {"FEDERATION_DNSSD": "true", "FEDERATION_DNSSD_INTERFACES": "127.0.0.1"}
    a = new_node(make_node_env, "alpha", **env).start()
    b = new_node(make_node_env, "beta", **env).start()
    try:
        for finder, found in ((a, b), (b, a)):
            peer = wait_until(
                lambda finder=finder, found=found: next(
                    (p for p in finder.peers() if p["node_id"] == found.node_id), None
                ),
                30,
                "DNS-SD discovery",
            )
            assert peer["discovered_via"] == "dnssd"
            assert peer["trust_tier"] == "UNTRUSTED"
            assert peer["sessions"] == []
    finally:
        a.stop()
        b.stop()


def test_a_peer_that_forgot_the_session_gets_a_new_handshake_without_operator_action(make_node_env: Any) -> None:
    env = {"FEDERATION_SESSION_HEARTBEAT_SECONDS": str(HEARTBEAT)}
    a = new_node(make_node_env, "alpha", **env).start()
    b = new_node(make_node_env, "beta", **env)
    b.env["FEDERATION_FEDERATION_PORT"] = str(b.port + 1)  # explicit, as --federation-port would set it
    b.start()
    try:
        first = a.cli("join", b.base)["session"]["session_id"]
        assert b.cli("peers", "remove", a.node_id)["removed"] == a.node_id  # B forgets A and the session
        renewed = wait_until(
            lambda: (s := session_of(a, b.node_id)) and s["session_id"] != first and s["state"] == "active" and s,
            30,
            "A to hand-shake again after B answered unknown_session",
        )
        on_b = session_of(b, a.node_id)
        assert on_b is not None and on_b["session_id"] == renewed["session_id"] and on_b["trust_tier"] == "VERIFIED"
        assert any(e["details"]["reason"] == "renewed" for e in a.audit("session.ended"))
    finally:
        a.stop()
        b.stop()
