"""The AI-defence gates as the node applies them: policies and thresholds from the database, the
analysts' allow-list, the record of every detection, the quarantine queue and the feedback loop.

A gate is ``check`` (a decision, no writes) followed by the caller writing what it decided in its
own transaction: ``record`` for a block (nothing else is written), ``detection_row`` + ``event``
next to the outbox or inbox row for a flag, and a ``HeldMessage`` as well for a quarantine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from compliance.models import Outcome as AuditOutcome
from compliance.services import EventSpec, record_event
from defence.calibration import MIN_SAMPLES, Review, calibrated_threshold
from defence.engine import CATEGORIES, DEFAULT_THRESHOLD, Analyser, Verdict
from defence.models import (
    SEVERITY,
    TIER_FIELDS,
    Action,
    AllowedFingerprint,
    Direction,
    Feedback,
    HeldMessage,
    HoldStatus,
    ThreatCalibration,
    ThreatDetection,
    ThreatPolicy,
)

THREAT_BLOCKED = "THREAT_BLOCKED"
THREAT_REJECTED = "THREAT_REJECTED"
EXCERPT_CHARS = 160
MAX_EVIDENCE = 20

# --- configuration, cached on the tables' change stamps ----------------------------------------

_cache: dict[str, Any] = {}


def forget_cache() -> None:
    _cache.clear()


def _stamp() -> tuple[Any, ...]:
    # One query for the three small tables a gate reads, on every message: a policy an analyst
    # changes acts on the next message in every process (web, worker, peer consumer).
    parts = []
    for model, field in ((ThreatPolicy, "updated_at"), (ThreatCalibration, "computed_at"), (AllowedFingerprint, "id")):
        table = connection.ops.quote_name(model._meta.db_table)
        column = connection.ops.quote_name(model._meta.get_field(field).column)
        parts.append(f"(SELECT COUNT(*) FROM {table}), (SELECT MAX({column}) FROM {table})")  # noqa: S608 - names from model metadata
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts))
        return tuple(cursor.fetchone())


@dataclass(frozen=True)
class Config:
    actions: dict[str, tuple[str, ...]]  # category → action per tier
    thresholds: dict[str, float]  # in force: the policy's, raised by calibration
    allowed: dict[str, frozenset[str]]  # fingerprint → categories an analyst allow-listed


def _load() -> Config:
    actions: dict[str, tuple[str, ...]] = {c: (Action.BLOCK,) * len(TIER_FIELDS) for c in CATEGORIES}
    thresholds = dict.fromkeys(CATEGORIES, DEFAULT_THRESHOLD)  # a missing policy row blocks: fail closed
    for policy in ThreatPolicy.objects.all():
        actions[policy.category] = tuple(policy.action_for(t) for t in range(len(TIER_FIELDS)))
        thresholds[policy.category] = policy.threshold
    for calibration in ThreatCalibration.objects.all():
        if calibration.samples >= MIN_SAMPLES and calibration.category in thresholds:
            thresholds[calibration.category] = max(thresholds[calibration.category], calibration.threshold)
    allowed = {
        fingerprint: frozenset(categories.split())
        for fingerprint, categories in AllowedFingerprint.objects.values_list("fingerprint", "categories")
    }
    return Config(actions, thresholds, allowed)


def config() -> Config:
    stamp = _stamp()
    hit = _cache.get("config")
    if hit is not None and hit[0] == stamp:
        return hit[1]
    value = _load()
    _cache["config"] = (stamp, value)
    return value


@lru_cache(maxsize=1)
def analyser() -> Analyser:
    """The process's analyser (patterns compiled once)."""
    return Analyser()


# --- the gate -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    """What a gate decided about one payload for one peer."""

    verdict: Verdict
    action: str
    triggered: tuple[str, ...]  # categories over threshold and not allow-listed
    thresholds: dict[str, float]
    tier: int
    allow_listed: bool = False

    @property
    def detected(self) -> bool:
        return bool(self.verdict.categories)

    def summary(self) -> dict[str, Any]:
        """For the outbox / inbox row, refusals and the audit trail: no text."""
        return {
            "action": self.action,
            "score": round(self.verdict.score, 3),
            "categories": list(self.verdict.categories),
            "obfuscated": self.verdict.obfuscated,
            "fingerprint": self.verdict.fingerprint[:16],
            **({"allow_listed": True} if self.allow_listed else {}),
        }

    def blocked_message(self) -> str:
        return f"the payload looks like an attack ({', '.join(self.triggered)}; score {self.verdict.score:.2f})"


