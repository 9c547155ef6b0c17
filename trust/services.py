"""The writes of trust: claims, evaluations and tier changes, safety demotions, the circuit breaker.

Every change is audited with its reason codes, and every change of a peer's tier or claims is
sent to that peer as a notice (trust-change, claim-event) through the ordinary outbox.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Max, Q, Sum
from django.utils import timezone

from compliance.models import Outcome
from compliance.services import EventSpec, record_event, record_events
from defence import services as defence
from federation import crypto
from federation.capabilities import CLAIM_TYPES, parse_tier, tier_name
from federation.manifest import ManifestError, format_time, parse_time
from federation.services import get_identity
from peers.models import LIVE_SESSION_STATES, Peer, PeerState, Session, SessionState, TrustTier
from trust import claims as claim_docs
from trust import scoring
from trust.authz import valid_claims_filter
from trust.models import Claim, ClaimDirection, TrustEvaluation

THIRD_PARTY_NOTICE = "THIRD_PARTY_NOTICE"
NOTICE_INVALID = "NOTICE_INVALID"
REPEATED_THREATS, HMAC_FAILURE, SESSION_HIJACK = "REPEATED_THREATS", "HMAC_FAILURE", "SESSION_HIJACK"
STATE_EVENTS = {
    PeerState.ACTIVE: "peer.reactivated",
    PeerState.SUSPENDED: "peer.suspended",
    PeerState.EVICTED: "peer.evicted",
}
HISTORY_EVERY = dt.timedelta(hours=1)  # an unchanged evaluation is kept at most hourly


class TrustError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _peer(node_id: str) -> Peer:
    peer = Peer.objects.filter(node_id=node_id).first()
    if peer is None:
        raise TrustError("unknown_peer", f"no peer {node_id}")
    return peer


def _notify(peer: Peer, message_type: str, payload: dict[str, Any]) -> None:
    """Queue a notice for the peer (delivered once a session is live, like any message)."""
    _notify_many([(peer, message_type, payload)])


def _notify_many(notices: list[tuple[Peer, str, dict[str, Any]]]) -> None:
    """Queue notices in batches of one transaction each (a beat that promotes thousands of peers
    queues thousands of notices). Evicted peers get none: they hold no session to hear it."""
    from messaging import services as messaging  # messaging imports trust.authz

    items = [
        (peer.node_id, messaging.make_draft(message_type=kind, payload=payload))
        for peer, kind, payload in notices
        if peer.state != PeerState.EVICTED
    ]
    for start in range(0, len(items), messaging.MAX_BATCH_SEND):
        with contextlib.suppress(messaging.MessagingError):  # audited by send_many; the changes stand
            messaging.send_many(items=items[start : start + messaging.MAX_BATCH_SEND], actor="trust")


# --- claims -------------------------------------------------------------------------------------


def issue_claim(*, node_id: str, claim_type: str, expires_at: dt.datetime | None, actor: str) -> Claim:
    """Sign a claim for the peer, store it, audit it and send it to the peer as a claim-event."""
    peer = _peer(node_id)
    identity, now = get_identity(), timezone.now()
    if expires_at is not None and expires_at.tzinfo is None:
        raise TrustError("bad_expiry", "the expiry needs a time zone (e.g. 2027-01-01T00:00:00Z)")
    try:
        document = claim_docs.make_claim(
            identity.signing_key,
            claim_type=claim_type,
            issuer=identity.node_id,
            subject=peer.node_id,
            issued_at=now,
            expires_at=expires_at,
        )
    except claim_docs.ClaimError as exc:
        raise TrustError(exc.code, str(exc)) from exc
    issued, expires = claim_docs.times(document)
    with transaction.atomic():
        claim = Claim.objects.create(
            claim_id=document["id"],
            peer=peer,
            direction=ClaimDirection.ISSUED,
            claim_type=claim_type,
            issuer=identity.node_id,
            subject=peer.node_id,
            issued_at=issued,
            expires_at=expires,
            document=document,
            issued_by=actor[:150],
        )
        record_event(
            action="claim.issued",
            actor=actor,
            subject=peer.node_id,
            details={"claim": claim.claim_id, "type": claim_type, "expires_at": document["expires_at"]},
        )
        _notify(peer, "claim-event", {"event": "issued", "claim": document})
    return claim


def revoke_claim(*, node_id: str, claim_type: str, actor: str) -> list[Claim]:
    """Revoke every live claim of this type held by the peer; each revocation is signed, audited
    and sent to the peer."""
    if claim_type not in CLAIM_TYPES:
        raise TrustError(claim_docs.BAD_CLAIM, f"unknown claim type {claim_type!r}")
    peer = _peer(node_id)
    identity, now = get_identity(), timezone.now()
    with transaction.atomic():
        live = list(
            Claim.objects.select_for_update()
            .filter(peer=peer, direction=ClaimDirection.ISSUED, claim_type=claim_type)
            .filter(revoked_at__isnull=True)
        )
        if not live:
            raise TrustError("no_claim", f"{peer.node_id} holds no unrevoked {claim_type} claim")
        for claim in live:
            revocation = claim_docs.make_revocation(identity.signing_key, claim.document, revoked_at=now)
            claim.revoked_at, claim.revoked_by, claim.revocation = now, actor[:150], revocation
            claim.save(update_fields=["revoked_at", "revoked_by", "revocation"])
            record_event(
                action="claim.revoked",
                actor=actor,
                subject=peer.node_id,
                details={"claim": claim.claim_id, "type": claim_type},
            )
            _notify(peer, "claim-event", {"event": "revoked", "revocation": revocation})
    return live


@dataclass(frozen=True)
class Notice:
    """An inbound trust-change or claim-event that passed its checks, applied once stored."""

    kind: str
    document: dict[str, Any]


def check_notice(peer: Peer, message_type: str, payload: Any) -> Notice | None:
    """Receiver side, before storing: a notice that is forged, about a third node, expired or
    replayed after revocation raises TrustError (the envelope is refused, nothing changes)."""
    if message_type == "trust-change":
        return _check_trust_change(payload)
    if message_type == "claim-event":
        return _check_claim_event(peer, payload)
    return None


_NOTICE_MEMBERS = {"subject", "tier", "previous", "reasons", "at"}
_REASON_CODE = re.compile(r"[A-Z0-9_]{1,64}")


def _check_trust_change(payload: Any) -> Notice:
    """Strict shape: notices skip the content gates (docs/PROTOCOL.md §8), so they carry codes,
    tiers and a timestamp only, never free text."""
    own = get_identity().node_id
    if not isinstance(payload, dict) or not isinstance(payload.get("subject"), str):
        raise TrustError(NOTICE_INVALID, "a trust-change names its subject node")
    if not crypto.constant_time_equal(payload["subject"], own):
        raise TrustError(THIRD_PARTY_NOTICE, "a trust-change may only be about the node receiving it")
    if not set(payload) <= _NOTICE_MEMBERS:
        raise TrustError(NOTICE_INVALID, f"a trust-change has only the members {', '.join(sorted(_NOTICE_MEMBERS))}")
    try:
        for name in ("tier", "previous"):
            if name in payload:
                parse_tier(payload[name])
        if "at" in payload:
            parse_time(payload["at"])
    except (ValueError, ManifestError) as exc:
        raise TrustError(NOTICE_INVALID, str(exc)) from exc
    reasons = payload.get("reasons", [])
    if not isinstance(reasons, list) or len(reasons) > 10:
        raise TrustError(NOTICE_INVALID, "reasons is a list of at most 10 reason codes")
    if not all(isinstance(r, str) and _REASON_CODE.fullmatch(r) for r in reasons):
        raise TrustError(NOTICE_INVALID, "reason codes are 1-64 characters of A-Z, 0-9 and _")
    return Notice("trust-change", payload)


def _check_claim_event(peer: Peer, payload: Any) -> Notice:
    if not isinstance(payload, dict) or payload.get("event") not in ("issued", "revoked"):
        raise TrustError(claim_docs.BAD_CLAIM, "a claim-event is {event: issued|revoked, claim|revocation: {...}}")
    field = "claim" if payload["event"] == "issued" else "revocation"
    try:
        document = claim_docs.verify(
            payload.get(field),
            issuer=peer.node_id,
            issuer_key=crypto.b64decode(peer.public_key),
            subject=get_identity().node_id,
        )
    except claim_docs.ClaimError as exc:
        raise TrustError(exc.code, str(exc)) from exc
    expected = "claim" if field == "claim" else "revocation"
    if document["kind"] != expected:
        raise TrustError(claim_docs.BAD_CLAIM, f"an {payload['event']} event carries a {expected}")
    known = Claim.objects.filter(peer=peer, direction=ClaimDirection.RECEIVED)
    if expected == "claim":
        _, expires = claim_docs.times(document)
        if expires is not None and expires <= timezone.now():
            raise TrustError(claim_docs.EXPIRED, "the claim has expired")
        if known.filter(claim_id=document["id"], revoked_at__isnull=False).exists():
            raise TrustError(claim_docs.REVOKED, "the claim was revoked; it cannot be replayed")
    elif not known.filter(claim_id=document["claim"]).exists():
        raise TrustError(claim_docs.BAD_CLAIM, "the revocation names a claim this node never received")
    return Notice(payload["event"], document)


def apply_notices(peer: Peer, notices: list[Notice]) -> list[EventSpec]:
    """In the storing transaction: record what the notices say; returns their audit events."""
    events = []
    for notice in notices:
        document = notice.document
        if notice.kind == "trust-change":
            tier = parse_tier(document["tier"])
            Peer.objects.filter(pk=peer.pk).update(remote_tier=tier)
            details = {"tier": tier_name(tier), "reasons": document.get("reasons", [])}
            events.append(EventSpec(action="trust.notice_received", subject=peer.node_id, details=details))
        elif notice.kind == "issued":
            issued, expires = claim_docs.times(document)
            _, created = Claim.objects.get_or_create(
                claim_id=document["id"],
                defaults={
                    "peer": peer,
                    "direction": ClaimDirection.RECEIVED,
                    "claim_type": document["type"],
                    "issuer": document["issuer"],
                    "subject": document["subject"],
                    "issued_at": issued,
                    "expires_at": expires,
                    "document": document,
                },
            )
            if created:
                details = {"claim": document["id"], "type": document["type"], "expires_at": document["expires_at"]}
                events.append(EventSpec(action="claim.received", subject=peer.node_id, details=details))
        else:
            Claim.objects.filter(
                peer=peer, direction=ClaimDirection.RECEIVED, claim_id=document["claim"], revoked_at__isnull=True
            ).update(revoked_at=timezone.now(), revoked_by=peer.node_id[:150], revocation=document)
            events.append(EventSpec(action="claim.revocation_received", subject=peer.node_id, details=document))
    return events


# --- evidence and evaluation --------------------------------------------------------------------


def thresholds() -> scoring.Thresholds:
    lows = settings.FEDERATION_TRUST_MIN_INTERACTIONS
    base = scoring.Thresholds.defaults()
    return scoring.Thresholds(base.upgrade, base.downgrade, dict(zip(sorted(base.min_interactions), lows, strict=True)))


def window_start(now: dt.datetime | None = None) -> dt.datetime:
    return (now or timezone.now()) - dt.timedelta(hours=settings.FEDERATION_TRUST_WINDOW_HOURS)


def gather_evidence(peer_ids: list[int] | None, *, since: dt.datetime) -> tuple[dict[int, scoring.Evidence], dict]:
    """Per peer, the window's counts (and lifetime interactions) in five grouped queries,
    whatever the number of peers."""
    from messaging.models import DeliveryState, OutboxMessage

    def scoped(queryset: Any) -> Any:
        return queryset if peer_ids is None else queryset.filter(peer_id__in=peer_ids)

    counts: dict[int, dict[str, Any]] = {}
    outcomes = (
        scoped(OutboxMessage.objects)
        .filter(finished_at__gte=since, state__in=[DeliveryState.DELIVERED, DeliveryState.REFUSED, "dead_lettered"])
        .values("peer_id", "state")
        .annotate(n=Count("pk"))
    )
    for row in outcomes:
        key = "delivered" if row["state"] == DeliveryState.DELIVERED else "failed"
        entry = counts.setdefault(row["peer_id"], {})
        entry[key] = entry.get(key, 0) + row["n"]
    recent = Q(ended_at__isnull=True) | Q(ended_at__gte=since)
    sessions = (
        scoped(Session.objects)
        .filter(recent)
        .values("peer_id")
        .annotate(
            heartbeats_ok=Sum("heartbeats_ok"),
            heartbeats_failed=Sum("heartbeats_failed"),
            received=Sum("messages_received"),
            refused=Sum("envelopes_refused"),
            hmac_failures=Sum("hmac_failures"),
        )
    )
    for row in sessions:
        counts.setdefault(row.pop("peer_id"), {}).update({k: v or 0 for k, v in row.items()})
    interactions = dict(
        scoped(Session.objects)
        .values("peer_id")
        .annotate(n=Sum(F("messages_sent") + F("messages_received")))
        .values_list("peer_id", "n")
    )
    ids = peer_ids if peer_ids is not None else list(Peer.objects.values_list("pk", flat=True))
    threats = defence.threat_evidence(ids, since=since)
    evidence = {}
    for pk in ids:
        tally = {k: v for k, v in threats.get(pk, {}).items() if k != "confirmed"}
        evidence[pk] = scoring.Evidence(
            **counts.get(pk, {}), threats=tally, threat_penalty=defence.threat_penalty(tally)
        )
    return evidence, {pk: int(n or 0) for pk, n in interactions.items()}


@dataclass(frozen=True)
class Evaluation:
    peer: Peer
    before: int
    after: int
    score: scoring.Score
    reasons: list[str]


def _chunks(queryset: Any, size: int) -> Iterator[list[Peer]]:
    last = 0
    while True:
        chunk = list(queryset.filter(pk__gt=last).order_by("pk")[:size])
        if not chunk:
            return
        yield chunk
        last = chunk[-1].pk


def recompute_all(*, chunk_size: int = 2000, trigger: str = "beat") -> dict[str, int]:
    """Celery beat: resume suspensions whose cooldown ended, apply the circuit breaker, then
    evaluate every peer in chunks (a handful of grouped queries and two bulk writes per chunk)."""
    resumed = resume_cooled_down()
    suspended = check_breakers()
    evaluated = changed = 0
    for chunk in _chunks(Peer.objects.all(), chunk_size):
        results = evaluate(chunk, trigger=trigger)
        evaluated += len(results)
        changed += sum(1 for r in results if r.before != r.after)
    return {"evaluated": evaluated, "changed": changed, "suspended": suspended, "resumed": resumed}


def evaluate(peers: list[Peer], *, trigger: str) -> list[Evaluation]:
    now = timezone.now()
    since = window_start(now)
    evidence, interactions = gather_evidence([p.pk for p in peers], since=since)
    limits = thresholds()
    last_kept = _last_history([p.pk for p in peers])
    results, history, events, notices = [], [], [], []
    for peer in peers:
        computed = scoring.score(evidence[peer.pk], window_hours=settings.FEDERATION_TRUST_WINDOW_HOURS)
        count = interactions.get(peer.pk, 0)
        move = scoring.next_tier(
            peer.trust_tier,
            computed.value,
            count,
            thresholds=limits,
            privileged_approved=bool(peer.privileged_approved_at),
            held=bool(peer.demoted_for),
        )
        before_effective = peer.effective_tier
        reasons = computed.reasons + move.reasons + ([peer.demoted_for] if peer.demoted_for else [])
        if peer.pinned_tier is not None:
            reasons.append("PINNED_BY_OPERATOR")
        if peer.tier_cap is not None and move.tier > peer.tier_cap:
            reasons.append("CAPPED_BY_OPERATOR")
        result = Evaluation(peer, peer.trust_tier, move.tier, computed, reasons)
        results.append(result)
        changed_tier = move.tier != peer.trust_tier
        previous = peer.trust_inputs or {}
        kept = last_kept.get(peer.pk)
        if (
            changed_tier
            or previous.get("reasons") != reasons
            or abs((peer.trust_score or 0) - computed.value) >= 0.01
            or kept is None
            or now - kept >= HISTORY_EVERY
        ):
            history.append(
                TrustEvaluation(
                    peer=peer,
                    evaluated_at=now,
                    score=computed.value,
                    inputs=computed.inputs,
                    reasons=reasons,
                    tier_before=peer.trust_tier,
                    tier_after=move.tier,
                    interactions=count,
                    trigger=trigger,
                )
            )
        peer.trust_tier, peer.trust_score, peer.interactions = move.tier, computed.value, count
        peer.trust_inputs = {"score": computed.value, "inputs": computed.inputs, "reasons": reasons}
        peer.trust_evaluated_at = now
        if changed_tier:
            details = {
                "from": tier_name(result.before),
                "to": tier_name(move.tier),
                "score": computed.value,
                "interactions": count,
                "reasons": reasons,
            }
            events.append(EventSpec(action="trust.changed", subject=peer.node_id, details=details))
        if peer.effective_tier != before_effective:
            notices.append((peer, before_effective, reasons))
    with transaction.atomic():
        _write_evaluations(peers)
        TrustEvaluation.objects.bulk_create(history, batch_size=500)
        record_events(events)
        _notify_many([_tier_notice(peer, before, reasons) for peer, before, reasons in notices])
    return results


_EVALUATED = (
    ("trust_tier", "integer"),
    ("trust_score", "double precision"),
    ("interactions", "bigint"),
    ("trust_inputs", "jsonb"),
    ("trust_evaluated_at", "timestamp with time zone"),
)


def _write_evaluations(peers: list[Peer], chunk: int = 500) -> None:
    """One UPDATE … FROM (VALUES …) per 500 peers: Django's bulk_update builds a CASE per row and
    field, which takes seconds for 10,000 peers (docs/BENCHMARKS.md). PostgreSQL needs the
    parameters' types; SQLite (3.33+) takes them as they come."""
    table, ops = Peer._meta.db_table, connection.ops
    typed = connection.vendor == "postgresql"
    row = "(" + ", ".join(f"CAST(%s AS {t})" if typed else "%s" for t in ("bigint", *(t for _, t in _EVALUATED))) + ")"
    assignments = ", ".join(f"{name} = v.column{i}" for i, (name, _) in enumerate(_EVALUATED, start=2))
    with connection.cursor() as cursor:
        for start in range(0, len(peers), chunk):
            part = peers[start : start + chunk]
            params: list[Any] = []
            for peer in part:
                params += [
                    peer.pk,
                    peer.trust_tier,
                    peer.trust_score,
                    peer.interactions,
                    json.dumps(peer.trust_inputs),
                    ops.adapt_datetimefield_value(peer.trust_evaluated_at),
                ]
            values = ", ".join([row] * len(part))
            cursor.execute(
                f"UPDATE {table} SET {assignments} FROM (VALUES {values}) AS v WHERE {table}.id = v.column1",  # noqa: S608 - names are ours
                params,
            )


