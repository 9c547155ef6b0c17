"""What each trust tier may do and which claims it takes (MISSION §3) — pure Python tables.

Tiers are the integers 0-4 (UNTRUSTED … PRIVILEGED). An operation (a message type) is allowed to
or from a peer when the peer's tier, as this node sees it, is at least the operation's minimum
tier AND the peer holds every claim the operation needs (issued by this node, unexpired,
unrevoked). `trust.authz.authorize` applies both; every entry point calls it.
"""

from __future__ import annotations

UNTRUSTED, VERIFIED, ATTESTED, TRUSTED, PRIVILEGED = range(5)
TIER_NAMES = ("UNTRUSTED", "VERIFIED", "ATTESTED", "TRUSTED", "PRIVILEGED")

MINIMUM_TIER: dict[str, int] = {
    # VERIFIED: read federation status, ping; notices about the relationship itself.
    "status": VERIFIED,
    "ping": VERIFIED,
    "trust-change": VERIFIED,
    "claim-event": VERIFIED,
    "topology-change": VERIFIED,
    # ATTESTED: send/receive tasks, query memory (answers redacted below PRIVILEGED).
    "task-assignment": ATTESTED,
    "task-result": ATTESTED,
    "memory-query": ATTESTED,
    "memory-response": ATTESTED,
    # TRUSTED: share agent context, collaborative execution.
    "context-share": TRUSTED,
    "agent-handoff": TRUSTED,
    "consensus-propose": TRUSTED,
    "consensus-vote": TRUSTED,
    "consensus-commit": TRUSTED,
    # PRIVILEGED: remote agent spawning, full memory sharing.
    "agent-spawn": PRIVILEGED,
}

CLAIM_TYPES = (
    "federation:discover",
    "federation:connect",
    "federation:read",
    "federation:write",
    "federation:admin",
    "federation:memory",
    "federation:spawn",
)

# The claims each operation needs. Relationship notices (trust-change, claim-event) need none:
# they are how claims and tiers reach a peer in the first place.
REQUIRED_CLAIMS: dict[str, tuple[str, ...]] = {
    "status": ("federation:read",),
    "ping": ("federation:connect",),
    "trust-change": (),
    "claim-event": (),
    "topology-change": ("federation:discover",),
    "task-assignment": ("federation:write",),
    "task-result": ("federation:write",),
    "memory-query": ("federation:read", "federation:memory"),
    "memory-response": ("federation:read", "federation:memory"),
    "context-share": ("federation:write",),
    "agent-handoff": ("federation:write", "federation:spawn"),
    "consensus-propose": ("federation:write",),
    "consensus-vote": ("federation:write",),
    "consensus-commit": ("federation:write",),
    "agent-spawn": ("federation:write", "federation:spawn"),
}
# Notices this node sends about the peer's standing here: they reach it whatever its tier.
OWN_NOTICES = frozenset({"trust-change", "claim-event"})


def claims_for_tier(tier: int) -> tuple[str, ...]:
    """Every claim some operation of this tier (or below) needs — what an operator grants to
    let a peer use its whole tier."""
    needed = {c for op, t in MINIMUM_TIER.items() if t <= tier for c in REQUIRED_CLAIMS[op]}
    return tuple(c for c in CLAIM_TYPES if c in needed)


# Memory classifications, least to most sensitive, and the lowest tier that sees each in full.
# Below that tier a memory-response carries the key with the value replaced by a marker.
CLASSIFICATIONS = ("public", "internal", "confidential", "restricted")
FULL_VALUE_TIER = {"public": ATTESTED, "internal": TRUSTED, "confidential": PRIVILEGED, "restricted": PRIVILEGED}


def tier_name(tier: int) -> str:
    return TIER_NAMES[tier] if 0 <= tier < len(TIER_NAMES) else str(tier)


def parse_tier(value: str | int) -> int:
    """A tier given as a name (any case) or as 0-4."""
    text = str(value).strip().upper()
    if text.isdigit() and int(text) < len(TIER_NAMES):
        return int(text)
    if text in TIER_NAMES:
        return TIER_NAMES.index(text)
    raise ValueError(f"unknown tier {value!r}: use one of {', '.join(TIER_NAMES)} or 0-4")


def may_exchange(tier: int, message_type: str) -> bool:
    """Fails closed: unknown message types need a tier nobody has."""
    return tier >= MINIMUM_TIER.get(message_type, PRIVILEGED + 1)


def sees_in_full(tier: int, classification: str) -> bool:
    return tier >= FULL_VALUE_TIER.get(classification, PRIVILEGED + 1)