def decide(verdict: Verdict, *, tier: int, cfg: Config) -> Gate:
    thresholds = {c: cfg.thresholds.get(c, DEFAULT_THRESHOLD) for c in CATEGORIES}
    allowed = cfg.allowed.get(verdict.fingerprint, frozenset())
    triggered = tuple(c for c in verdict.categories if c not in allowed)
    tier = max(0, min(tier, len(TIER_FIELDS) - 1))
    action = max((cfg.actions[c][tier] for c in triggered), key=lambda a: SEVERITY[a], default=Action.ALLOW)
    return Gate(
        verdict, str(action), triggered, thresholds, tier, allow_listed=len(triggered) < len(verdict.categories)
    )


def check(payload: Any, *, peer: Any, cfg: Config | None = None) -> Gate:
    """The gate's decision for ``payload`` to or from ``peer``; raises DefenceError on input the
    engine refuses (the caller refuses the message with its code: fail closed). ``cfg``: one
    configuration for a whole batch (one read instead of one per message)."""
    cfg = cfg or config()
    verdict = analyser().analyse(payload, thresholds=cfg.thresholds)
    return decide(verdict, tier=peer.effective_tier, cfg=cfg)


# --- what a gate writes -------------------------------------------------------------------------


def _strings(payload: Any, path: str = "$") -> Iterable[tuple[str, str]]:
    if isinstance(payload, str):
        yield path, payload
    elif isinstance(payload, dict):
        for key, value in payload.items():
            child = f"{path}.{key}"
            yield f"{child}#key", str(key)
            yield from _strings(value, child)
    elif isinstance(payload, list):
        for index, value in enumerate(payload):
            yield from _strings(value, f"{path}[{index}]")


def _excerpt(payload: Any, path: str, start: int, end: int) -> str:
    if isinstance(payload, str):
        text = payload
    else:
        texts = dict(_strings(payload))
        text = texts.get(path) or texts.get(f"{path}#key") or ""
    return text[max(0, start) : min(end, start + EXCERPT_CHARS)]


def detection_row(
    gate: Gate, *, payload: Any, peer: Any, direction: str, message_id: str, message_type: str
) -> ThreatDetection:
    verdict = gate.verdict
    evidence = [
        {**e.as_json(), "excerpt": _excerpt(payload, e.path, e.start, e.end)} for e in verdict.evidence[:MAX_EVIDENCE]
    ]
    return ThreatDetection(
        direction=direction,
        peer=peer,
        node_id=peer.node_id,
        tier=gate.tier,
        message_id=message_id,
        message_type=message_type,
        action=gate.action,
        categories=" ".join(verdict.categories),
        score=round(verdict.score, 4),
        scores={c: round(s, 4) for c, s in verdict.scores.items()},
        thresholds=gate.thresholds,
        evidence=evidence,
        signals=list(verdict.signals),
        obfuscated=verdict.obfuscated,
        fingerprint=verdict.fingerprint,
        allow_listed=gate.allow_listed,
    )


def event(gate: Gate, detection: ThreatDetection) -> EventSpec:
    """``threat.detected``: categories, scores, detectors and offsets — never the text."""
    return EventSpec(
        action="threat.detected",
        outcome=AuditOutcome.DENIED if gate.action == Action.BLOCK else AuditOutcome.SUCCESS,
        subject=detection.node_id,
        details={
            "detection": detection.pk,
            "direction": detection.direction,
            "id": detection.message_id,
            "type": detection.message_type,
            "tier": detection.tier,
            **gate.summary(),
            "scores": {c: s for c, s in detection.scores.items() if s > 0},
            "signals": detection.signals[:20],
            "evidence": [{k: v for k, v in e.items() if k != "excerpt"} for e in detection.evidence],
        },
    )


def record(gate: Gate, *, payload: Any, peer: Any, direction: str, message_id: str, message_type: str) -> None:
    """A detection with nothing else to write (a block): the row and its audit event."""
    with transaction.atomic():
        detection = detection_row(
            gate, payload=payload, peer=peer, direction=direction, message_id=message_id, message_type=message_type
        )
        detection.save()
        record_event(**vars(event(gate, detection)))