def _last_history(peer_ids: list[int]) -> dict[int, dt.datetime]:
    rows = TrustEvaluation.objects.filter(peer_id__in=peer_ids).values("peer_id").annotate(at=Max("evaluated_at"))
    return {row["peer_id"]: row["at"] for row in rows}


def _tier_notice(peer: Peer, before: int, reasons: list[str]) -> tuple[Peer, str, dict[str, Any]]:
    payload = {
        "subject": peer.node_id,
        "tier": tier_name(peer.effective_tier),
        "previous": tier_name(before),
        "reasons": [r for r in reasons if r.isupper()][:10],
        "at": format_time(timezone.now()),
    }
    return peer, "trust-change", payload


def _notify_tier(peer: Peer, before: int, reasons: list[str]) -> None:
    _notify_many([_tier_notice(peer, before, reasons)])


def evaluate_one(node_id: str, *, trigger: str = "operator") -> Evaluation:
    return evaluate([_peer(node_id)], trigger=trigger)[0]


# --- safety demotions ---------------------------------------------------------------------------


def demote(peer: Peer, *, code: str, details: dict[str, Any]) -> bool:
    """Immediately to UNTRUSTED, pin cleared, held there until an operator reactivates the peer.
    Returns whether anything changed (a peer already held for a safety reason stays as it is)."""
    with transaction.atomic():
        peer = Peer.objects.select_for_update().get(pk=peer.pk)
        if peer.demoted_for and peer.effective_tier == TrustTier.UNTRUSTED:
            return False
        before, pin = peer.effective_tier, peer.pinned_tier
        peer.trust_tier, peer.demoted_for = TrustTier.UNTRUSTED, code
        peer.pinned_tier, peer.pin_reason, peer.pinned_by, peer.pinned_at = None, "", "", None
        reasons = [code]
        peer.trust_inputs = {**(peer.trust_inputs or {}), "reasons": reasons}
        peer.save(
            update_fields=[
                "trust_tier", "demoted_for", "pinned_tier", "pin_reason", "pinned_by", "pinned_at", "trust_inputs",
                "updated_at",
            ]
        )  # fmt: skip
        TrustEvaluation.objects.create(
            peer=peer,
            score=peer.trust_score if peer.trust_score is not None else 0.0,
            inputs={"event": details},
            reasons=reasons,
            tier_before=before,
            tier_after=TrustTier.UNTRUSTED,
            interactions=peer.interactions,
            trigger="event",
        )
        record_event(
            action="trust.changed",
            outcome=Outcome.DENIED,
            subject=peer.node_id,
            details={
                "from": tier_name(before),
                "to": tier_name(TrustTier.UNTRUSTED),
                "reasons": reasons,
                **({"pin_cleared": tier_name(pin)} if pin is not None else {}),
                **details,
            },
        )
        _notify_tier(peer, before, reasons)
    return True


