"""Sending, delivering and receiving envelopes; the memory store — the writes of messaging.

Sending writes an outbox row and its audit event in one transaction and returns the id; Celery
delivers (messaging.tasks.deliver → `deliver_due`) over the peer's session with retries, backoff
and jitter until the message is delivered, refused or dead-lettered. The receiver
(`receive_batch`, called by the envelope WebSocket consumer) checks each envelope, stores it in
the inbox at most once, and answers per envelope: stored, duplicate or refused with a reason.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import random
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from compliance.models import Outcome
from compliance.services import EventSpec, record_event, record_events
from defence import services as defence
from defence.engine import DefenceError
from federation import capabilities, crypto, tls
from federation import envelope as env
from federation.canonical import CanonicalJSONError, canonical_json
from federation.services import get_identity
from messaging import transport
from messaging.models import DeliveryState, InboxMessage, InboxStatus, MemoryEntry, OutboxMessage, SeenEnvelope
from peers.models import LIVE_SESSION_STATES, Peer, PeerState, Session
from peers.services import open_mac_key
from pii import services as pii_services
from pii.engine import ScanError
from trust import authz
from trust import services as trust

NOT_PERMITTED = "NOT_PERMITTED"
UNKNOWN_PEER = "UNKNOWN_PEER"
UNKNOWN_SESSION = "UNKNOWN_SESSION"
SESSION_EXPIRED = "SESSION_EXPIRED"
CERTIFICATE_MISMATCH = "CERTIFICATE_MISMATCH"
REPLAYED = "REPLAYED"
SEQUENCE_OUT_OF_WINDOW = "SEQUENCE_OUT_OF_WINDOW"
NO_SESSION = "NO_SESSION"
NOT_FOUND = "NOT_FOUND"

SEQUENCE_WINDOW = 4096
BATCH_SIZE = 200
LEASE_SECONDS = 20
LINGER_SECONDS = 2.0
MAX_RUN_SECONDS = 20.0
# Refusals an honest sender can cure by signing again later (fresh session, sequence, clock).
# Clock errors go both ways, so EXPIRED and FUTURE_DATED are both retried until the dead letter.
RETRYABLE = frozenset(
    {UNKNOWN_SESSION, SESSION_EXPIRED, SEQUENCE_OUT_OF_WINDOW, env.EXPIRED, env.FUTURE_DATED, "INTERNAL"}
)


class MessagingError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# --- sending ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """What a caller asks to send, checked before anything is written."""

    message_type: str
    payload: Any
    budget: env.Budget
    hops: list[str]
    reply_to: str = ""


class PiiBlocked(MessagingError):
    """The outbound PII policy blocks this payload for this peer; ``scan`` says which types."""

    def __init__(self, message: str, scan: dict[str, Any]) -> None:
        super().__init__(pii_services.PII_BLOCKED, message)
        self.scan = scan


class ThreatBlocked(MessagingError):
    """The outbound AI-defence gate blocks this payload for this peer; ``scan`` says why (no text)."""

    def __init__(self, message: str, scan: dict[str, Any]) -> None:
        super().__init__(defence.THREAT_BLOCKED, message)
        self.scan = scan


def _details(exc: MessagingError, draft: Draft) -> dict[str, Any]:
    details: dict[str, Any] = {"type": draft.message_type}
    if isinstance(exc, PiiBlocked):
        details["pii"] = exc.scan
    if isinstance(exc, ThreatBlocked):
        details["threat"] = exc.scan
    return details


def _refuse_send(code: str, message: str, *, actor: str, subject: str, details: dict[str, Any]) -> MessagingError:
    record_event(
        action="message.send_refused",
        outcome=Outcome.DENIED,
        actor=actor,
        subject=subject[:200],
        details={**details, "reason": code, "message": message[:300]},
    )
    return MessagingError(code, message)


def make_draft(
    *,
    message_type: str,
    payload: Any,
    max_hops: Any = env.DEFAULT_MAX_HOPS,
    max_tokens: Any = None,
    max_usd: Any = None,
    reply_to: str = "",
) -> Draft:
    """Validate type, payload (UTF-8, depth, size) and budget; raises EnvelopeError."""
    if message_type not in env.MESSAGE_TYPES:
        raise env.EnvelopeError(env.UNKNOWN_TYPE, f"unknown message type {message_type!r}")
    env.check_depth(payload)
    env.check_strings(payload)
    try:
        size = len(canonical_json(payload))
    except CanonicalJSONError as exc:
        raise env.EnvelopeError(env.MALFORMED, f"the payload is not canonical JSON: {exc}") from exc
    limit = settings.FEDERATION_ENVELOPE_MAX_BYTES - 2048  # room for the envelope's other fields
    if size > limit:
        raise env.EnvelopeError(env.OVERSIZED, f"the payload is {size} bytes; at most {limit} fit in an envelope")
    budget = env.make_budget(max_hops=max_hops, max_tokens=max_tokens, max_usd=max_usd)
    return Draft(message_type, payload, budget, [get_identity().node_id], reply_to)


def _check_peer(
    peer: Peer | None, node_id: str, message_type: str, claims: dict[int, authz.ClaimStates] | None = None
) -> Peer:
    """The sending side of `trust.authz.authorize`: state, tier and claims of the peer."""
    if peer is None:
        raise MessagingError(UNKNOWN_PEER, f"no peer {node_id}")
    try:
        authz.authorize(peer, message_type, outbound=True, claims=None if claims is None else claims.get(peer.pk, {}))
    except authz.Denied as exc:
        raise MessagingError(exc.code, str(exc)) from exc
    return peer


@dataclass(frozen=True)
class Screened:
    """A draft after this node's PII pipeline and AI-defence gate for one peer: what will be
    signed and sent (or held for an analyst, when the gate quarantines it)."""

    peer: Peer
    draft: Draft
    scan: dict[str, Any]
    gate: defence.Gate | None = None

    @property
    def held(self) -> bool:
        return self.gate is not None and self.gate.action == defence.Action.QUARANTINE


@dataclass(frozen=True)
class Gates:
    """The PII policies and AI-defence configuration in force, read once per batch."""

    pii: pii_services.Policies
    defence: defence.Config


def _gates() -> Gates:
    return Gates(pii_services.current_policies(), defence.config())


def _screen(peer: Peer, draft: Draft, gates: Gates | None = None) -> Screened:
    """Outbound PII policy, then the outbound AI-defence gate, for this peer's tier: before
    anything is written or signed. A block is recorded (detection and audit event) and raised.
    Our own trust notices are signed documents without free text: no gate may alter them."""
    if draft.message_type in capabilities.OWN_NOTICES:
        return Screened(peer, draft, {})
    gates = gates or _gates()
    try:
        outcome = pii_services.screen(draft.payload, peer=peer, policies=gates.pii)
    except ScanError as exc:
        raise MessagingError(exc.code, exc.message) from exc
    if outcome.blocked:
        raise PiiBlocked(pii_services.blocked_message(outcome), outcome.summary())
    if outcome.changed and len(canonical_json(outcome.payload)) > settings.FEDERATION_ENVELOPE_MAX_BYTES - 2048:
        raise MessagingError(env.OVERSIZED, "the payload no longer fits in an envelope once hashed")
    draft = replace(draft, payload=outcome.payload) if outcome.changed else draft
    try:
        gate = defence.check(draft.payload, peer=peer, cfg=gates.defence)
    except DefenceError as exc:
        raise MessagingError(exc.code, exc.message) from exc
    if gate.action == defence.Action.BLOCK:
        defence.record(
            gate, payload=draft.payload, peer=peer, direction="outbound", message_id="", message_type=draft.message_type
        )
        raise ThreatBlocked(gate.blocked_message(), gate.summary())
    return Screened(peer, draft, outcome.summary(), gate if gate.detected else None)


def _queue_all(screened: list[Screened], *, actor: str, broadcast_id: str = "") -> list[OutboxMessage]:
    """Outbox rows and their audit events, in the caller's transaction."""
    now = timezone.now()
    messages = [
        OutboxMessage(
            message_id=env.new_id(),
            peer=peer,
            node_id=peer.node_id,
            message_type=draft.message_type,
            payload=draft.payload,
            budget=draft.budget.as_json(),
            hops=draft.hops,
            reply_to=draft.reply_to,
            broadcast_id=broadcast_id,
            created_by=actor[:150],
            created_at=now,
            next_attempt_at=now,
            pii_scan=item.scan,
            state=DeliveryState.HELD if item.held else DeliveryState.QUEUED,
            threat_scan=item.gate.summary() if item.gate else {},
        )
        for item in screened
        for peer, draft in [(item.peer, item.draft)]
    ]
    OutboxMessage.objects.bulk_create(messages)
    detections = [
        (
            item.gate,
            defence.detection_row(
                item.gate,
                payload=message.payload,
                peer=message.peer,
                direction="outbound",
                message_id=message.message_id,
                message_type=message.message_type,
            ),
        )
        for item, message in zip(screened, messages, strict=True)
        if item.gate is not None
    ]
    threat_events = defence.record_with(detections)
    record_events(
        [
            EventSpec(
                action="message.queued",
                actor=actor,
                subject=message.node_id,
                details={
                    "id": message.message_id,
                    "type": message.message_type,
                    "budget": message.budget,
                    "hops": len(message.hops),
                    **({"reply_to": message.reply_to} if message.reply_to else {}),
                    **({"broadcast": broadcast_id} if broadcast_id else {}),
                    **({"pii": message.pii_scan} if message.pii_scan else {}),
                    **({"threat": message.threat_scan} if message.threat_scan else {}),
                },
            )
            for message in messages
        ]
        + threat_events
    )
    return messages


