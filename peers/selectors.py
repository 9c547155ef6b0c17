"""Reads about peers and sessions, shared by the CLI, the REST API and the admin."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch, QuerySet

from peers.models import LIVE_SESSION_STATES, Peer, Session, SessionState, TrustTier


def peers_with_live_sessions() -> QuerySet[Peer]:
    live = Session.objects.filter(state__in=LIVE_SESSION_STATES).order_by("-established_at")
    return Peer.objects.prefetch_related(Prefetch("sessions", queryset=live, to_attr="live_sessions"))


def describe_peer(peer: Peer) -> dict[str, Any]:
    sessions = getattr(peer, "live_sessions", None)
    if sessions is None:
        sessions = list(peer.sessions.filter(state__in=LIVE_SESSION_STATES).order_by("-established_at"))
    return {
        "node_id": peer.node_id,
        "display_name": peer.display_name,
        "trust_tier": TrustTier(peer.effective_tier).label,
        "earned_tier": TrustTier(peer.trust_tier).label,
        "pinned_tier": None if peer.pinned_tier is None else TrustTier(peer.pinned_tier).label,
        "pin_reason": peer.pin_reason,
        "state": peer.state,
        "trust_score": peer.trust_score,
        "discovered_via": peer.discovered_via,
        "base_url": peer.base_url,
        "federation_url": peer.federation_url,
        "tls_fingerprint": peer.tls_fingerprint,
        "last_seen_at": peer.last_seen_at.isoformat() if peer.last_seen_at else None,
        "last_error": peer.last_error,
        "sessions": [describe_session(s) for s in sessions],
    }


def describe_session(session: Session) -> dict[str, Any]:
    return {
        "session_id": session.session_id,
        "role": session.role,
        "state": session.state,
        "protocol_version": session.protocol_version,
        "established_at": session.established_at.isoformat(),
        "expires_at": session.expires_at.isoformat(),
        "last_heartbeat_at": session.last_heartbeat_at.isoformat() if session.last_heartbeat_at else None,
        "missed_heartbeats": session.missed_heartbeats,
        "heartbeats_ok": session.heartbeats_ok,
        "heartbeats_failed": session.heartbeats_failed,
        "hmac_failures": session.hmac_failures,
        "last_latency_ms": session.last_latency_ms,
    }


def session_summary() -> dict[str, int]:
    counts = dict.fromkeys(SessionState.values, 0)
    for row in Session.objects.values("state").annotate(count=Count("id")):
        counts[row["state"]] = row["count"]
    return counts