def check_threats(peer_ids: Iterable[int]) -> list[int]:
    """After inbound detections: two or more within an hour demote the peer at once."""
    since = timezone.now() - dt.timedelta(hours=1)
    tallies = defence.threat_evidence(set(peer_ids), since=since)
    demoted = []
    for peer in Peer.objects.filter(pk__in=list(tallies)):
        count = sum(n for action, n in tallies[peer.pk].items() if action != "confirmed")
        if count >= 2 and demote(peer, code=REPEATED_THREATS, details={"threats_last_hour": count}):
            demoted.append(peer.pk)
    return demoted


# --- operator actions ---------------------------------------------------------------------------


def pin(*, node_id: str, tier: int | None, reason: str, actor: str) -> Peer:
    """Operator pin (or, with None, unpin) of a peer's tier; the earned tier is kept underneath."""
    with transaction.atomic():
        peer = Peer.objects.select_for_update().filter(node_id=node_id).first()
        if peer is None:
            raise TrustError("unknown_peer", f"no peer {node_id}")
        if tier is not None and not reason.strip():
            raise TrustError("reason_required", "pinning a tier needs a reason")
        before = peer.effective_tier
        peer.pinned_tier, peer.pin_reason = tier, reason.strip()[:300] if tier is not None else ""
        peer.pinned_by, peer.pinned_at = (actor[:150], timezone.now()) if tier is not None else ("", None)
        peer.save(update_fields=["pinned_tier", "pin_reason", "pinned_by", "pinned_at", "updated_at"])
        record_event(
            action="trust.pinned" if tier is not None else "trust.unpinned",
            actor=actor,
            subject=node_id,
            details={
                "from": tier_name(before),
                "to": tier_name(peer.effective_tier),
                "reason": peer.pin_reason or "unpinned",
            },
        )
        if peer.effective_tier != before:
            _notify_tier(peer, before, ["PINNED_BY_OPERATOR" if tier is not None else "PIN_REMOVED"])
    return peer


