"""Discovery, the handshake, and sessions with peers — the writes of the peers app."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from compliance.models import Outcome
from compliance.services import record_event
from federation import crypto, handshake, home, manifest, tls
from federation.services import current_manifest, get_identity
from peers import client
from peers.models import (
    LIVE_SESSION_STATES,
    DiscoveredVia,
    Peer,
    PeerState,
    RegistryManifest,
    Session,
    SessionRole,
    SessionState,
    TrustTier,
)
from trust import services as trust

MISSED_BEFORE_UNHEALTHY = 3
PEER_EVICTED = "PEER_EVICTED"


class PeerError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# --- discovery -------------------------------------------------------------------------------


def manifest_url(endpoint: str) -> str:
    if endpoint.endswith(".json"):
        return endpoint
    return endpoint.rstrip("/") + "/.well-known/federation/manifest.json"


def fetch_manifest(endpoint: str) -> dict[str, Any]:
    url = manifest_url(endpoint)
    try:
        with httpx.stream("GET", url, timeout=10.0, follow_redirects=False) as response:
            if response.status_code != 200:
                raise PeerError("fetch_failed", f"{url} answered HTTP {response.status_code}")
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > manifest.MAX_MANIFEST_BYTES:
                    raise PeerError("too_large", f"{url} sent more than {manifest.MAX_MANIFEST_BYTES} bytes")
    except httpx.HTTPError as exc:
        raise PeerError("unreachable", f"cannot fetch {url}: {exc}") from exc
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise PeerError("malformed", f"{url} did not return JSON") from exc
    return document


def verified_or_refused(document: Any, *, refusal_action: str, subject: str, code_prefix: str = "") -> Any:
    """Verify a manifest, or audit the refusal (outside any transaction) and raise PeerError."""
    try:
        return manifest.verify_manifest(document, now=timezone.now())
    except manifest.ManifestError as exc:
        record_event(
            action=refusal_action,
            outcome=Outcome.DENIED,
            subject=subject[:200],
            details={"reason": exc.code, "message": str(exc)[:300]},
        )
        raise PeerError(f"{code_prefix}{exc.code}", str(exc)) from exc


def verify_peer_manifest(document: Any, *, source: str) -> manifest.VerifiedManifest:
    """Verify, or refuse with an audit event naming the reason."""
    verified = verified_or_refused(
        document, refusal_action="peer.manifest_refused", subject=source, code_prefix="manifest_"
    )
    if verified.node_id == get_identity().node_id:
        raise PeerError("self", "that manifest is this node's own")
    return verified


@transaction.atomic
def upsert_peer(verified: manifest.VerifiedManifest, *, via: str) -> Peer:
    """Record a peer from a verified manifest. Never changes its trust tier."""
    document = verified.document
    fields = {
        "display_name": str(document.get("display_name", ""))[:200],
        "public_key": document["public_key"],
        "base_url": str(document["endpoints"].get("base_url", ""))[:300],
        "federation_url": str(document["endpoints"].get("federation", ""))[:300],
        "tls_fingerprint": document["tls_cert_fingerprint"],
        "manifest": document,
        "manifest_expires_at": verified.expires_at,
    }
    peer = Peer.objects.select_for_update().filter(node_id=verified.node_id).first()
    if peer is None:
        peer = Peer.objects.create(node_id=verified.node_id, discovered_via=via, **fields)
        record_event(
            action="peer.discovered",
            subject=peer.node_id,
            details={"via": via, "tls_fingerprint": peer.tls_fingerprint, "tier": peer.trust_tier},
        )
        return peer
    if manifest.parse_time(document["issued_at"]) >= manifest.parse_time(peer.manifest["issued_at"]):
        changed = [name for name, value in fields.items() if getattr(peer, name) != value]
        for name in changed:
            setattr(peer, name, fields[name])
        if changed:
            peer.save(update_fields=[*changed, "updated_at"])
            if "tls_fingerprint" in changed or "public_key" in changed:
                record_event(action="peer.manifest_updated", subject=peer.node_id, details={"changed": sorted(changed)})
    return peer


def add_peer(*, endpoint: str, via: str = DiscoveredVia.STATIC) -> Peer:
    """Static discovery: fetch a peer's manifest from its base URL, verify it, record it."""
    document = fetch_manifest(endpoint)
    return upsert_peer(verify_peer_manifest(document, source=endpoint), via=via)