def _queue(screened: Screened, *, actor: str, broadcast_id: str = "") -> OutboxMessage:
    return _queue_all([screened], actor=actor, broadcast_id=broadcast_id)[0]


def _kick_delivery() -> None:
    from messaging import tasks  # tasks import this module

    transaction.on_commit(tasks.kick, robust=True)


def send(*, node_id: str, draft: Draft, actor: str) -> OutboxMessage:
    """Queue one message for one peer; the caller gets the persisted outbox row (and its id)."""
    peer = Peer.objects.filter(node_id=node_id).first()
    try:
        screened = _screen(_check_peer(peer, node_id, draft.message_type), draft)
    except MessagingError as exc:
        raise _refuse_send(exc.code, str(exc), actor=actor, subject=node_id, details=_details(exc, draft)) from exc
    with transaction.atomic():
        message = _queue(screened, actor=actor)
        _kick_delivery()
    return message


MAX_BATCH_SEND = 500


def send_many(*, items: list[tuple[str, Draft]], actor: str) -> list[OutboxMessage]:
    """Queue several messages in one transaction (agents with a burst of work): all or none.
    Each still becomes its own envelope with its own id, audit event and delivery state."""
    if not 0 < len(items) <= MAX_BATCH_SEND:
        raise MessagingError("INVALID_BATCH", f"a batch holds 1 to {MAX_BATCH_SEND} messages")
    peers = {p.node_id: p for p in Peer.objects.filter(node_id__in={node_id for node_id, _ in items})}
    screened, gates = [], _gates()
    claims = authz.claim_states(p.pk for p in peers.values())
    for index, (node_id, draft) in enumerate(items):
        try:
            peer = _check_peer(peers.get(node_id), node_id, draft.message_type, claims)
            screened.append(_screen(peer, draft, gates))
        except MessagingError as exc:
            raise _refuse_send(
                exc.code, f"message {index}: {exc}", actor=actor, subject=node_id, details=_details(exc, draft)
            ) from exc
    with transaction.atomic():
        messages = _queue_all(screened, actor=actor)
        _kick_delivery()
    return messages


@dataclass(frozen=True)
class BroadcastResult:
    node_id: str
    message: OutboxMessage | None
    code: str = ""
    reason: str = ""


def broadcast(*, draft: Draft, actor: str) -> tuple[str, list[BroadcastResult]]:
    """One separately signed envelope per eligible peer (tier allows the type, session live);
    every other peer is listed with the reason it was skipped."""
    broadcast_id = env.new_id()
    live = set(
        Session.objects.filter(state__in=LIVE_SESSION_STATES, expires_at__gt=timezone.now()).values_list(
            "peer_id", flat=True
        )
    )
    results: list[BroadcastResult] = []
    gates = _gates()
    with transaction.atomic():
        peers = list(Peer.objects.order_by("node_id"))
        claims = authz.claim_states(p.pk for p in peers)
        for peer in peers:
            try:
                _check_peer(peer, peer.node_id, draft.message_type, claims)
                if peer.pk not in live:
                    raise MessagingError(NO_SESSION, "no live session with this peer")
                screened = _screen(peer, draft, gates)  # per peer: each tier has its own policy
            except MessagingError as exc:
                results.append(BroadcastResult(peer.node_id, None, exc.code, str(exc)))
                continue
            results.append(BroadcastResult(peer.node_id, _queue(screened, actor=actor, broadcast_id=broadcast_id)))
        record_event(
            action="message.broadcast",
            actor=actor,
            details={
                "broadcast": broadcast_id,
                "type": draft.message_type,
                "queued": sum(1 for r in results if r.message),
                "skipped": {r.node_id: r.code for r in results if not r.message},
            },
        )
        _kick_delivery()
    return broadcast_id, results