def set_cap(*, node_id: str, tier: int | None, reason: str, actor: str) -> Peer:
    peer = _peer(node_id)
    if tier is not None and not reason.strip():
        raise TrustError("reason_required", "capping a tier needs a reason")
    before = peer.effective_tier
    peer.tier_cap, peer.cap_reason = tier, reason.strip()[:300] if tier is not None else ""
    with transaction.atomic():
        peer.save(update_fields=["tier_cap", "cap_reason", "updated_at"])
        record_event(
            action="trust.capped" if tier is not None else "trust.uncapped",
            actor=actor,
            subject=peer.node_id,
            details={"cap": tier_name(tier) if tier is not None else None, "reason": peer.cap_reason or "uncapped"},
        )
        if peer.effective_tier != before:
            _notify_tier(peer, before, ["CAPPED_BY_OPERATOR" if tier is not None else "CAP_REMOVED"])
    return peer


def approve_privileged(*, node_id: str, actor: str) -> Evaluation:
    """The human approval PRIVILEGED needs; the peer is evaluated at once."""
    peer = _peer(node_id)
    with transaction.atomic():
        Peer.objects.filter(pk=peer.pk).update(
            privileged_approved_by=actor[:150], privileged_approved_at=timezone.now()
        )
        record_event(action="trust.privileged_approved", actor=actor, subject=peer.node_id)
    return evaluate_one(node_id, trigger="operator")


