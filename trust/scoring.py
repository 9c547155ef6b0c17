"""The trust score and the tier rules (MISSION §3) — pure Python, explainable input by input.

    trust_score = 0.4·success_rate + 0.2·uptime + 0.2·(1 - threat_penalty) + 0.2·data_integrity

Every input is a ratio of counted evidence over the window; with no evidence an input is 1.0
("nothing against") and says so with a reason code: minimum interactions, not a low score,
keep an unknown peer from climbing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from federation.capabilities import ATTESTED, PRIVILEGED, TRUSTED, UNTRUSTED, VERIFIED, tier_name

WEIGHTS = {"success_rate": 0.4, "uptime": 0.2, "threat_safety": 0.2, "data_integrity": 0.2}
# Promotion from tier t to t+1: score >= UPGRADE[t] after at least MIN_INTERACTIONS[t].
UPGRADE = {VERIFIED: 0.70, ATTESTED: 0.85, TRUSTED: 0.95}
MIN_INTERACTIONS = {VERIFIED: 50, ATTESTED: 500, TRUSTED: 5000}
# Demotion from tier t to t-1 below DOWNGRADE[t]: the gap to UPGRADE is the hysteresis.
DOWNGRADE = {ATTESTED: 0.50, TRUSTED: 0.65, PRIVILEGED: 0.80}


@dataclass(frozen=True)
class Evidence:
    """Counts over the window for one peer (see trust.services.gather_evidence)."""

    delivered: int = 0
    failed: int = 0  # refused or dead-lettered deliveries to the peer
    heartbeats_ok: int = 0
    heartbeats_failed: int = 0
    threats: dict[str, int] = field(default_factory=dict)  # action -> inbound detections
    threat_penalty: float = 0.0
    received: int = 0  # envelopes accepted from the peer
    refused: int = 0  # envelopes from the peer refused
    hmac_failures: int = 0


@dataclass(frozen=True)
class Score:
    value: float
    inputs: dict[str, Any]
    reasons: list[str]


def _ratio(good: int, bad: int, reason: str, reasons: list[str]) -> float:
    if good + bad == 0:
        reasons.append(reason)
        return 1.0
    return good / (good + bad)


def score(evidence: Evidence, *, window_hours: float) -> Score:
    reasons: list[str] = []
    success = _ratio(evidence.delivered, evidence.failed, "NO_DELIVERY_EVIDENCE", reasons)
    uptime = _ratio(evidence.heartbeats_ok, evidence.heartbeats_failed, "NO_HEARTBEAT_EVIDENCE", reasons)
    bad_inbound = evidence.refused + evidence.hmac_failures
    integrity = _ratio(evidence.received, bad_inbound, "NO_INBOUND_EVIDENCE", reasons)
    safety = 1.0 - evidence.threat_penalty
    values = {"success_rate": success, "uptime": uptime, "threat_safety": safety, "data_integrity": integrity}
    total = round(sum(WEIGHTS[name] * value for name, value in values.items()), 4)
    if evidence.threat_penalty > 0:
        reasons.append("THREATS_DETECTED")
    if evidence.hmac_failures:
        reasons.append("HMAC_FAILURES")
    if evidence.failed and success < 0.9:
        reasons.append("DELIVERY_FAILURES")
    inputs = {
        "window_hours": window_hours,
        "success_rate": {"value": round(success, 4), "delivered": evidence.delivered, "failed": evidence.failed},
        "uptime": {
            "value": round(uptime, 4),
            "heartbeats_ok": evidence.heartbeats_ok,
            "heartbeats_failed": evidence.heartbeats_failed,
        },
        "threat_penalty": {"value": round(evidence.threat_penalty, 4), "detections": dict(evidence.threats)},
        "data_integrity": {
            "value": round(integrity, 4),
            "received": evidence.received,
            "refused": evidence.refused,
            "hmac_failures": evidence.hmac_failures,
        },
        "weights": WEIGHTS,
    }
    return Score(total, inputs, reasons)


@dataclass(frozen=True)
class Thresholds:
    upgrade: dict[int, float]
    downgrade: dict[int, float]
    min_interactions: dict[int, int]

    @classmethod
    def defaults(cls) -> Thresholds:
        return cls(dict(UPGRADE), dict(DOWNGRADE), dict(MIN_INTERACTIONS))


@dataclass(frozen=True)
class Transition:
    tier: int
    reasons: list[str]
    awaiting_approval: bool = False


def next_tier(
    tier: int, value: float, interactions: int, *, thresholds: Thresholds, privileged_approved: bool, held: bool
) -> Transition:
    """One step at a time. UNTRUSTED only leaves by a handshake; a safety-demoted (`held`) peer
    stays where it is until an operator reactivates it; PRIVILEGED needs a human approval."""
    if tier == UNTRUSTED or held:
        return Transition(tier, ["HELD_BY_SAFETY_DEMOTION"] if held else ["UNTRUSTED_NEEDS_HANDSHAKE"])
    floor = thresholds.downgrade.get(tier)
    if floor is not None and value < floor:
        return Transition(tier - 1, [f"BELOW_DOWNGRADE_{tier_name(tier)}"])
    bar = thresholds.upgrade.get(tier)
    if bar is None:
        return Transition(tier, ["TOP_TIER"])
    if value < bar:
        return Transition(tier, [f"BELOW_UPGRADE_{tier_name(tier + 1)}"])
    if interactions < thresholds.min_interactions[tier]:
        return Transition(tier, [f"TOO_FEW_INTERACTIONS_FOR_{tier_name(tier + 1)}"])
    if tier + 1 == PRIVILEGED and not privileged_approved:
        return Transition(tier, ["PRIVILEGED_NEEDS_APPROVAL"], awaiting_approval=True)
    return Transition(tier + 1, [f"PROMOTED_TO_{tier_name(tier + 1)}"])


__all__ = ["ATTESTED", "PRIVILEGED", "TRUSTED", "UNTRUSTED", "VERIFIED", "Evidence", "Score", "Thresholds"]