@transaction.atomic
def remove_peer(*, node_id: str, actor: str) -> None:
    peer = Peer.objects.select_for_update().filter(node_id=node_id).first()
    if peer is None:
        raise PeerError("unknown_peer", f"no peer {node_id}")
    record_event(
        action="peer.removed",
        actor=actor,
        subject=node_id,
        details={"tier": peer.trust_tier, "sessions": peer.sessions.count()},
    )
    peer.delete()


# --- session keys at rest ----------------------------------------------------------------------


@lru_cache(maxsize=4)
def _sealing_key(home_dir: Path) -> bytes:
    secret = home.load_secret(home_dir)
    if secret is None:
        raise home.SecretError("no node secret")
    return crypto.derive_subkey(secret, "session-key-encryption")


def seal_mac_key(session_id: str, mac_key: bytes) -> bytes:
    return crypto.seal(_sealing_key(Path(settings.FEDERATION_HOME)), mac_key, context=session_id.encode())


def open_mac_key(session: Session) -> bytes:
    return crypto.unseal(
        _sealing_key(Path(settings.FEDERATION_HOME)),
        bytes(session.mac_key_encrypted),
        context=session.session_id.encode(),
    )


# --- the handshake -------------------------------------------------------------------------------


def _session_expiry() -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=settings.FEDERATION_SESSION_TTL_SECONDS)


@transaction.atomic
def _store_session(
    *, peer: Peer, transcript: handshake.Transcript, mac_key: bytes, role: str, expires_at: dt.datetime
) -> Session:
    if peer.state == PeerState.EVICTED:
        raise handshake.HandshakeError(PEER_EVICTED, f"{peer.node_id} is evicted here: {peer.state_reason}")
    if peer.trust_tier < TrustTier.VERIFIED and not peer.demoted_for:  # a safety demotion holds
        peer.trust_tier = TrustTier.VERIFIED
        record_event(
            action="trust.changed",
            subject=peer.node_id,
            details={"from": TrustTier.UNTRUSTED.label, "to": TrustTier.VERIFIED.label, "reason": "handshake_verified"},
        )
    peer.last_seen_at, peer.last_error = timezone.now(), ""
    peer.save(update_fields=["trust_tier", "last_seen_at", "last_error", "updated_at"])
    session_id = transcript.session_id()
    session = Session.objects.create(
        peer=peer,
        session_id=session_id,
        role=role,
        protocol_version=transcript.version,
        expires_at=expires_at,
        mac_key_encrypted=seal_mac_key(session_id, mac_key),
        last_heartbeat_at=timezone.now(),
    )
    record_event(
        action="session.established",
        subject=peer.node_id,
        details={
            "session": session_id,
            "role": role,
            "version": transcript.version,
            "expires_at": expires_at.isoformat(),
        },
    )
    return session


def _record_failure(*, subject: str, code: str, message: str, direction: str, client_addr: str = "") -> None:
    record_event(
        action="handshake.failed",
        outcome=Outcome.DENIED,
        subject=subject[:200],
        details={"reason": code, "direction": direction, "message": message[:300], "client": client_addr},
    )
    Peer.objects.filter(node_id=subject).update(last_error=code[:64])