def _set_state(peer: Peer, state: str, *, reason: str, actor: str, until: dt.datetime | None = None) -> Peer:
    previous = peer.state
    peer.state, peer.state_reason, peer.state_changed_at, peer.suspended_until = (
        state, reason[:300], timezone.now(), until
    )  # fmt: skip
    peer.save(update_fields=["state", "state_reason", "state_changed_at", "suspended_until", "updated_at"])
    record_event(
        action=STATE_EVENTS[state],
        outcome=Outcome.SUCCESS if state == PeerState.ACTIVE else Outcome.DENIED,
        actor=actor,
        subject=peer.node_id,
        details={
            "from": previous,
            "to": state,
            "reason": reason[:300],
            **({"until": until.isoformat()} if until else {}),
        },
    )
    return peer


def suspend(*, node_id: str, reason: str, actor: str, minutes: int | None = None) -> Peer:
    peer = _peer(node_id)
    if peer.state == PeerState.EVICTED:
        raise TrustError("peer_evicted", "an evicted peer cannot be suspended; reactivate it first")
    minutes = minutes or settings.FEDERATION_BREAKER_COOLDOWN_MINUTES
    with transaction.atomic():
        return _set_state(
            peer, PeerState.SUSPENDED, reason=reason, actor=actor, until=timezone.now() + dt.timedelta(minutes=minutes)
        )