def forward(
    *, inbox_id: str, node_id: str, actor: str, spent_tokens: int = 0, spent_usd: Decimal | float | int = 0
) -> OutboxMessage:
    """Pass a received message on. The budget carries what this node spent; the hop chain gets
    this node appended; loops, exhausted hops and exhausted budgets are refused here first."""
    received = InboxMessage.objects.filter(message_id=inbox_id).first()
    if received is None:
        raise MessagingError(NOT_FOUND, f"no inbox message {inbox_id}")
    details = {"forwarding": inbox_id, "type": received.message_type}
    try:
        budget = env.parse_budget(received.budget).spend(tokens=spent_tokens, usd=spent_usd)
        hops = [*received.hops, get_identity().node_id]
        env.check_route(budget, hops, here=node_id)
    except env.EnvelopeError as exc:
        raise _refuse_send(exc.code, str(exc), actor=actor, subject=node_id, details=details) from exc
    draft = Draft(received.message_type, received.payload, budget, hops, received.reply_to)
    return send(node_id=node_id, draft=draft, actor=actor)


def reply(
    *,
    inbox_id: str,
    payload: Any,
    actor: str,
    spent_tokens: int = 0,
    spent_usd: Decimal | float | int = 0,
) -> OutboxMessage:
    """Answer a received task (task-result) or memory query (memory-response); the answer's
    budget is the request's plus what answering cost, so the asker can enforce its limits."""
    received = InboxMessage.objects.select_related("peer").filter(message_id=inbox_id).first()
    if received is None:
        raise MessagingError(NOT_FOUND, f"no inbox message {inbox_id}")
    if received.peer is None:
        raise MessagingError(UNKNOWN_PEER, f"the peer {received.node_id} was removed")
    answer_type = {"task-assignment": "task-result", "memory-query": "memory-response"}.get(received.message_type)
    if answer_type is None:
        raise MessagingError("NOT_ANSWERABLE", f"a {received.message_type} message takes no reply")
    try:
        draft = make_draft(message_type=answer_type, payload=payload)
        budget = env.parse_budget(received.budget).spend(tokens=spent_tokens, usd=spent_usd)
    except env.EnvelopeError as exc:
        raise _refuse_send(
            exc.code, str(exc), actor=actor, subject=received.peer.node_id, details={"reply_to": inbox_id}
        ) from exc
    draft = Draft(answer_type, payload, budget, draft.hops, received.message_id)
    with transaction.atomic():
        message = send(node_id=received.peer.node_id, draft=draft, actor=actor)
        InboxMessage.objects.filter(pk=received.pk).update(status=InboxStatus.HANDLED, handled_at=timezone.now())
    return message


def requeue(*, message_ids: list[str], actor: str) -> int:
    """Give dead-lettered messages a fresh retry budget (admin action, REST)."""
    with transaction.atomic():
        rows = list(
            OutboxMessage.objects.select_for_update().filter(
                message_id__in=message_ids, state=DeliveryState.DEAD_LETTERED, peer__isnull=False
            )
        )
        for message in rows:
            record_event(
                action="message.requeued",
                actor=actor,
                subject=message.node_id,
                details={"id": message.message_id, "attempts": message.attempts},
            )
        OutboxMessage.objects.filter(pk__in=[m.pk for m in rows]).update(
            state=DeliveryState.QUEUED,
            attempts=0,
            next_attempt_at=timezone.now(),
            claimed_until=None,
            last_error="",
            finished_at=None,
        )
        if rows:
            _kick_delivery()
    return len(rows)


# --- delivering ---------------------------------------------------------------------------------


@dataclass
class Lease:
    """Due messages of one peer leased to this run, with the session and the sequence numbers
    they will be signed with (no session: they wait for one)."""

    peer: Peer
    messages: list[OutboxMessage]
    session: Session | None
    first_seq: int


def _lease(limit: int) -> Lease | None:
    """Lease up to `limit` due messages of one peer and reserve their sequence numbers, in one
    transaction (one durable commit). The due conditions are repeated in the UPDATE, so two
    workers racing for the same rows cannot both win them: on PostgreSQL the loser's UPDATE
    waits for the winner's row locks and then re-checks these conditions on the rows as the
    winner left them. That re-check only covers the row's own columns (a condition through a
    join becomes a subquery answered from the old snapshot), so the peer's state is checked when
    choosing the candidates and the UPDATE repeats only the conditions on the message itself."""
    now = timezone.now()
    row_due = Q(state=DeliveryState.QUEUED, next_attempt_at__lte=now) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )
    due = row_due & Q(peer__state=PeerState.ACTIVE)
    candidates = list(OutboxMessage.objects.filter(due).order_by("id").values_list("pk", "peer_id")[: limit * 2])
    if not candidates:
        return None
    peer_id = candidates[0][1]  # the oldest due message decides whose batch this is
    ids = [pk for pk, owner in candidates if owner == peer_id][:limit]
    token = secrets.token_hex(8)
    with transaction.atomic():
        OutboxMessage.objects.filter(row_due, pk__in=ids).update(
            claim_token=token, claimed_until=now + dt.timedelta(seconds=LEASE_SECONDS)
        )
        claimed = list(
            OutboxMessage.objects.select_related("peer").filter(claim_token=token, pk__in=ids).order_by("id")
        )
        if not claimed:
            return None
        if claimed[0].peer.state != PeerState.ACTIVE:  # suspended or evicted since the candidates were read
            OutboxMessage.objects.filter(claim_token=token).update(claimed_until=None)
            return None
        session = _live_session(claimed[0].peer)
        first_seq = _reserve_sequence(session, len(claimed)) if session else 0
    return Lease(claimed[0].peer, claimed, session, first_seq)