def join_peer(*, endpoint: str) -> Session:
    """`federation join`: fetch and verify the peer's manifest, hand-shake over mutual TLS, and
    hold a session. The peer becomes VERIFIED on success and stays as it was on failure."""
    identity = get_identity()
    own_manifest = current_manifest()
    server_manifest = None if endpoint.startswith("wss://") else fetch_manifest(endpoint)
    if server_manifest is not None:
        verified = verify_peer_manifest(server_manifest, source=endpoint)
        upsert_peer(verified, via=DiscoveredVia.STATIC)
        url = verified.document["endpoints"].get("federation", "")
    else:
        url = endpoint
    known = Peer.objects.filter(federation_url=url).first() if url else None
    if known is not None and known.state == PeerState.EVICTED:
        raise PeerError(PEER_EVICTED, f"{known.node_id} is evicted: reactivate it before joining again")

    def make_initiator(server: manifest.VerifiedManifest, pinned: str) -> handshake.Initiator:
        return handshake.Initiator.for_server(identity, own_manifest, server, pinned)

    try:
        verified, initiator, established = asyncio.run(
            client.handshake(
                url=url,
                context=tls.client_context(identity),
                server_manifest=server_manifest,
                make_initiator=make_initiator,
            )
        )
    except handshake.HandshakeError as exc:
        subject = server_manifest.get("node_id", endpoint) if isinstance(server_manifest, dict) else endpoint
        _record_failure(subject=str(subject), code=exc.code, message=str(exc), direction="outbound")
        raise PeerError(exc.code, str(exc)) from exc
    peer = upsert_peer(verified, via=DiscoveredVia.STATIC)
    if initiator.transcript is None or initiator.mac_key is None:  # on_challenge sets both
        raise PeerError("internal", "handshake ended without session keys")
    try:
        expires_at = dt.datetime.fromisoformat(str(established.get("expires_at")))
    except ValueError:
        expires_at = _session_expiry()
    return _store_session(
        peer=peer,
        transcript=initiator.transcript,
        mac_key=initiator.mac_key,
        role=SessionRole.INITIATOR,
        expires_at=min(expires_at, _session_expiry()),
    )


# --- the server side, called by peers.consumers ---------------------------------------------------


def new_responder(*, client_cert_fingerprint: str) -> handshake.Responder:
    identity = get_identity()
    return handshake.Responder(
        signing_key=identity.signing_key,
        node_id=identity.node_id,
        cert_fingerprint=identity.tls_fingerprint,
        client_cert_fingerprint=client_cert_fingerprint,
        verify_manifest=lambda document: manifest.verify_manifest(document, now=timezone.now()),
        timeout=float(settings.FEDERATION_HANDSHAKE_TIMEOUT_SECONDS),
    )


def complete_inbound_handshake(responder: handshake.Responder, transcript: handshake.Transcript) -> Session:
    if responder.mac_key is None:  # on_hello sets it
        raise PeerError("internal", "handshake ended without session keys")
    peer = upsert_peer(responder.client, via=DiscoveredVia.INBOUND)
    return _store_session(
        peer=peer,
        transcript=transcript,
        mac_key=responder.mac_key,
        role=SessionRole.RESPONDER,
        expires_at=_session_expiry(),
    )


def record_inbound_refusal(*, code: str, message: str, client_addr: str, node_id: str = "") -> None:
    _record_failure(
        subject=node_id or client_addr, code=code, message=message, direction="inbound", client_addr=client_addr
    )


# --- heartbeats ----------------------------------------------------------------------------------


def heartbeat_fields(session: Session, *, kind: str, seq: int, sent_at: str) -> dict[str, Any]:
    return {"type": kind, "session_id": session.session_id, "seq": seq, "sent_at": sent_at}


@dataclass(frozen=True)
class HeartbeatOutcome:
    session_id: str
    ok: bool
    code: str = ""
    latency_ms: float | None = None


def _demote_certificate_owner(fingerprint: str, session: Session) -> None:
    """A session used from another known peer's certificate is a hijack attempt by that peer."""
    for peer in Peer.objects.filter(tls_fingerprint=fingerprint):
        trust.demote(peer, code=trust.SESSION_HIJACK, details={"session": session.session_id})


