"""The PII pipeline as the node applies it: policies from the database, calibration from the
analysts' verdicts, keyed hashing per pair of nodes, and the review workflow."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from compliance.models import Outcome as AuditOutcome
from compliance.services import record_event
from federation import crypto
from federation.services import get_identity
from pii.engine import Detection
from pii.engine.calibration import Calibration as EngineCalibration
from pii.engine.calibration import Evidence
from pii.engine.pipeline import Hasher, Outcome, Rule, apply_policy, keyed_hasher
from pii.models import TIER_FIELDS, Calibration, CalibrationScope, PiiPolicy, ReviewFinding, ReviewSample, Verdict

PII_BLOCKED = "PII_BLOCKED"

T = TypeVar("T")
_cache: dict[str, tuple[Any, Any]] = {}


def forget_cache() -> None:
    _cache.clear()


_STAMPED_BY = {"rules": (PiiPolicy, "updated_at"), "calibration": (Calibration, "computed_at")}


def _stamp(name: str) -> tuple[int, Any]:
    """One cheap query telling whether a table changed, in this process or any other."""
    model, field = _STAMPED_BY[name]
    found = model.objects.aggregate(n=Count("pk"), at=Max(field))
    return found["n"], found["at"]


def _cached(name: str, build: Callable[[], T]) -> T:
    # A policy an analyst changes must act on the next message in every process (web, worker,
    # peer consumer), so the cache is keyed on the tables' change stamps, not on a time-out.
    stamp = _stamp(name)
    hit = _cache.get(name)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    value = build()
    _cache[name] = (stamp, value)
    return value


@lru_cache(maxsize=1)
def scanner() -> Any:
    """The process's scanner (its multi-pattern database is compiled once)."""
    from pii.engine.scanner import Scanner

    return Scanner()


# --- policies and calibration ---------------------------------------------------------------


def _load_rules() -> list[dict[str, Rule]]:
    policies = list(PiiPolicy.objects.all())
    return [{p.pii_type: Rule(p.action_for(tier), p.threshold) for p in policies} for tier in range(len(TIER_FIELDS))]


def rules_for(tier: int) -> dict[str, Rule]:
    """Type → rule for a peer of ``tier``; a type without a policy row blocks (fail closed)."""
    return _for_tier(_cached("rules", _load_rules), tier)


def _for_tier(tiers: list[dict[str, Rule]], tier: int) -> dict[str, Rule]:
    return tiers[max(0, min(tier, len(tiers) - 1))]


def thresholds() -> dict[str, float]:
    return {pii_type: rule.threshold for pii_type, rule in rules_for(0).items()}


def _load_calibration() -> EngineCalibration:
    by_detector, by_type = {}, {}
    for row in Calibration.objects.all():
        evidence = Evidence(row.confirmed, row.false_positive, row.missed)
        (by_detector if row.scope == CalibrationScope.DETECTOR else by_type)[row.key] = evidence
    return EngineCalibration(by_detector=by_detector, by_type=by_type)


def calibration() -> EngineCalibration:
    return _cached("calibration", _load_calibration)


def detect(text: str) -> list[Detection]:
    """What the pipeline acts on: calibrated detections at or above their type's threshold."""
    limits = thresholds()
    return [d for d in calibration().apply(scanner().scan(text)) if d.confidence >= limits.get(d.type, 0.5)]


def transform(payload: Any, *, tier: int, hasher: Hasher | None, policies: Policies | None = None) -> Outcome:
    snapshot = policies or current_policies()
    return apply_policy(
        payload, rules=snapshot.for_tier(tier), scan=scanner().scan, calibration=snapshot.calibration, hasher=hasher
    )


@dataclass(frozen=True)
class Policies:
    """The rules and calibration in force, read once for a batch of messages (two stamp
    queries per batch instead of two per message)."""

    rules: list[dict[str, Rule]]
    calibration: EngineCalibration

    def for_tier(self, tier: int) -> dict[str, Rule]:
        return _for_tier(self.rules, tier)


def current_policies() -> Policies:
    return Policies(_cached("rules", _load_rules), calibration())