def _backoff(attempts: int) -> dt.timedelta:
    """Exponential with 'equal jitter': half the delay fixed, half random, capped."""
    base = settings.FEDERATION_DELIVERY_BACKOFF_MS / 1000 * 2 ** max(attempts - 1, 0)
    delay = min(base, settings.FEDERATION_DELIVERY_BACKOFF_MAX_SECONDS)
    return dt.timedelta(seconds=delay / 2 + random.uniform(0, delay / 2))  # noqa: S311 - jitter, not secrecy


def _live_session(peer: Peer) -> Session | None:
    return (
        Session.objects.filter(peer=peer, state__in=LIVE_SESSION_STATES, expires_at__gt=timezone.now())
        .order_by("state", "-established_at")  # "active" sorts before "unhealthy"
        .first()
    )


def _reserve_sequence(session: Session, count: int) -> int:
    """In the caller's transaction, under a row lock: numbers are never handed out twice, even
    by overlapping runs, and the reservation is as durable as the lease."""
    last = Session.objects.select_for_update().values_list("envelope_seq_sent", flat=True).get(pk=session.pk)
    Session.objects.filter(pk=session.pk).update(envelope_seq_sent=last + count)
    return last + 1


def _commit_without_waiting_for_disk() -> None:
    """For writes a crash may lose harmlessly, on PostgreSQL: do not wait for the WAL flush.
    A lost settlement only means the lease expires and the batch is sent again, which the
    receiver answers "duplicate"; rows and their audit events still commit or vanish together."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _retry_or_dead_letter(peer: Peer, messages: list[OutboxMessage], code: str, text: str) -> None:
    now = timezone.now()
    events = []
    with transaction.atomic():
        _commit_without_waiting_for_disk()
        for message in messages:
            attempts = message.attempts + 1
            if attempts >= settings.FEDERATION_DELIVERY_MAX_ATTEMPTS:
                updated = OutboxMessage.objects.filter(pk=message.pk, claim_token=message.claim_token).update(
                    state=DeliveryState.DEAD_LETTERED,
                    attempts=attempts,
                    last_error=code[:64],
                    refusal_message=text[:300],
                    claimed_until=None,
                    finished_at=now,
                )
                if updated:
                    events.append(
                        EventSpec(
                            action="message.dead_lettered",
                            outcome=Outcome.FAILURE,
                            subject=peer.node_id,
                            details={"id": message.message_id, "attempts": attempts, "reason": code},
                        )
                    )
            else:
                OutboxMessage.objects.filter(pk=message.pk, claim_token=message.claim_token).update(
                    attempts=attempts,
                    last_error=code[:64],
                    next_attempt_at=now + _backoff(attempts),
                    claimed_until=None,
                )
        record_events(events)


def _settle(peer: Peer, session: Session, messages: list[OutboxMessage], results: list[Any]) -> None:
    """Apply the receiver's answers: delivered, refused for good, or back in the queue."""
    now = timezone.now()
    delivered, retry, events = [], [], []
    with transaction.atomic():
        _commit_without_waiting_for_disk()
        for message, result in zip(messages, results, strict=True):
            status = result.get("status") if isinstance(result, dict) else None
            code = str(result.get("code", "")) if isinstance(result, dict) else "MALFORMED_ANSWER"
            if status in ("stored", "duplicate", "quarantined"):  # quarantined: persisted, held there
                delivered.append(message.pk)
                events.append(
                    EventSpec(
                        action="message.delivered",
                        subject=peer.node_id,
                        details={
                            "id": message.message_id,
                            "type": message.message_type,
                            "attempt": message.attempts + 1,
                            **({"receiver": status} if status == "quarantined" else {}),
                        },
                    )
                )
            elif status == "refused" and code not in RETRYABLE:
                text = str(result.get("message", ""))[:300]
                OutboxMessage.objects.filter(pk=message.pk, claim_token=message.claim_token).update(
                    state=DeliveryState.REFUSED,
                    attempts=message.attempts + 1,
                    refusal_code=code[:64],
                    refusal_message=text,
                    last_error=code[:64],
                    claimed_until=None,
                    finished_at=now,
                )
                events.append(
                    EventSpec(
                        action="message.refused",
                        outcome=Outcome.DENIED,
                        subject=peer.node_id,
                        details={"id": message.message_id, "direction": "outbound", "reason": code, "message": text},
                    )
                )
            else:
                retry.append((message, code or "MALFORMED_ANSWER"))
        OutboxMessage.objects.filter(pk__in=delivered).update(
            state=DeliveryState.DELIVERED,
            attempts=F("attempts") + 1,
            delivered_at=now,
            finished_at=now,
            claimed_until=None,  # last_error stays: why earlier attempts failed, if any did
        )
        Session.objects.filter(pk=session.pk).update(messages_sent=F("messages_sent") + len(delivered))
        record_events(events)
    for message, code in retry:
        _retry_or_dead_letter(peer, [message], code, "the receiver asked for a retry")


def _seal_all(
    peer: Peer, session: Session, messages: list[OutboxMessage], first_seq: int
) -> tuple[list[tuple[OutboxMessage, dict[str, Any]]], list[OutboxMessage]]:
    """Sign each message afresh: new sequence number, nonce and timestamp, same id. A message
    that cannot be signed (it was validated when queued, so this is a defect) fails alone."""
    identity, key = get_identity(), open_mac_key(session)
    ttl_ms, now_ms = settings.FEDERATION_ENVELOPE_TTL_SECONDS * 1000, _now_ms()
    sealed, unsealable = [], []
    for offset, message in enumerate(messages):
        try:
            document = env.seal(
                key,
                message_id=message.message_id,
                message_type=message.message_type,
                source=identity.node_id,
                target=peer.node_id,
                session=session.session_id,
                seq=first_seq + offset,
                now_ms=now_ms,
                budget=env.parse_budget(message.budget),
                hops=message.hops,
                payload=message.payload,
                reply_to=message.reply_to or None,
                ttl_ms=ttl_ms,
                scan={"pii": message.pii_scan},
            )
        except (env.EnvelopeError, CanonicalJSONError):
            unsealable.append(message)
            continue
        sealed.append((message, document))
    return sealed, unsealable