def evict(*, node_id: str, reason: str, actor: str) -> Peer:
    """Ends the peer's sessions, dead-letters what waits for it, refuses it until reactivated."""
    from messaging.services import dead_letter_waiting

    if not reason.strip():
        raise TrustError("reason_required", "evicting a peer needs a reason")
    peer = _peer(node_id)
    if peer.state == PeerState.EVICTED:
        raise TrustError("already_evicted", f"{peer.node_id} is already evicted")
    with transaction.atomic():
        _set_state(peer, PeerState.EVICTED, reason=reason.strip(), actor=actor)
        Session.objects.filter(peer=peer, state__in=LIVE_SESSION_STATES).update(
            state=SessionState.TERMINATED, ended_at=timezone.now(), end_reason="evicted"
        )
        dead_letter_waiting(peer, code="PEER_EVICTED", note="the peer was evicted")
    return peer


def reactivate(*, node_id: str, reason: str, actor: str) -> Peer:
    """Explicit way back from suspension, eviction or a safety demotion. The peer returns to
    VERIFIED when it holds a live session (else at its next handshake) and climbs from there."""
    peer = _peer(node_id)
    if peer.state == PeerState.ACTIVE and not peer.demoted_for:
        raise TrustError("already_active", f"{peer.node_id} is active and not held by a safety demotion")
    with transaction.atomic():
        held_for = peer.demoted_for
        if held_for:
            live = Session.objects.filter(peer=peer, state__in=LIVE_SESSION_STATES, expires_at__gt=timezone.now())
            peer.demoted_for = ""
            peer.trust_tier = TrustTier.VERIFIED if live.exists() else TrustTier.UNTRUSTED
            peer.save(update_fields=["demoted_for", "trust_tier", "updated_at"])
        _set_state(peer, PeerState.ACTIVE, reason=reason or "reactivated by an operator", actor=actor)
        if held_for:
            _notify_tier(peer, TrustTier.UNTRUSTED, ["REACTIVATED_BY_OPERATOR"])
    return peer