# --- keyed hashing ----------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _pair_key(own_node_id: str, peer_node_id: str, peer_public_key: str) -> bytes:
    identity = get_identity()
    return crypto.pair_secret(
        identity.signing_key,
        base64.b64decode(peer_public_key),
        purpose="pii-hash/v1",
        node_ids=(own_node_id, peer_node_id),
    )


def pair_hasher(peer: Any) -> Hasher:
    return keyed_hasher(_pair_key(get_identity().node_id, peer.node_id, peer.public_key))


def local_hasher() -> Hasher:
    """For texts that go to no peer (CLI, REST): stable per node, useless to anyone else."""
    return keyed_hasher(crypto.derive_subkey(crypto.private_seed(get_identity().signing_key), "pii-hash/v1/local"))


# --- the boundary -----------------------------------------------------------------------------


def screen(payload: Any, *, peer: Any, policies: Policies | None = None) -> Outcome:
    """Apply the policies for ``peer``'s tier to a payload crossing the boundary (either way)."""
    return transform(payload, tier=peer.effective_tier, hasher=pair_hasher(peer), policies=policies)


def blocked_message(outcome: Outcome) -> str:
    return f"the payload carries PII this peer's tier may not receive: {', '.join(outcome.blocked)}"


# --- review and calibration -------------------------------------------------------------------


@transaction.atomic
def submit_sample(*, text: str, title: str = "", actor: str) -> ReviewSample:
    """Scan an analyst's text and keep every finding (raw confidence, down to the scanner's
    floor) for review, so low-confidence detections can be confirmed as well as refuted."""
    sample = ReviewSample.objects.create(title=title[:200], text=text, created_by=actor[:150])
    ReviewFinding.objects.bulk_create(
        ReviewFinding(
            sample=sample,
            pii_type=d.type,
            start=d.start,
            end=d.end,
            confidence=d.confidence,
            detector=d.detector,
        )
        for d in scanner().scan(text)
    )
    record_event(
        action="pii.sample_submitted",
        actor=actor,
        subject=f"sample:{sample.pk}",
        details={"findings": sample.findings.count(), "chars": len(text)},
    )
    return sample


def _recompute_later() -> None:
    from pii import tasks

    transaction.on_commit(lambda: tasks.recompute_calibration.apply_async(retry=False), robust=True)


@transaction.atomic
def set_verdict(*, finding_ids: Iterable[int], verdict: str, actor: str) -> int:
    if verdict not in Verdict.values or verdict == Verdict.MISSED:
        raise ValueError(f"a detection's verdict is confirmed, false_positive or pending, not {verdict!r}")
    findings = ReviewFinding.objects.filter(pk__in=list(finding_ids)).exclude(verdict=Verdict.MISSED)
    ids = list(findings.values_list("pk", flat=True))
    count = ReviewFinding.objects.filter(pk__in=ids).update(
        verdict=verdict, reviewed_by=actor[:150], reviewed_at=timezone.now()
    )
    if count:
        record_event(action="pii.reviewed", actor=actor, details={"findings": ids[:200], "verdict": verdict})
        _recompute_later()
    return count


@transaction.atomic
def add_missed(*, sample: ReviewSample, pii_type: str, start: int, end: int, actor: str) -> ReviewFinding:
    if not 0 <= start < end <= len(sample.text):
        raise ValueError(f"the span {start}-{end} is not inside the sample's {len(sample.text)} characters")
    finding = ReviewFinding.objects.create(
        sample=sample,
        pii_type=pii_type,
        start=start,
        end=end,
        verdict=Verdict.MISSED,
        reviewed_by=actor[:150],
        reviewed_at=timezone.now(),
    )
    record_event(
        action="pii.reviewed",
        actor=actor,
        subject=f"sample:{sample.pk}",
        details={"findings": [finding.pk], "verdict": Verdict.MISSED, "type": pii_type},
    )
    _recompute_later()
    return finding