def _frames(sealed: list[tuple[OutboxMessage, dict[str, Any]]]) -> list[list[tuple[OutboxMessage, dict]]]:
    """Split a batch so that every frame stays under the receiver's frame limit."""
    frames: list[list[tuple[OutboxMessage, dict]]] = [[]]
    size = 0
    for pair in sealed:
        length = transport.encoded_size(pair[1])
        if frames[-1] and size + length > transport.FRAME_BUDGET_BYTES:
            frames.append([])
            size = 0
        frames[-1].append(pair)
        size += length
    return [frame for frame in frames if frame]


def _deliver(lease: Lease) -> None:
    peer, session, messages = lease.peer, lease.session, lease.messages
    if session is None:
        _retry_or_dead_letter(peer, messages, NO_SESSION, "no live session with this peer; waiting for one")
        return
    sealed, unsealable = _seal_all(peer, session, messages, lease.first_seq)
    if unsealable:
        _settle(peer, session, unsealable, [{"status": "refused", "code": env.MALFORMED}] * len(unsealable))
    for frame in _frames(sealed):
        batch = [message for message, _ in frame]
        try:
            results = transport.post_batch(
                transport.envelopes_url(peer.federation_url),
                peer.tls_fingerprint,
                _client_context(),
                [document for _, document in frame],
            )
        except transport.TransportError as exc:
            Peer.objects.filter(pk=peer.pk).update(last_error=exc.code[:64])
            _retry_or_dead_letter(peer, batch, exc.code, str(exc))
            continue
        _settle(peer, session, batch, results)


_context_cache: dict[str, Any] = {}


def _client_context() -> Any:
    identity = get_identity()
    if identity.node_id not in _context_cache:
        _context_cache[identity.node_id] = tls.client_context(identity)
    return _context_cache[identity.node_id]


@contextlib.contextmanager
def _delivery_slot() -> Iterator[bool]:
    """At most FEDERATION_DELIVERY_LOOPS delivery loops per host (advisory file locks under the
    node home). On SQLite one loop is fastest: a second only competes for the write lock. On
    PostgreSQL two overlap their round trips. Yields whether this run got a slot."""
    folder = Path(settings.FEDERATION_HOME) / "run"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for slot in range(settings.FEDERATION_DELIVERY_LOOPS):
        with open(folder / f"delivery-{slot}.lock", "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
            return
    yield False


def _anything_due() -> bool:
    now = timezone.now()
    return OutboxMessage.objects.filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
        state=DeliveryState.QUEUED,
        next_attempt_at__lte=now,
        peer__state=PeerState.ACTIVE,
    ).exists()


def deliver_due(*, linger: float = 0.0, batch_size: int = BATCH_SIZE) -> int:
    """Deliver everything due, batch by batch; then keep polling for `linger` seconds so a
    burst of sends is picked up without another task. Returns the number of messages tried.

    If every loop slot is taken this returns at once: those loops will see the work. After
    letting go of its slot a loop looks once more, so a send whose nudge found the slots taken
    just as a holder was leaving is not left for beat's sweep. A loop hands over after
    MAX_RUN_SECONDS (to a new task at the back of the queue), so under sustained traffic the
    worker still runs heartbeats and the other periodic tasks in between."""
    tried, started = 0, time.monotonic()
    while True:
        with _delivery_slot() as holder:
            if not holder:
                return tried
            tried += _delivery_loop(linger=linger, batch_size=batch_size, until=started + MAX_RUN_SECONDS)
        if not _anything_due():
            return tried
        if time.monotonic() - started >= MAX_RUN_SECONDS:
            from messaging import tasks

            tasks.deliver.apply_async(kwargs={"linger": LINGER_SECONDS}, retry=False)
            return tried


def _delivery_loop(*, linger: float, batch_size: int, until: float) -> int:
    tried = 0
    idle_since = time.monotonic()
    while time.monotonic() < until:
        lease = _lease(batch_size)
        if lease is None:
            if time.monotonic() - idle_since >= linger:
                return tried
            time.sleep(0.005)
            continue
        _deliver(lease)
        tried += len(lease.messages)
        idle_since = time.monotonic()
    return tried


# --- receiving ----------------------------------------------------------------------------------


def _refusal(item: Any, code: str, text: str) -> dict[str, Any]:
    message_id = item.get("id") if isinstance(item, dict) and isinstance(item.get("id"), str) else None
    return {"id": message_id, "status": "refused", "code": code, "message": text[:300]}


class _Sessions:
    """Per-batch cache of sessions, checked against the connection's client certificate."""

    def __init__(self, client_fingerprint: str) -> None:
        self.client_fingerprint = client_fingerprint
        self.by_id: dict[str, tuple[Session, bytes]] = {}
        self.claims: dict[int, authz.ClaimStates] = {}

    def claims_of(self, peer: Peer) -> authz.ClaimStates:
        if peer.pk not in self.claims:
            self.claims[peer.pk] = authz.claim_states([peer.pk]).get(peer.pk, {})
        return self.claims[peer.pk]

    def key_for(self, envelope: env.Envelope) -> bytes:
        if envelope.session not in self.by_id:
            session = Session.objects.select_related("peer").filter(session_id=envelope.session).first()
            if session is None:
                raise env.EnvelopeError(UNKNOWN_SESSION, "no such session; hand-shake again")
            self.by_id[envelope.session] = (session, open_mac_key(session))
        session, key = self.by_id[envelope.session]
        if not crypto.constant_time_equal(session.peer.tls_fingerprint, self.client_fingerprint):
            raise env.EnvelopeError(CERTIFICATE_MISMATCH, "this session belongs to another certificate")
        if not crypto.constant_time_equal(session.peer.node_id, envelope.source):
            raise env.EnvelopeError(CERTIFICATE_MISMATCH, "the source is not this session's peer")
        if session.state not in LIVE_SESSION_STATES or session.expires_at <= timezone.now():
            raise env.EnvelopeError(SESSION_EXPIRED, "session expired or terminated; hand-shake again")
        return key

    def session(self, session_id: str) -> Session:
        return self.by_id[session_id][0]


@dataclass(frozen=True)
class Accepted:
    """An envelope that passed every check, with its payload after this node's PII policy."""

    index: int
    envelope: env.Envelope
    payload: Any
    scan: dict[str, Any]
    gate: defence.Gate | None = None
    notice: trust.Notice | None = None

    @property
    def held(self) -> bool:
        return self.gate is not None and self.gate.action == defence.Action.QUARANTINE