def answer_heartbeat(message: dict[str, Any], *, client_cert_fingerprint: str) -> dict[str, Any]:
    """Server side: check session, pin, sequence and MAC; record liveness; return the ack."""
    session = Session.objects.select_related("peer").filter(session_id=str(message.get("session_id", ""))).first()
    if session is None:
        raise PeerError("unknown_session", "no such session")
    if not crypto.constant_time_equal(session.peer.tls_fingerprint, client_cert_fingerprint):
        record_event(
            action="session.hijack_refused",
            outcome=Outcome.DENIED,
            subject=session.peer.node_id,
            details={"session": session.session_id, "reason": "certificate_mismatch"},
        )
        _demote_certificate_owner(client_cert_fingerprint, session)
        raise PeerError("certificate_mismatch", "this session belongs to another certificate")
    if session.state in (SessionState.TERMINATED, SessionState.EXPIRED) or session.expires_at <= timezone.now():
        raise PeerError("session_expired", "session expired or terminated; hand-shake again")
    seq, sent_at = message.get("seq"), message.get("sent_at")
    if not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(sent_at, str):
        raise PeerError("malformed", "heartbeat needs integer seq and string sent_at")
    mac_key = open_mac_key(session)
    if not handshake.check_mac(
        mac_key, heartbeat_fields(session, kind="heartbeat", seq=seq, sent_at=sent_at), message.get("mac")
    ):
        Session.objects.filter(pk=session.pk).update(hmac_failures=F("hmac_failures") + 1)
        record_event(
            action="session.hmac_failed",
            outcome=Outcome.DENIED,
            subject=session.peer.node_id,
            details={"session": session.session_id},
        )
        trust.demote(session.peer, code=trust.HMAC_FAILURE, details={"session": session.session_id, "on": "heartbeat"})
        raise PeerError("bad_mac", "heartbeat MAC does not verify")
    now = timezone.now()
    was = session.state
    # Conditional update: of two copies of one heartbeat racing in, exactly one is accepted.
    accepted = Session.objects.filter(pk=session.pk, heartbeat_seq_received__lt=seq).update(
        heartbeat_seq_received=seq,
        last_heartbeat_at=now,
        missed_heartbeats=0,
        state=SessionState.ACTIVE,
        heartbeats_ok=F("heartbeats_ok") + 1,  # answered heartbeats count as uptime, not traffic
    )
    if not accepted:
        raise PeerError("replayed", f"heartbeat {seq} is not newer than the last one accepted")
    Peer.objects.filter(pk=session.peer_id).update(last_seen_at=now)
    if was == SessionState.UNHEALTHY:
        record_event(action="session.recovered", subject=session.peer.node_id, details={"session": session.session_id})
    ack_at = now.isoformat()
    fields = heartbeat_fields(session, kind="heartbeat_ack", seq=seq, sent_at=ack_at)
    return {**fields, "mac": handshake.heartbeat_mac(mac_key, fields)}


def _while_live(session: Session) -> Any:
    """The session's row, only while it is still live: a beat run that started before `leave`
    (or before another run ended it) must not revive, renew or re-end a finished session."""
    return Session.objects.filter(pk=session.pk, state__in=LIVE_SESSION_STATES)


def _mark_missed(session: Session, code: str) -> None:
    missed = session.missed_heartbeats + 1
    state = SessionState.UNHEALTHY if missed >= MISSED_BEFORE_UNHEALTHY else session.state
    if not _while_live(session).update(
        missed_heartbeats=missed, state=state, heartbeats_failed=F("heartbeats_failed") + 1
    ):
        return
    Peer.objects.filter(pk=session.peer_id).update(last_error=code[:64])
    if state == SessionState.UNHEALTHY and session.state != SessionState.UNHEALTHY:
        record_event(
            action="session.unhealthy",
            outcome=Outcome.FAILURE,
            subject=session.peer.node_id,
            details={"session": session.session_id, "missed": missed, "reason": code},
        )


async def _beat(session: Session, mac_key: bytes, seq: int, context: Any) -> HeartbeatOutcome:
    sent_at = timezone.now().isoformat()
    fields = heartbeat_fields(session, kind="heartbeat", seq=seq, sent_at=sent_at)
    try:
        answer, latency = await client.exchange(
            url=session.peer.federation_url,
            context=context,
            pinned=session.peer.tls_fingerprint,
            message={**fields, "mac": handshake.heartbeat_mac(mac_key, fields)},
        )
    except handshake.HandshakeError as exc:
        return HeartbeatOutcome(session.session_id, False, exc.code)
    expected = heartbeat_fields(session, kind="heartbeat_ack", seq=seq, sent_at=str(answer.get("sent_at")))
    if answer.get("seq") != seq or not handshake.check_mac(mac_key, expected, answer.get("mac")):
        return HeartbeatOutcome(session.session_id, False, "bad_mac")
    return HeartbeatOutcome(session.session_id, True, latency_ms=latency)


@transaction.atomic
def _next_heartbeat_seq(session: Session) -> int:
    """Persisted before sending, under a row lock: overlapping beat runs never reuse a number."""
    seq = Session.objects.select_for_update().values_list("heartbeat_seq_sent", flat=True).get(pk=session.pk) + 1
    Session.objects.filter(pk=session.pk).update(heartbeat_seq_sent=seq)
    return seq


