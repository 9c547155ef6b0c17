"""Discovery (static and registry), the peers API and admin — in-process with real HTTP."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag

from compliance.models import AuditEvent
from federation import crypto, handshake, manifest
from federation import services as node_services
from peers import services
from peers.models import Peer, RegistryManifest, Session, SessionRole, TrustTier

pytestmark = pytest.mark.django_db


def foreign_manifest(*, issued_at: dt.datetime | None = None, name: str = "remote", **overrides: Any) -> dict:
    document = manifest.build_manifest(
        key=crypto.generate_signing_key(),
        display_name=name,
        endpoints={"base_url": "http://127.0.0.1:1", "federation": "wss://127.0.0.1:2/federation/v1"},
        capabilities=[],
        compliance_modes=[],
        tls_cert_fingerprint="sha256:" + "ab" * 32,
        issued_at=issued_at or dt.datetime.now(dt.UTC),
        ttl=dt.timedelta(hours=1),
    )
    return {**document, **overrides}


@pytest.fixture
def serve_json() -> Iterator[Any]:
    """A real HTTP server on loopback that answers every GET with the document we give it."""
    servers = []

    def start(document: Any, port: int = 0) -> str:
        body = json.dumps(document).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()


@pytest.mark.django_db(transaction=True)  # the callback closes its connection, as in its own thread
def test_dns_sd_retries_a_node_not_listening_yet_but_never_a_bad_manifest(serve_json: Any) -> None:
    from peers import dnssd

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    document = foreign_manifest()
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:  # the node's web process starts listening after two failed fetches
            serve_json(document, port=port)

    dnssd.found_callback(delays=(0.5, 1.0, 2.0), sleep=sleep)(f"http://127.0.0.1:{port}")
    assert waits == [0.5, 1.0]
    assert Peer.objects.get(node_id=document["node_id"]).discovered_via == "dnssd"

    waits.clear()
    dnssd.found_callback(delays=(0.5, 1.0), sleep=sleep)(serve_json({"not": "a manifest"}))
    assert waits == []  # refused at once: retrying cannot make a bad manifest good
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nobody = probe.getsockname()[1]
    dnssd.found_callback(delays=(0.5, 1.0), sleep=waits.append)(f"http://127.0.0.1:{nobody}")
    assert waits == [0.5, 1.0]  # then gives up
    assert Peer.objects.count() == 1


def test_static_peer_is_added_untrusted_with_its_verified_manifest(serve_json: Any) -> None:
    document = foreign_manifest()
    peer = services.add_peer(endpoint=serve_json(document))
    assert peer.trust_tier == TrustTier.UNTRUSTED
    assert peer.node_id == document["node_id"] and peer.manifest == document
    assert peer.federation_url == "wss://127.0.0.1:2/federation/v1"
    assert AuditEvent.objects.filter(action="peer.discovered", subject=peer.node_id).exists()


@pytest.mark.parametrize(
    ("document", "code"),
    [
        (lambda: {**foreign_manifest(), "display_name": "tampered"}, "manifest_bad_signature"),
        (lambda: foreign_manifest(issued_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=2)), "manifest_expired"),
        (lambda: foreign_manifest(issued_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=2)), "manifest_not_yet_valid"),
        (lambda: {**foreign_manifest(), "node_id": "a" * 32}, "manifest_bad_signature"),
        (lambda: ["not", "an", "object"], "manifest_malformed"),
    ],
)
def test_bad_manifests_are_refused_audited_and_store_nothing(serve_json: Any, document: Any, code: str) -> None:
    with pytest.raises(services.PeerError) as caught:
        services.add_peer(endpoint=serve_json(document()))
    assert caught.value.code == code
    assert not Peer.objects.exists()
    assert AuditEvent.objects.filter(
        action="peer.manifest_refused", details__reason=code.removeprefix("manifest_")
    ).exists()


def test_unreachable_peer_is_a_clear_error() -> None:
    from tests.conftest import free_port

    with pytest.raises(services.PeerError) as caught:
        services.add_peer(endpoint=f"http://127.0.0.1:{free_port()}")
    assert caught.value.code == "unreachable"


def test_rediscovery_updates_the_manifest_but_never_the_trust_tier(serve_json: Any) -> None:
    key = crypto.generate_signing_key()
    build = lambda when, name: manifest.build_manifest(  # noqa: E731
        key=key,
        display_name=name,
        endpoints={},
        capabilities=[],
        compliance_modes=[],
        tls_cert_fingerprint="sha256:" + "cd" * 32,
        issued_at=when,
        ttl=dt.timedelta(hours=2),
    )
    now = dt.datetime.now(dt.UTC)
    peer = services.add_peer(endpoint=serve_json(build(now - dt.timedelta(minutes=30), "old name")))
    Peer.objects.filter(pk=peer.pk).update(trust_tier=TrustTier.VERIFIED)
    services.add_peer(endpoint=serve_json(build(now, "new name")))
    services.add_peer(endpoint=serve_json(build(now - dt.timedelta(minutes=50), "older still")))  # ignored
    peer.refresh_from_db()
    assert peer.display_name == "new name"
    assert peer.trust_tier == TrustTier.VERIFIED


def test_registry_accepts_only_valid_manifests(client: Any) -> None:
    good = foreign_manifest()
    assert client.post("/api/v1/registry/manifests", good, content_type="application/json").status_code == 201
    forged = {**foreign_manifest(), "display_name": "forged"}
    response = client.post("/api/v1/registry/manifests", forged, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_signature"
    expired = foreign_manifest(issued_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=2))
    assert (
        client.post("/api/v1/registry/manifests", expired, content_type="application/json").json()["error"]["code"]
        == "expired"
    )
    malformed = client.post("/api/v1/registry/manifests", "{oops", content_type="application/json")
    assert malformed.status_code == 400
    listed = client.get("/api/v1/registry/manifests").json()["manifests"]
    assert [m["node_id"] for m in listed] == [good["node_id"]]
    assert AuditEvent.objects.filter(action="registry.refused").count() == 2


def test_registry_keeps_the_newest_manifest_per_node(client: Any) -> None:
    key = crypto.generate_signing_key()
    now = dt.datetime.now(dt.UTC)

    def build(when: dt.datetime) -> dict:
        return manifest.build_manifest(
            key=key,
            display_name="n",
            endpoints={},
            capabilities=[],
            compliance_modes=[],
            tls_cert_fingerprint="sha256:00",
            issued_at=when,
            ttl=dt.timedelta(hours=2),
        )

    client.post("/api/v1/registry/manifests", build(now), content_type="application/json")
    stale = client.post(
        "/api/v1/registry/manifests", build(now - dt.timedelta(minutes=5)), content_type="application/json"
    )
    assert stale.json()["error"]["code"] == "stale"
    assert RegistryManifest.objects.get().issued_at == manifest.parse_time(manifest.format_time(now))


def test_discovery_from_a_registry_verifies_every_entry_again(serve_json: Any) -> None:
    good = foreign_manifest(name="listed")
    forged = {**foreign_manifest(), "display_name": "forged"}
    own = node_services.current_manifest()
    found = services.discover_from_registry(registry_url=serve_json({"manifests": [good, forged, own]}))
    assert [p.node_id for p in found] == [good["node_id"]]
    assert Peer.objects.get().discovered_via == "registry"


def make_session(peer: Peer, **fields: Any) -> Session:
    transcript = handshake.Transcript(
        "accord/1", ("accord/1",), "c", "s", b"1" * 32, b"2" * 32, b"3" * 32, b"4" * 32, "x", "y"
    )
    session_id = transcript.session_id() + str(Session.objects.count())
    return Session.objects.create(
        peer=peer,
        session_id=session_id,
        role=SessionRole.INITIATOR,
        protocol_version="accord/1",
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
        mac_key_encrypted=services.seal_mac_key(session_id, b"k" * 32),
        **fields,
    )


def test_session_keys_are_sealed_at_rest_and_bound_to_their_session(serve_json: Any) -> None:
    peer = services.add_peer(endpoint=serve_json(foreign_manifest()))
    session = make_session(peer)
    assert b"k" * 32 not in bytes(session.mac_key_encrypted)
    assert services.open_mac_key(session) == b"k" * 32
    other = make_session(peer)
    other.mac_key_encrypted = session.mac_key_encrypted  # moved to another row: no longer opens
    with pytest.raises(InvalidTag):
        services.open_mac_key(other)


def test_peers_api_lists_peers_with_sessions_without_n_plus_one(
    api: Any, auditor: Any, token_for: Any, serve_json: Any, django_assert_num_queries: Any
) -> None:
    from django.contrib.auth.models import Permission

    auditor.user_permissions.add(Permission.objects.get(codename="view_peer"))
    token = token_for(auditor)
    for i in range(6):
        make_session(services.add_peer(endpoint=serve_json(foreign_manifest(name=f"p{i}"))))
    api.get("/api/v1/peers", HTTP_AUTHORIZATION=f"Bearer {token}")
    with django_assert_num_queries(6):  # token, 2 permission lookups, count, peers, their sessions
        body = api.get("/api/v1/peers", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert body["count"] == 6
    assert all(len(p["sessions"]) == 1 and p["trust_tier"] == "UNTRUSTED" for p in body["results"])
    assert api.get("/api/v1/peers").status_code == 401


def test_remove_peer_ends_its_sessions_and_is_audited(serve_json: Any) -> None:
    peer = services.add_peer(endpoint=serve_json(foreign_manifest()))
    make_session(peer)
    services.remove_peer(node_id=peer.node_id, actor="test")
    assert not Session.objects.exists()
    assert AuditEvent.objects.get(action="peer.removed").details["sessions"] == 1
    with pytest.raises(services.PeerError):
        services.remove_peer(node_id=peer.node_id, actor="test")


@pytest.mark.parametrize("url", ["/admin/peers/peer/", "/admin/peers/session/", "/admin/peers/registrymanifest/"])
def test_peer_admin_pages_render_with_bounded_queries(
    client: Any, superuser: Any, serve_json: Any, url: str, django_assert_max_num_queries: Any
) -> None:
    client.force_login(superuser)
    for i in range(3):
        make_session(services.add_peer(endpoint=serve_json(foreign_manifest(name=f"p{i}"))))
    client.get(url)
    with django_assert_max_num_queries(12) as few:
        assert client.get(url).status_code == 200
    for i in range(5):
        make_session(services.add_peer(endpoint=serve_json(foreign_manifest(name=f"q{i}"))))
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200
    peer = Peer.objects.first()
    assert client.get(f"/admin/peers/peer/{peer.pk}/change/").status_code == 200


def test_admin_adds_a_peer_from_its_url_after_verifying_it(client: Any, superuser: Any, serve_json: Any) -> None:
    client.force_login(superuser)
    assert "Add peer by URL" in client.get("/admin/peers/peer/").content.decode()
    forged = client.post(
        "/admin/peers/peer/add-by-url/", {"url": serve_json({**foreign_manifest(), "display_name": "x"})}
    )
    assert forged.status_code == 200 and "bad_signature" in forged.content.decode()
    assert not Peer.objects.exists()
    document = foreign_manifest(name="from-admin")
    response = client.post("/admin/peers/peer/add-by-url/", {"url": serve_json(document)})
    peer = Peer.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/admin/peers/peer/{peer.pk}/change/")
    assert peer.display_name == "from-admin" and peer.trust_tier == TrustTier.UNTRUSTED


def test_admin_add_by_url_needs_the_add_permission(client: Any, stranger: Any) -> None:
    stranger.is_staff = True
    stranger.save()
    client.force_login(stranger)
    assert client.get("/admin/peers/peer/add-by-url/").status_code == 403