def _screen_inbound(envelope: env.Envelope, peer: Peer, gates: Gates) -> tuple[Any, dict[str, Any], Any]:
    """Inbound PII policy, then the inbound AI-defence gate, for the sender's tier: after
    verification and before storing. A block is recorded (detection, audit event) and refused.
    Trust notices were checked field by field instead (`_check_notice`: signed, no free text)."""
    if envelope.type in capabilities.OWN_NOTICES:
        return envelope.document["payload"], {}, None
    try:
        outcome = pii_services.screen(envelope.document["payload"], peer=peer, policies=gates.pii)
    except ScanError as exc:
        raise env.EnvelopeError(exc.code, exc.message) from exc
    if outcome.blocked:
        raise env.EnvelopeError(pii_services.PII_BLOCKED, pii_services.blocked_message(outcome))
    try:
        gate = defence.check(outcome.payload, peer=peer, cfg=gates.defence)
    except DefenceError as exc:
        raise env.EnvelopeError(exc.code, exc.message) from exc
    if gate.action == defence.Action.BLOCK:
        defence.record(
            gate,
            payload=outcome.payload,
            peer=peer,
            direction="inbound",
            message_id=envelope.id,
            message_type=envelope.type,
        )
        raise env.EnvelopeError(defence.THREAT_BLOCKED, gate.blocked_message())
    return outcome.payload, outcome.summary(), gate if gate.detected else None


def _check_one(item: Any, sessions: _Sessions, audience: str, now_ms: int) -> env.Envelope:
    env.check_depth(item)
    envelope = env.open_envelope(
        item,
        key_for=sessions.key_for,
        audience=audience,
        now_ms=now_ms,
        max_bytes=settings.FEDERATION_ENVELOPE_MAX_BYTES,
    )
    session = sessions.session(envelope.session)
    if envelope.seq + SEQUENCE_WINDOW <= session.envelope_seq_high:
        raise env.EnvelopeError(
            SEQUENCE_OUT_OF_WINDOW,
            f"sequence {envelope.seq} is behind the window (highest {session.envelope_seq_high})",
        )
    try:
        authz.authorize(session.peer, envelope.type, outbound=False, claims=sessions.claims_of(session.peer))
    except authz.Denied as exc:
        raise env.EnvelopeError(exc.code, str(exc)) from exc
    return envelope


def _check_notice(envelope: env.Envelope, peer: Peer) -> trust.Notice | None:
    try:
        return trust.check_notice(peer, envelope.type, envelope.document["payload"])
    except trust.TrustError as exc:
        raise env.EnvelopeError(exc.code, str(exc)) from exc


def receive_batch(items: list[Any], *, client_fingerprint: str, client_addr: str) -> list[dict[str, Any]]:
    """Check every envelope of a batch, store the good ones once, answer each in order."""
    own = get_identity().node_id
    sessions = _Sessions(client_fingerprint)
    now_ms = _now_ms()
    results: list[dict[str, Any] | None] = [None] * len(items)
    accepted: list[Accepted] = []
    refusals: list[tuple[int, str, str]] = []
    gates = _gates()
    for index, item in enumerate(items):
        try:
            envelope = _check_one(item, sessions, own, now_ms)
            peer = sessions.session(envelope.session).peer
            notice = _check_notice(envelope, peer)
            accepted.append(Accepted(index, envelope, *_screen_inbound(envelope, peer, gates), notice=notice))
        except env.EnvelopeError as exc:
            refusals.append((index, exc.code, str(exc)))
    try:
        stored = _store(accepted, sessions, careful=False)
    except IntegrityError:  # a replay, or a concurrent batch with the same nonce or id: one by one
        stored = {}
        for one in accepted:
            stored.update(_store_alone(one, sessions))
    for index, outcome in stored.items():
        if isinstance(outcome, tuple):
            refusals.append((index, *outcome))
        else:
            results[index] = {"id": items[index]["id"], "status": outcome}
    for index, code, text in refusals:
        results[index] = _refusal(items[index], code, text)
    _audit_refusals([(items[i], code, text) for i, code, text in refusals], sessions, client_addr)
    threatened = {sessions.session(a.envelope.session).peer_id for a in accepted if a.gate is not None}
    threatened |= {
        session.peer_id
        for index, code, _ in refusals
        if code == defence.THREAT_BLOCKED
        for session in [sessions.by_id.get(items[index].get("session"), (None,))[0]]
        if session is not None
    }
    if threatened:
        trust.check_threats(threatened)  # two in an hour: UNTRUSTED at once
    return [r for r in results if r is not None]


def _store_alone(one: Accepted, sessions: _Sessions) -> dict[int, Any]:
    for _ in range(3):
        try:
            return _store([one], sessions, careful=True)
        except IntegrityError:
            continue
    return {one.index: ("INTERNAL", "could not store the envelope; retry")}