def heartbeat_sessions() -> list[HeartbeatOutcome]:
    """Beat task: heartbeat every live session we initiated; renew or re-establish as needed."""
    now = timezone.now()
    sessions = list(
        Session.objects.select_related("peer").filter(role=SessionRole.INITIATOR, state__in=LIVE_SESSION_STATES)
    )
    if not sessions:
        expire_responder_sessions()
        return []
    identity = get_identity()
    context = tls.client_context(identity)
    due, renew = [], []
    for session in sessions:
        if session.expires_at - now < dt.timedelta(seconds=settings.FEDERATION_SESSION_TTL_SECONDS / 10):
            renew.append(session)
        else:
            due.append((session, open_mac_key(session), _next_heartbeat_seq(session)))

    async def run_all() -> list[HeartbeatOutcome]:
        return await asyncio.gather(*(_beat(s, key, seq, context) for s, key, seq in due))

    outcomes = asyncio.run(run_all()) if due else []
    by_id = {s.session_id: s for s, _, _ in due}
    for outcome in outcomes:
        session = by_id[outcome.session_id]
        if outcome.ok:
            _while_live(session).update(
                last_heartbeat_at=timezone.now(),
                missed_heartbeats=0,
                state=SessionState.ACTIVE,
                heartbeats_ok=F("heartbeats_ok") + 1,
                last_latency_ms=outcome.latency_ms,
                messages_sent=F("messages_sent") + 1,
            )
            Peer.objects.filter(pk=session.peer_id).update(last_seen_at=timezone.now(), last_error="")
            if session.state == SessionState.UNHEALTHY:
                record_event(
                    action="session.recovered", subject=session.peer.node_id, details={"session": session.session_id}
                )
        elif outcome.code in ("unknown_session", "session_expired"):
            renew.append(session)  # the peer forgot or ended it: hand-shake again
        else:
            _mark_missed(session, outcome.code)
    for session in renew:
        _renew(session)
    expire_responder_sessions()
    return outcomes


def _renew(session: Session) -> None:
    """Re-handshake with the peer; the old session ends only once a new one exists."""
    if not _while_live(session).exists():
        return  # ended meanwhile (e.g. `federation leave`): do not hand-shake again
    endpoint = session.peer.base_url or session.peer.federation_url
    try:
        join_peer(endpoint=endpoint)
    except PeerError as exc:
        _mark_missed(session, exc.code)
        return
    _end_session(session, state=SessionState.EXPIRED, reason="renewed")


def _end_session(session: Session, *, state: str, reason: str) -> None:
    if not _while_live(session).update(state=state, ended_at=timezone.now(), end_reason=reason):
        return
    record_event(
        action="session.ended",
        subject=session.peer.node_id,
        details={"session": session.session_id, "state": state, "reason": reason},
    )


def expire_responder_sessions() -> None:
    """Sessions peers opened to us: unhealthy when their heartbeats stop, expired after the TTL."""
    now = timezone.now()
    silence = dt.timedelta(seconds=settings.FEDERATION_SESSION_HEARTBEAT_SECONDS * MISSED_BEFORE_UNHEALTHY)
    live = Session.objects.select_related("peer").filter(state__in=LIVE_SESSION_STATES)
    for session in live.filter(expires_at__lte=now):
        _end_session(session, state=SessionState.EXPIRED, reason="ttl")
    for session in live.filter(
        role=SessionRole.RESPONDER, state=SessionState.ACTIVE, last_heartbeat_at__lt=now - silence
    ):
        Session.objects.filter(pk=session.pk).update(state=SessionState.UNHEALTHY)
        record_event(
            action="session.unhealthy",
            outcome=Outcome.FAILURE,
            subject=session.peer.node_id,
            details={"session": session.session_id, "reason": "heartbeats_stopped"},
        )


# --- leaving -------------------------------------------------------------------------------------


def terminate_fields(session: Session, sent_at: str) -> dict[str, Any]:
    return {"type": "session_terminate", "session_id": session.session_id, "sent_at": sent_at}


