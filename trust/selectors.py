"""Why a peer has its score and tier: one description shared by the CLI, REST and the admin."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from federation.capabilities import tier_name
from peers.models import Peer
from trust.models import Claim, ClaimDirection, TrustEvaluation

EXPIRY_WARNING = dt.timedelta(days=7)


def claim_status(claim: Claim, now: dt.datetime) -> str:
    if claim.revoked_at is not None:
        return "revoked"
    if claim.expires_at is not None and claim.expires_at <= now:
        return "expired"
    if claim.expires_at is not None and claim.expires_at - now <= EXPIRY_WARNING:
        return "expiring"
    return "valid"


def describe_claim(claim: Claim, now: dt.datetime | None = None) -> dict[str, Any]:
    return {
        "id": claim.claim_id,
        "type": claim.claim_type,
        "direction": claim.direction,
        "status": claim_status(claim, now or timezone.now()),
        "issued_at": claim.issued_at.isoformat(),
        "expires_at": claim.expires_at.isoformat() if claim.expires_at else None,
        "issued_by": claim.issued_by,
        "revoked_at": claim.revoked_at.isoformat() if claim.revoked_at else None,
        "revoked_by": claim.revoked_by,
    }


def describe_evaluation(evaluation: TrustEvaluation) -> dict[str, Any]:
    return {
        "at": evaluation.evaluated_at.isoformat(),
        "score": evaluation.score,
        "tier_before": tier_name(evaluation.tier_before),
        "tier_after": tier_name(evaluation.tier_after),
        "interactions": evaluation.interactions,
        "reasons": evaluation.reasons,
        "inputs": evaluation.inputs,
        "trigger": evaluation.trigger,
    }


def describe_trust(peer: Peer, *, history: int = 20) -> dict[str, Any]:
    """Tier (effective, earned, pin, cap), state, score with its inputs and reasons, claims both
    ways, and the latest evaluations. Four queries."""
    now = timezone.now()
    claims = list(peer.claims.order_by("-issued_at"))
    evaluations = list(peer.evaluations.order_by("-evaluated_at")[:history])
    last = peer.trust_inputs or {}
    return {
        "node_id": peer.node_id,
        "display_name": peer.display_name,
        "trust_tier": tier_name(peer.effective_tier),
        "earned_tier": tier_name(peer.trust_tier),
        "pinned_tier": tier_name(peer.pinned_tier) if peer.pinned_tier is not None else None,
        "pin_reason": peer.pin_reason,
        "tier_cap": tier_name(peer.tier_cap) if peer.tier_cap is not None else None,
        "cap_reason": peer.cap_reason,
        "held_for": peer.demoted_for or None,
        "privileged_approved_by": peer.privileged_approved_by or None,
        "remote_tier": tier_name(peer.remote_tier) if peer.remote_tier is not None else None,
        "state": peer.state,
        "state_reason": peer.state_reason,
        "suspended_until": peer.suspended_until.isoformat() if peer.suspended_until else None,
        "score": peer.trust_score,
        "interactions": peer.interactions,
        "evaluated_at": peer.trust_evaluated_at.isoformat() if peer.trust_evaluated_at else None,
        "inputs": last.get("inputs", {}),
        "reasons": last.get("reasons", []),
        "claims": [describe_claim(c, now) for c in claims if c.direction == ClaimDirection.ISSUED],
        "claims_held_there": [describe_claim(c, now) for c in claims if c.direction == ClaimDirection.RECEIVED],
        "history": [describe_evaluation(e) for e in evaluations],
    }