@transaction.atomic
def _store(accepted: list[Accepted], sessions: _Sessions, *, careful: bool) -> dict[int, Any]:
    """Replay checks and inbox writes in one transaction: 'stored' / 'duplicate' / (code, text).

    The fast path lets the unique constraints find replays (an IntegrityError sends the batch
    back one envelope at a time); the careful path looks them up first and names them."""
    if not accepted:
        return {}
    outcome: dict[int, Any] = {}
    envelopes = [a.envelope for a in accepted]
    nonces = {e.document["nonce"] for e in envelopes}
    seen_nonces: set[str] = set()
    seen_pairs: set[tuple[str, int]] = set()
    if careful:
        seen_nonces = set(SeenEnvelope.objects.filter(nonce__in=nonces).values_list("nonce", flat=True))
    for session_id in {e.session for e in envelopes} if careful else ():
        seqs = [e.seq for e in envelopes if e.session == session_id]
        seen_pairs |= {
            (session_id, seq)
            for seq in SeenEnvelope.objects.filter(session_id=session_id, seq__in=seqs).values_list("seq", flat=True)
        }
    ids = [e.id for e in envelopes]
    known_ids = set(InboxMessage.objects.filter(message_id__in=ids).values_list("message_id", flat=True))
    known_ids |= defence.held_ids(ids)  # a retry of a quarantined message is a duplicate too
    seen_rows, inbox_rows, events = [], [], []
    detections, held_envelopes = [], {}
    notices: dict[int, list[trust.Notice]] = {}
    highest: dict[str, int] = {}
    for one in accepted:
        index, envelope = one.index, one.envelope
        nonce, pair = envelope.document["nonce"], (envelope.session, envelope.seq)
        if nonce in seen_nonces or pair in seen_pairs:
            outcome[index] = (REPLAYED, "this envelope (nonce or session sequence) was already accepted")
            continue
        seen_nonces.add(nonce)
        seen_pairs.add(pair)
        expires = dt.datetime.fromtimestamp((envelope.document["exp"] + env.CLOCK_SKEW_MS) / 1000, tz=dt.UTC)
        seen_rows.append(SeenEnvelope(nonce=nonce, session_id=envelope.session, seq=envelope.seq, expires_at=expires))
        highest[envelope.session] = max(highest.get(envelope.session, 0), envelope.seq)
        if envelope.id in known_ids:
            outcome[index] = "duplicate"  # a retry of a message we hold: acknowledge, store nothing
            continue
        known_ids.add(envelope.id)
        session = sessions.session(envelope.session)
        document = envelope.document
        if one.gate is not None:
            detections.append(
                (
                    one.gate,
                    defence.detection_row(
                        one.gate,
                        payload=one.payload,
                        peer=session.peer,
                        direction="inbound",
                        message_id=envelope.id,
                        message_type=envelope.type,
                    ),
                )
            )
        if one.held:  # out of the agents' sight until an analyst releases it
            held_envelopes[envelope.id] = {
                "payload": one.payload,
                "budget": document["budget"],
                "hops": document["hops"],
                "reply_to": document["reply_to"] or "",
                "session_id": envelope.session,
                "seq": envelope.seq,
                "sent_at": dt.datetime.fromtimestamp(document["ts"] / 1000, tz=dt.UTC).isoformat(),
                "pii_scan": one.scan,
                "sender_scan": document.get("scan", {}).get("pii", {}),
                "threat_scan": one.gate.summary(),
            }
            outcome[index] = "quarantined"
            continue
        inbox_rows.append(
            InboxMessage(
                message_id=envelope.id,
                peer=session.peer,
                node_id=session.peer.node_id,
                message_type=envelope.type,
                payload=one.payload,
                pii_scan=one.scan,
                sender_scan=document.get("scan", {}).get("pii", {}),
                threat_scan=one.gate.summary() if one.gate else {},
                budget=document["budget"],
                hops=document["hops"],
                reply_to=document["reply_to"] or "",
                session_id=envelope.session,
                seq=envelope.seq,
                sent_at=dt.datetime.fromtimestamp(document["ts"] / 1000, tz=dt.UTC),
            )
        )
        events.append(
            EventSpec(
                action="message.received",
                subject=session.peer.node_id,
                details={
                    "id": envelope.id,
                    "type": envelope.type,
                    "session": envelope.session,
                    "seq": envelope.seq,
                    **({"pii": one.scan} if one.scan else {}),
                    **({"threat": one.gate.summary()} if one.gate else {}),
                },
            )
        )
        if one.notice is not None:
            notices.setdefault(session.peer_id, []).append(one.notice)
        outcome[index] = "stored"
    SeenEnvelope.objects.bulk_create(seen_rows)
    InboxMessage.objects.bulk_create(inbox_rows)
    # after the writes a replay would break, so a retried batch never saves a detection twice
    events += defence.record_with(detections, held_envelopes=held_envelopes)
    for peer_id, peer_notices in notices.items():
        peer = next(s.peer for s, _ in sessions.by_id.values() if s.peer_id == peer_id)
        events += trust.apply_notices(peer, peer_notices)
    record_events(events)
    now = timezone.now()
    for session_id, seq in highest.items():
        session = sessions.session(session_id)
        count = sum(1 for row in inbox_rows if row.session_id == session_id)
        count += sum(1 for kept in held_envelopes.values() if kept["session_id"] == session_id)
        Session.objects.filter(pk=session.pk).update(
            envelope_seq_high=Greatest(F("envelope_seq_high"), seq), messages_received=F("messages_received") + count
        )
        Peer.objects.filter(pk=session.peer_id).update(last_seen_at=now)
    spenders = {row.peer_id for row in inbox_rows if row.message_type == "task-result"}
    if spenders:
        trust.check_breakers(spenders)  # spend is reported with each task result
    queries = [row.message_id for row in inbox_rows if row.message_type == "memory-query"]
    if queries:
        from messaging import tasks

        def answer_later() -> None:
            for message_id in queries:
                tasks.answer_memory_query.apply_async(args=[message_id], retry=False)

        transaction.on_commit(answer_later, robust=True)  # if the broker is down, beat's sweep answers
    return outcome


def _printable(value: Any, limit: int = 64) -> str:
    """Whatever a hostile peer put in a field, as safe ASCII for the audit trail."""
    return ascii(value)[1:-1][:limit] if isinstance(value, str) else ""


def _audit_refusals(refused: list[tuple[Any, str, str]], sessions: _Sessions, client_addr: str) -> None:
    """Outside the storing transaction, so a refusal is recorded even when nothing else is."""
    if not refused:
        return
    events = []
    hmac_failures: dict[int, int] = {}
    refused_on: dict[int, int] = {}
    hijacked = False
    for item, code, text in refused:
        document = item if isinstance(item, dict) else {}
        session_id = document.get("session") if isinstance(document.get("session"), str) else ""
        session = sessions.by_id.get(session_id, (None, b""))[0]
        subject = session.peer.node_id if session else (_printable(document.get("source"), 200) or client_addr)
        if session is not None:
            refused_on[session.pk] = refused_on.get(session.pk, 0) + 1
        if code == env.BAD_MAC and session is not None:
            hmac_failures[session.pk] = hmac_failures.get(session.pk, 0) + 1
        hijacked |= code == CERTIFICATE_MISMATCH
        events.append(
            EventSpec(
                action="message.refused",
                outcome=Outcome.DENIED,
                subject=subject,
                details={
                    "id": _printable(document.get("id")),
                    "type": _printable(document.get("type"), 40),
                    "direction": "inbound",
                    "reason": code,
                    "message": text[:300],
                    "client": client_addr,
                },
            )
        )
    with transaction.atomic():
        record_events(events)
        for pk, count in refused_on.items():
            Session.objects.filter(pk=pk).update(
                envelopes_refused=F("envelopes_refused") + count,
                hmac_failures=F("hmac_failures") + hmac_failures.get(pk, 0),
            )
    for session, _ in sessions.by_id.values():
        if session.pk in hmac_failures:
            trust.demote(session.peer, code=trust.HMAC_FAILURE, details={"session": session.session_id})
    if hijacked:  # someone used a session that is not theirs: the certificate says who
        for peer in Peer.objects.filter(tls_fingerprint=sessions.client_fingerprint):
            trust.demote(peer, code=trust.SESSION_HIJACK, details={"client": client_addr})