def answer_terminate(message: dict[str, Any], *, client_cert_fingerprint: str) -> dict[str, Any]:
    session = Session.objects.select_related("peer").filter(session_id=str(message.get("session_id", ""))).first()
    if session is None or not crypto.constant_time_equal(session.peer.tls_fingerprint, client_cert_fingerprint):
        raise PeerError("unknown_session", "no such session")
    fields = terminate_fields(session, str(message.get("sent_at")))
    if not handshake.check_mac(open_mac_key(session), fields, message.get("mac")):
        raise PeerError("bad_mac", "terminate MAC does not verify")
    if session.state not in (SessionState.TERMINATED, SessionState.EXPIRED):
        _end_session(session, state=SessionState.TERMINATED, reason="peer_left")
    return {"type": "session_terminated", "session_id": session.session_id}


def leave_federation(*, actor: str) -> list[dict[str, Any]]:
    """Send session-terminate to every peer we hold a live session with, then end them all."""
    sessions = list(Session.objects.select_related("peer").filter(state__in=LIVE_SESSION_STATES))
    results = []
    context = tls.client_context(get_identity()) if sessions else None

    async def notify(session: Session) -> str:
        fields = terminate_fields(session, timezone.now().isoformat())
        try:
            await client.exchange(
                url=session.peer.federation_url,
                context=context,
                pinned=session.peer.tls_fingerprint,
                message={**fields, "mac": handshake.heartbeat_mac(open_mac_key(session), fields)},
            )
        except handshake.HandshakeError as exc:
            return exc.code
        return "notified"

    async def notify_all() -> list[str]:
        return await asyncio.gather(*(notify(s) for s in sessions))

    outcomes = asyncio.run(notify_all()) if sessions else []
    for session, outcome in zip(sessions, outcomes, strict=True):
        _end_session(session, state=SessionState.TERMINATED, reason="left")
        results.append({"peer": session.peer.node_id, "session": session.session_id, "notice": outcome})
    record_event(action="federation.left", actor=actor, details={"sessions": len(sessions)})
    return results


# --- the manifest registry -------------------------------------------------------------------------


def publish_to_registry(document: Any, *, client_addr: str) -> RegistryManifest:
    """Accept a manifest into this node's registry if it verifies; keep the newest per node.
    (The refusal is audited outside any transaction, so rolling back cannot erase it.)"""
    verified = verified_or_refused(document, refusal_action="registry.refused", subject=client_addr)
    return _store_in_registry(verified, client_addr=client_addr)


@transaction.atomic
def _store_in_registry(verified: manifest.VerifiedManifest, *, client_addr: str) -> RegistryManifest:
    document = verified.document
    entry = RegistryManifest.objects.select_for_update().filter(node_id=verified.node_id).first()
    if entry is not None and entry.issued_at > verified.issued_at:
        raise PeerError("stale", "the registry holds a newer manifest for this node")
    values = {
        "display_name": str(document.get("display_name", ""))[:200],
        "document": document,
        "issued_at": verified.issued_at,
        "expires_at": verified.expires_at,
    }
    entry, created = RegistryManifest.objects.update_or_create(node_id=verified.node_id, defaults=values)
    record_event(
        action="registry.published",
        subject=verified.node_id,
        details={"created": created, "client": client_addr, "expires_at": document["expires_at"]},
    )
    return entry


def discover_from_registry(*, registry_url: str) -> list[Peer]:
    """Registry discovery: every manifest listed is verified here again, then recorded UNTRUSTED."""
    url = (
        registry_url
        if "/api/v1/registry/manifests" in registry_url
        else (registry_url.rstrip("/") + "/api/v1/registry/manifests")
    )
    try:
        response = httpx.get(url, timeout=10.0, follow_redirects=False)
        listing = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise PeerError("unreachable", f"cannot read registry {url}: {exc}") from exc
    documents = listing.get("manifests") if isinstance(listing, dict) else None
    if not isinstance(documents, list):
        raise PeerError("malformed", f"{url} did not return a manifest list")
    own = get_identity().node_id
    peers = []
    for document in documents[:1000]:
        if isinstance(document, dict) and document.get("node_id") == own:
            continue
        try:
            peers.append(upsert_peer(verify_peer_manifest(document, source=url), via=DiscoveredVia.REGISTRY))
        except PeerError:
            continue  # refused and audited one by one; the rest still count
    return peers