def _tally(rows: Iterable[tuple[str, str, str, Any]], resets: dict[tuple[str, str], Any]) -> dict:
    counts: dict[tuple[str, str], Counter] = {}
    types: dict[tuple[str, str], str] = {}
    for pii_type, detector, verdict, reviewed_at in rows:
        scopes = [(CalibrationScope.TYPE.value, pii_type)]
        if detector:
            scopes.append((CalibrationScope.DETECTOR.value, detector))
        for scope in scopes:
            reset = resets.get(scope)
            if reset is not None and reviewed_at is not None and reviewed_at <= reset:
                continue
            counts.setdefault(scope, Counter())[verdict] += 1
            types[scope] = pii_type
    return {scope: (types[scope], tally) for scope, tally in counts.items()}


@transaction.atomic
def recompute_calibration() -> int:
    """Recount every detector's and type's verdicts (those after its last reset); returns how
    many calibration rows changed."""
    existing = {(c.scope, c.key): c for c in Calibration.objects.select_for_update()}
    resets = {scope: row.reset_at for scope, row in existing.items() if row.reset_at}
    rows = ReviewFinding.objects.exclude(verdict=Verdict.PENDING).values_list(
        "pii_type", "detector", "verdict", "reviewed_at"
    )
    tallies = _tally(rows, resets)
    changed = 0
    now = timezone.now()
    for scope in set(existing) | set(tallies):
        pii_type, tally = tallies.get(scope, (existing[scope].pii_type if scope in existing else "", Counter()))
        values = {
            "confirmed": tally[Verdict.CONFIRMED.value],
            "false_positive": tally[Verdict.FALSE_POSITIVE.value],
            "missed": tally[Verdict.MISSED.value],
        }
        row = existing.get(scope)
        if row is None:
            Calibration.objects.create(scope=scope[0], key=scope[1], pii_type=pii_type, computed_at=now, **values)
            changed += 1
        elif any(getattr(row, name) != value for name, value in values.items()):
            Calibration.objects.filter(pk=row.pk).update(computed_at=now, **values)
            changed += 1
    if changed:
        record_event(action="pii.calibration_recomputed", details={"changed": changed})
        forget_cache()
    return changed


@transaction.atomic
def reset_calibration(*, calibration_ids: Iterable[int], actor: str) -> int:
    """Forget the verdicts so far for these rows: confidence returns to the detectors' own."""
    rows = list(Calibration.objects.select_for_update().filter(pk__in=list(calibration_ids)))
    now = timezone.now()
    for row in rows:
        Calibration.objects.filter(pk=row.pk).update(
            confirmed=0, false_positive=0, missed=0, reset_at=now, reset_by=actor[:150], computed_at=now
        )
    if rows:
        record_event(
            action="pii.calibration_reset",
            actor=actor,
            outcome=AuditOutcome.SUCCESS,
            details={"calibrations": [f"{r.scope}:{r.key}" for r in rows][:200]},
        )
        forget_cache()
    return len(rows)


def restore_default_policies(*, actor: str) -> int:
    from federation.tier_policy import restore_defaults
    from pii.defaults import DEFAULT_POLICIES

    with transaction.atomic():
        restore_defaults(PiiPolicy, "pii_type", DEFAULT_POLICIES)
        record_event(action="pii.policies_restored", actor=actor, details={"types": len(DEFAULT_POLICIES)})
    forget_cache()
    return len(DEFAULT_POLICIES)


def set_policy(*, pii_type: str, actor: str, threshold: float | None = None, actions: dict[int, str]) -> PiiPolicy:
    """Change one type's threshold and/or its action at some tiers (CLI; the admin edits the grid)."""
    from federation import tier_policy
    from pii.engine.pipeline import ACTIONS

    policy = tier_policy.set_policy(
        PiiPolicy,
        "pii_type",
        pii_type,
        actor=actor,
        audit_action="pii.policy_changed",
        allowed_actions=ACTIONS,
        threshold=threshold,
        actions=actions,
    )
    forget_cache()
    return policy


def describe_policy(policy: PiiPolicy) -> dict[str, Any]:
    from federation.capabilities import tier_name

    return {
        "type": policy.pii_type,
        "threshold": policy.threshold,
        "actions": {tier_name(tier): policy.action_for(tier) for tier in range(len(TIER_FIELDS))},
    }