def record_frame_refusal(*, code: str, message: str, client_addr: str) -> None:
    """A whole frame that could not be read (not JSON, not UTF-8, too deep, too big)."""
    record_event(
        action="message.refused",
        outcome=Outcome.DENIED,
        subject=client_addr,
        details={"direction": "inbound", "reason": code, "message": message[:300], "client": client_addr},
    )


def dead_letter_for_removed_peer(peer: Peer) -> int:
    """A removed peer's queued and held messages end visibly, not silently (called before the delete)."""
    return dead_letter_waiting(peer, code="PEER_REMOVED", note="the peer was removed")


def dead_letter_waiting(peer: Peer, *, code: str, note: str) -> int:
    """The peer's queued and held messages end as dead letters with `code` (removal, eviction)."""
    now = timezone.now()
    waiting = (DeliveryState.QUEUED, DeliveryState.HELD)
    ids = list(OutboxMessage.objects.filter(peer=peer, state__in=waiting).values_list("message_id", flat=True))
    if ids:
        defence.close_holds(message_ids=ids, note=note)
        OutboxMessage.objects.filter(message_id__in=ids).update(
            state=DeliveryState.DEAD_LETTERED, last_error=code, finished_at=now, claimed_until=None
        )
        record_event(
            action="message.dead_lettered",
            outcome=Outcome.FAILURE,
            subject=peer.node_id,
            details={"ids": ids[:100], "count": len(ids), "reason": code},
        )
    return len(ids)


def purge_seen() -> int:
    """Forget nonces whose envelopes have expired: the time check refuses those replays now."""
    deleted, _ = SeenEnvelope.objects.filter(expires_at__lt=timezone.now()).delete()
    return deleted


# --- inbox and memory ---------------------------------------------------------------------------


def mark_handled(*, message_id: str, actor: str) -> InboxMessage:
    with transaction.atomic():
        message = InboxMessage.objects.select_for_update().filter(message_id=message_id).first()
        if message is None:
            raise MessagingError(NOT_FOUND, f"no inbox message {message_id}")
        if message.status != InboxStatus.HANDLED:
            message.status, message.handled_at = InboxStatus.HANDLED, timezone.now()
            message.save(update_fields=["status", "handled_at"])
            record_event(action="inbox.handled", actor=actor, subject=message.node_id, details={"id": message_id})
    return message


def write_memory(*, namespace: str, key: str, value: Any, classification: str, actor: str) -> MemoryEntry:
    if classification not in capabilities.CLASSIFICATIONS:
        raise MessagingError("INVALID", f"classification must be one of {', '.join(capabilities.CLASSIFICATIONS)}")
    with transaction.atomic():
        entry, created = MemoryEntry.objects.update_or_create(
            namespace=namespace, key=key, defaults={"value": value, "classification": classification}
        )
        record_event(
            action="memory.written",
            actor=actor,
            subject=f"{namespace}/{key}"[:200],
            details={"created": created, "classification": classification},
        )
    return entry


def delete_memory(*, entry: MemoryEntry, actor: str) -> None:
    with transaction.atomic():
        record_event(action="memory.deleted", actor=actor, subject=f"{entry.namespace}/{entry.key}"[:200])
        entry.delete()


MAX_MEMORY_RESULTS = 50


def memory_answer(*, query: Any, tier: int) -> dict[str, Any]:
    """Entries matching the query (key or value contains the text), each value in full or
    redacted according to the asking peer's tier. Pure read, no side effects."""
    if not isinstance(query, dict) or not isinstance(query.get("query", ""), str):
        return {"error": "a memory query is an object with a string 'query'"}
    text = query.get("query", "")[:500]
    entries = MemoryEntry.objects.all()
    if isinstance(query.get("namespace"), str) and query["namespace"]:
        entries = entries.filter(namespace=query["namespace"])
    if text:
        entries = entries.filter(Q(key__icontains=text) | Q(value__icontains=text))
    matches = []
    for entry in entries.order_by("namespace", "key")[:MAX_MEMORY_RESULTS]:
        full = capabilities.sees_in_full(tier, entry.classification)
        matches.append(
            {
                "namespace": entry.namespace,
                "key": entry.key,
                "classification": entry.classification,
                "value": entry.value if full else f"[REDACTED:{entry.classification}]",
                "redacted": not full,
            }
        )
    return {"query": text, "namespace": query.get("namespace") or None, "matches": matches}


def answer_memory_query(*, message_id: str) -> OutboxMessage | None:
    """Celery, on the receiving node: answer a stored memory-query within the asker's tier."""
    received = InboxMessage.objects.select_related("peer").filter(message_id=message_id).first()
    if received is None or received.peer is None or received.status == InboxStatus.HANDLED:
        return None
    answer = memory_answer(query=received.payload, tier=received.peer.effective_tier)
    record_event(
        action="memory.answered",
        subject=received.peer.node_id,
        details={
            "query": message_id,
            "tier": capabilities.tier_name(received.peer.effective_tier),
            "matches": len(answer.get("matches", [])),
            "redacted": sum(1 for m in answer.get("matches", []) if m["redacted"]),
        },
    )
    return reply(inbox_id=message_id, payload=answer, actor="memory")


def answer_pending_queries(*, older_than_seconds: float = 10.0) -> int:
    """Beat's sweep: memory queries whose answering task was lost (broker down, worker killed)."""
    cutoff = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    pending = InboxMessage.objects.filter(
        message_type="memory-query", status=InboxStatus.NEW, received_at__lt=cutoff, peer__isnull=False
    ).values_list("message_id", flat=True)[:100]
    answered = 0
    for message_id in list(pending):
        try:
            answered += answer_memory_query(message_id=message_id) is not None
        except MessagingError:  # e.g. the asker's tier dropped meanwhile: leave it for an operator
            mark_handled(message_id=message_id, actor="memory")
    return answered


def wait_for(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.1) -> Any:
    """Poll until `predicate` returns something truthy (CLI --wait); None on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value or None
        time.sleep(interval)
