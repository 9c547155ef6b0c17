"""The one authorization function: may this peer do this operation here, now?

Every entry point calls `authorize` (the envelope receiver behind the WebSocket consumer, the send
paths behind REST, the CLI and MCP). It fails closed: an unknown operation, a missing, expired or
revoked claim, a tier below the operation's minimum, or a suspended or evicted peer is refused
with a precise code.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q
from django.utils import timezone

from federation import capabilities
from peers.models import Peer, PeerState
from trust.models import Claim, ClaimDirection

NOT_PERMITTED = "NOT_PERMITTED"
CLAIM_MISSING = "CLAIM_MISSING"
CLAIM_EXPIRED = "CLAIM_EXPIRED"
CLAIM_REVOKED = "CLAIM_REVOKED"
PEER_SUSPENDED = "PEER_SUSPENDED"
PEER_EVICTED = "PEER_EVICTED"
DENIAL_CODES = (NOT_PERMITTED, CLAIM_MISSING, CLAIM_EXPIRED, CLAIM_REVOKED, PEER_SUSPENDED, PEER_EVICTED)

VALID, EXPIRED, REVOKED = "valid", "expired", "revoked"
_RANK = {REVOKED: 0, EXPIRED: 1, VALID: 2}

ClaimStates = dict[str, str]  # claim type -> best state among the peer's claims of that type


class Denied(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def claim_states(peer_ids: Iterable[int]) -> dict[int, ClaimStates]:
    """Per peer, the state of each claim type this node issued to it. One query for any number
    of peers (a batch, a broadcast)."""
    now = timezone.now()
    rows = Claim.objects.filter(peer_id__in=list(peer_ids), direction=ClaimDirection.ISSUED).values_list(
        "peer_id", "claim_type", "expires_at", "revoked_at"
    )
    out: dict[int, ClaimStates] = {}
    for peer_id, claim_type, expires_at, revoked_at in rows:
        state = REVOKED if revoked_at else EXPIRED if expires_at is not None and expires_at <= now else VALID
        states = out.setdefault(peer_id, {})
        best = states.get(claim_type)
        if best is None or _RANK[state] > _RANK[best]:
            states[claim_type] = state
    return out


def valid_claims_filter(now: object = None) -> Q:
    now = now or timezone.now()
    return Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def authorize(peer: Peer, operation: str, *, outbound: bool, claims: ClaimStates | None = None) -> None:
    """Raise Denied unless `peer` may do `operation` (a message type) with this node.

    `claims` is the peer's entry of `claim_states` when the caller fetched a batch's at once."""
    if peer.state == PeerState.EVICTED:
        raise Denied(PEER_EVICTED, f"{peer.node_id} is evicted: {peer.state_reason or 'by an operator'}")
    if outbound and operation in capabilities.OWN_NOTICES:
        return  # our notices about the peer's standing here reach it whatever its tier
    if peer.state == PeerState.SUSPENDED:
        until = f" until {peer.suspended_until:%Y-%m-%d %H:%M:%S}Z" if peer.suspended_until else ""
        raise Denied(PEER_SUSPENDED, f"{peer.node_id} is suspended{until}: {peer.state_reason}")
    tier = peer.effective_tier
    required_tier = capabilities.MINIMUM_TIER.get(operation)
    if required_tier is None or tier < required_tier:
        needed = capabilities.tier_name(required_tier) if required_tier is not None else "(unknown operation)"
        who = "you are" if not outbound else f"{peer.node_id} is"
        raise Denied(NOT_PERMITTED, f"{operation} needs tier {needed}; {who} {capabilities.tier_name(tier)} here")
    if claims is None:
        claims = claim_states([peer.pk]).get(peer.pk, {})
    for claim in capabilities.REQUIRED_CLAIMS[operation]:
        state = claims.get(claim)
        if state == VALID:
            continue
        code = {EXPIRED: CLAIM_EXPIRED, REVOKED: CLAIM_REVOKED}.get(state or "", CLAIM_MISSING)
        detail = {CLAIM_EXPIRED: "has expired", CLAIM_REVOKED: "was revoked"}.get(code, "was never issued")
        raise Denied(code, f"{operation} needs the claim {claim}; the one for {peer.node_id} {detail}")