def record_with(
    items: list[tuple[Gate, ThreatDetection]], *, held_envelopes: dict[str, dict[str, Any]] | None = None
) -> list[EventSpec]:
    """Save detections (and holds for quarantines) in the caller's transaction; returns their events.
    ``held_envelopes``: inbound message id → what to keep of the envelope until release."""
    if not items:
        return []
    for _, detection in items:
        detection.save()  # one by one: the ids go into the events (a handful per batch at most)
    holds = [
        HeldMessage(
            direction=detection.direction,
            message_id=detection.message_id,
            peer=detection.peer,
            node_id=detection.node_id,
            message_type=detection.message_type,
            detection=detection,
            envelope=(held_envelopes or {}).get(detection.message_id, {}),
        )
        for gate, detection in items
        if gate.action == Action.QUARANTINE
    ]
    HeldMessage.objects.bulk_create(holds)
    events = [event(gate, detection) for gate, detection in items]
    events += [
        EventSpec(
            action="threat.quarantined",
            subject=hold.node_id,
            details={"id": hold.message_id, "direction": hold.direction, "detection": hold.detection.pk},
        )
        for hold in holds
    ]
    return events


def held_ids(message_ids: Iterable[str]) -> set[str]:
    """Inbound messages held in quarantine among these ids (a sender's retry is a duplicate)."""
    return set(
        HeldMessage.objects.filter(direction=Direction.INBOUND, message_id__in=list(message_ids)).values_list(
            "message_id", flat=True
        )
    )


# --- the analyst's side: quarantine ---------------------------------------------------------------


class ReviewError(ValueError):
    pass


def _release_outbound(hold: HeldMessage) -> None:
    from messaging.models import DeliveryState, OutboxMessage
    from messaging.tasks import kick

    updated = OutboxMessage.objects.filter(message_id=hold.message_id, state=DeliveryState.HELD).update(
        state=DeliveryState.QUEUED, next_attempt_at=timezone.now()
    )
    if not updated:
        raise ReviewError(f"the outbox has no held message {hold.message_id}")
    transaction.on_commit(kick, robust=True)


def _release_inbound(hold: HeldMessage) -> None:
    from messaging.models import InboxMessage
    from messaging.tasks import answer_memory_query

    kept = hold.envelope
    InboxMessage.objects.create(
        message_id=hold.message_id,
        peer=hold.peer,
        node_id=hold.node_id,
        message_type=hold.message_type,
        payload=kept["payload"],
        budget=kept["budget"],
        hops=kept["hops"],
        reply_to=kept.get("reply_to", ""),
        session_id=kept["session_id"],
        seq=kept["seq"],
        sent_at=dt.datetime.fromisoformat(kept["sent_at"]),
        received_at=hold.held_at,
        pii_scan=kept.get("pii_scan", {}),
        sender_scan=kept.get("sender_scan", {}),
        threat_scan={**kept.get("threat_scan", {}), "released": True},
    )
    record_event(
        action="message.received",
        subject=hold.node_id,
        details={"id": hold.message_id, "type": hold.message_type, "released_from_quarantine": True},
    )
    if hold.message_type == "memory-query" and hold.peer_id:
        transaction.on_commit(lambda: answer_memory_query.apply_async(args=[hold.message_id], retry=False), robust=True)


def close_holds(*, message_ids: list[str], note: str) -> int:
    """Outbound holds whose message ended otherwise (its peer removed): no longer for review."""
    return HeldMessage.objects.filter(
        direction=Direction.OUTBOUND, message_id__in=message_ids, status=HoldStatus.HELD
    ).update(status=HoldStatus.REJECTED, decided_by="system", decided_at=timezone.now(), note=note[:300])


def decide_held(*, held_ids: Iterable[int], release: bool, actor: str, note: str = "") -> int:
    """Release (deliver / hand to the agents) or reject held messages; each decision audited."""
    from messaging.models import DeliveryState, OutboxMessage

    decided = 0
    for pk in list(held_ids):
        try:
            with transaction.atomic():
                hold = HeldMessage.objects.select_for_update().select_related("detection").filter(pk=pk).first()
                if hold is None or hold.status != HoldStatus.HELD:
                    continue
                if release:
                    (_release_outbound if hold.direction == Direction.OUTBOUND else _release_inbound)(hold)
                elif hold.direction == Direction.OUTBOUND:
                    OutboxMessage.objects.filter(message_id=hold.message_id, state=DeliveryState.HELD).update(
                        state=DeliveryState.REFUSED,
                        refusal_code=THREAT_REJECTED,
                        refusal_message="rejected by an analyst after quarantine",
                        last_error=THREAT_REJECTED,
                        finished_at=timezone.now(),
                    )
                hold.status = HoldStatus.RELEASED if release else HoldStatus.REJECTED
                hold.decided_by, hold.decided_at, hold.note = actor[:150], timezone.now(), note[:300]
                hold.save(update_fields=["status", "decided_by", "decided_at", "note"])
                record_event(
                    action="quarantine.released" if release else "quarantine.rejected",
                    actor=actor,
                    subject=hold.node_id,
                    details={
                        "id": hold.message_id,
                        "direction": hold.direction,
                        "detection": hold.detection_id,
                        "categories": hold.detection.category_list,
                        **({"note": note[:300]} if note else {}),
                    },
                )
        except ReviewError:  # its message ended otherwise meanwhile: nothing to decide
            continue
        decided += 1
    return decided