# --- circuit breaker ----------------------------------------------------------------------------


def _spend(budget: Any) -> Decimal:
    try:
        value = Decimal(str(budget.get("usedUsd", 0))) if isinstance(budget, dict) else Decimal(0)
    except InvalidOperation:
        return Decimal(0)
    return value if value.is_finite() and value > 0 else Decimal(0)


def check_breakers(peer_ids: Iterable[int] | None = None) -> int:
    """Suspend active peers whose reported spend (usedUsd of the task-results they sent) or whose
    delivery failure ratio over the breaker window crossed the limits. Returns how many."""
    from messaging.models import DeliveryState, InboxMessage, OutboxMessage

    since = timezone.now() - dt.timedelta(minutes=settings.FEDERATION_BREAKER_WINDOW_MINUTES)
    active = Peer.objects.filter(state=PeerState.ACTIVE)
    if peer_ids is not None:
        active = active.filter(pk__in=list(peer_ids))
    spend: dict[int, Decimal] = {}
    results = InboxMessage.objects.filter(message_type="task-result", received_at__gte=since, peer__in=active)
    for peer_id, budget in results.values_list("peer_id", "budget").iterator():
        spend[peer_id] = spend.get(peer_id, Decimal(0)) + _spend(budget)
    ratios: dict[int, tuple[int, int]] = {}
    finished = OutboxMessage.objects.filter(
        finished_at__gte=since,
        peer__in=active,
        state__in=[DeliveryState.DELIVERED, DeliveryState.REFUSED, DeliveryState.DEAD_LETTERED],
    )
    for row in finished.values("peer_id").annotate(
        n=Count("pk"), failed=Count("pk", filter=~Q(state=DeliveryState.DELIVERED))
    ):
        ratios[row["peer_id"]] = (row["failed"], row["n"])
    limit = Decimal(settings.FEDERATION_BREAKER_MAX_USD)
    trips: dict[int, str] = {}
    for peer_id, total in spend.items():
        if total > limit:
            trips[peer_id] = (
                f"COST_OVER_LIMIT: {total} USD reported in {settings.FEDERATION_BREAKER_WINDOW_MINUTES} min"
            )
    for peer_id, (failed, n) in ratios.items():
        if (
            n >= settings.FEDERATION_BREAKER_MIN_SAMPLES
            and failed * 100 >= n * settings.FEDERATION_BREAKER_FAILURE_PERCENT
        ):
            trips.setdefault(peer_id, f"FAILURE_RATIO: {failed} of {n} deliveries failed")
    for peer in Peer.objects.filter(pk__in=list(trips)):
        suspend(node_id=peer.node_id, reason=trips[peer.pk], actor="circuit-breaker")
    return len(trips)


def resume_cooled_down() -> int:
    """Suspensions end on their own when their cooldown has passed (evictions never do)."""
    due = list(Peer.objects.filter(state=PeerState.SUSPENDED, suspended_until__lte=timezone.now()))
    with transaction.atomic():
        for peer in due:
            _set_state(peer, PeerState.ACTIVE, reason="cooldown ended", actor="circuit-breaker")
    return len(due)


def valid_issued(peer: Peer) -> list[Claim]:
    return list(peer.claims.filter(valid_claims_filter(), direction=ClaimDirection.ISSUED))