# --- the analyst's side: feedback, allow-list and calibration ------------------------------------


def _recompute_later() -> None:
    from defence import tasks

    transaction.on_commit(lambda: tasks.recompute_calibration.apply_async(retry=False), robust=True)


@transaction.atomic
def set_feedback(*, detection_ids: Iterable[int], feedback: str, actor: str) -> int:
    """Analysts' verdict on detections. A false positive allow-lists the text's fingerprint for the
    categories it was detected in; every verdict feeds the per-category threshold calibration."""
    if feedback not in Feedback.values:
        raise ReviewError(f"feedback is one of {', '.join(Feedback.values)}, not {feedback!r}")
    detections = list(ThreatDetection.objects.select_for_update().filter(pk__in=list(detection_ids)))
    now = timezone.now()
    for detection in detections:
        ThreatDetection.objects.filter(pk=detection.pk).update(
            feedback=feedback, reviewed_by=actor[:150], reviewed_at=now
        )
    allow_listed = []
    if feedback == Feedback.FALSE_POSITIVE:
        for detection in detections:
            row, created = AllowedFingerprint.objects.get_or_create(
                fingerprint=detection.fingerprint,
                defaults={
                    "categories": detection.categories,
                    "detection": detection,
                    "created_by": actor[:150],
                    "reason": f"false positive (detection {detection.pk})",
                },
            )
            if not created:
                merged = " ".join(sorted(set(row.categories.split()) | set(detection.category_list)))
                AllowedFingerprint.objects.filter(pk=row.pk).update(categories=merged)
            allow_listed.append(detection.fingerprint[:16])
    elif feedback == Feedback.CONFIRMED:
        # a confirmed threat is not allowed any more, whatever an earlier verdict said
        AllowedFingerprint.objects.filter(fingerprint__in=[d.fingerprint for d in detections]).delete()
    if detections:
        record_event(
            action="threat.reviewed",
            actor=actor,
            details={
                "detections": [d.pk for d in detections][:200],
                "feedback": feedback,
                **({"allow_listed": allow_listed[:200]} if allow_listed else {}),
            },
        )
        forget_cache()
        _recompute_later()
    return len(detections)


@transaction.atomic
def remove_allowed(*, fingerprint_ids: Iterable[int], actor: str) -> int:
    """Take texts off the allow-list: the gates act on them again."""
    rows = list(AllowedFingerprint.objects.filter(pk__in=list(fingerprint_ids)).values_list("pk", "fingerprint"))
    AllowedFingerprint.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
    if rows:
        record_event(
            action="defence.allow_list_removed", actor=actor, details={"fingerprints": [f[:16] for _, f in rows][:200]}
        )
        forget_cache()
    return len(rows)


@transaction.atomic
def recompute_calibration() -> int:
    """Recompute every category's threshold from the feedback since its last reset; returns how
    many rows changed."""
    existing = {c.category: c for c in ThreatCalibration.objects.select_for_update()}
    bases = dict(ThreatPolicy.objects.values_list("category", "threshold"))
    reviews: dict[str, list[Review]] = {c: [] for c in CATEGORIES}
    rows = ThreatDetection.objects.filter(feedback__in=[Feedback.CONFIRMED, Feedback.FALSE_POSITIVE]).values_list(
        "categories", "scores", "feedback", "reviewed_at"
    )
    for categories, scores, feedback, reviewed_at in rows.iterator():
        for category in categories.split():
            reset = existing[category].reset_at if category in existing else None
            if category in reviews and not (reset and reviewed_at and reviewed_at <= reset):
                reviews[category].append(Review(float(scores.get(category, 0.0)), feedback == Feedback.CONFIRMED))
    changed = 0
    now = timezone.now()
    for category, found in reviews.items():
        base = bases.get(category, DEFAULT_THRESHOLD)
        values = {
            "threshold": round(calibrated_threshold(base, found), 4),
            "confirmed": sum(r.confirmed for r in found),
            "false_positive": sum(not r.confirmed for r in found),
        }
        row = existing.get(category)
        if row is None:
            if found:
                ThreatCalibration.objects.create(category=category, computed_at=now, **values)
                changed += 1
        elif any(getattr(row, name) != value for name, value in values.items()):
            ThreatCalibration.objects.filter(pk=row.pk).update(computed_at=now, **values)
            changed += 1
    if changed:
        record_event(action="defence.calibration_recomputed", details={"changed": changed})
        forget_cache()
    return changed


@transaction.atomic
def reset_calibration(*, calibration_ids: Iterable[int], actor: str) -> int:
    """Forget the feedback so far for these categories: the policy's threshold applies again."""
    rows = list(ThreatCalibration.objects.select_for_update().filter(pk__in=list(calibration_ids)))
    now = timezone.now()
    bases = dict(ThreatPolicy.objects.values_list("category", "threshold"))
    for row in rows:
        ThreatCalibration.objects.filter(pk=row.pk).update(
            threshold=bases.get(row.category, DEFAULT_THRESHOLD),
            confirmed=0,
            false_positive=0,
            reset_at=now,
            reset_by=actor[:150],
            computed_at=now,
        )
    if rows:
        record_event(
            action="defence.calibration_reset", actor=actor, details={"categories": [r.category for r in rows]}
        )
        forget_cache()
    return len(rows)


def set_policy(*, category: str, actor: str, threshold: float | None = None, actions: dict[int, str]) -> ThreatPolicy:
    """Change one category's threshold and/or its action at some tiers (CLI; the admin edits the grid)."""
    from federation import tier_policy

    policy = tier_policy.set_policy(
        ThreatPolicy,
        "category",
        category,
        actor=actor,
        audit_action="defence.policy_changed",
        allowed_actions=Action.values,
        threshold=threshold,
        actions=actions,
        minimum_threshold=0.05,
    )
    forget_cache()
    return policy


def describe_policy(policy: ThreatPolicy, cfg: Config) -> dict[str, Any]:
    from federation.capabilities import tier_name

    return {
        "category": policy.category,
        "threshold": policy.threshold,
        "in_force": cfg.thresholds.get(policy.category, policy.threshold),
        "actions": {tier_name(tier): action for tier, action in enumerate(policy.actions())},
    }


def restore_default_policies(*, actor: str) -> int:
    from defence.defaults import DEFAULT_POLICIES
    from federation.tier_policy import restore_defaults

    with transaction.atomic():
        restore_defaults(ThreatPolicy, "category", DEFAULT_POLICIES)
        record_event(action="defence.policies_restored", actor=actor, details={"categories": len(DEFAULT_POLICIES)})
    forget_cache()
    return len(DEFAULT_POLICIES)


# --- evidence for trust (MISSION §3) -----------------------------------------------------------

PENALTY_WEIGHTS = {Action.BLOCK: 1.0, Action.QUARANTINE: 0.7, Action.FLAG: 0.3}
PENALTY_SATURATION = 5.0  # this much weighted evidence in the window is the full penalty


def threat_evidence(peer_ids: Iterable[int], *, since: dt.datetime) -> dict[int, dict[str, int]]:
    """Per peer: inbound detections since ``since`` by action, excluding allow-listed texts and
    detections analysts called false positives. One query for any number of peers."""
    rows = (
        ThreatDetection.objects.filter(
            peer_id__in=list(peer_ids), direction=Direction.INBOUND, created_at__gte=since, allow_listed=False
        )
        .exclude(feedback=Feedback.FALSE_POSITIVE)
        .values("peer_id", "action")
        .annotate(n=Count("pk"), confirmed=Count("pk", filter=Q(feedback=Feedback.CONFIRMED)))
    )
    out: dict[int, dict[str, int]] = {}
    for row in rows:
        tally = out.setdefault(row["peer_id"], {})
        tally[row["action"]] = tally.get(row["action"], 0) + row["n"]
        tally["confirmed"] = tally.get("confirmed", 0) + row["confirmed"]
    return out


def threat_penalty(tally: dict[str, int]) -> float:
    """0 (no threats) … 1: weighted detections (block 1, quarantine 0.7, flag 0.3), saturating."""
    weighted = sum(PENALTY_WEIGHTS.get(action, 0.0) * count for action, count in tally.items())
    return min(1.0, weighted / PENALTY_SATURATION)
