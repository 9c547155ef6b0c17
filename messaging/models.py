"""Messages that cross the boundary: the outbox we deliver from, the inbox we store into, the
nonces we have seen, and the node-local memory that peers may query."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from federation.capabilities import CLASSIFICATIONS
from peers.models import Peer


class DeliveryState(models.TextChoices):
    QUEUED = "queued"
    HELD = "held", "held (quarantined by the outbound gate)"
    DELIVERED = "delivered"
    REFUSED = "refused"
    DEAD_LETTERED = "dead_lettered", "dead-lettered"


class OutboxMessage(models.Model):
    """One message to one peer. Written with its audit event before the caller gets the id; the
    envelope is signed afresh (new nonce, sequence and timestamp, same id) on every attempt."""

    message_id = models.CharField(max_length=64, unique=True)
    # The row outlives a removed peer (kept for the record); node_id says whom it was for.
    peer = models.ForeignKey(Peer, on_delete=models.SET_NULL, null=True, related_name="outbox")
    node_id = models.CharField(max_length=64, db_index=True)
    message_type = models.CharField(max_length=40, db_index=True)
    payload = models.JSONField()
    budget = models.JSONField()
    hops = models.JSONField(help_text="origin and forwarders, this node last")
    reply_to = models.CharField(max_length=64, blank=True)
    broadcast_id = models.CharField(max_length=64, blank=True, db_index=True)
    state = models.CharField(max_length=16, choices=DeliveryState.choices, default=DeliveryState.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True)
    last_error = models.CharField(max_length=64, blank=True, help_text="reason code of the last failed attempt")
    refusal_code = models.CharField(max_length=64, blank=True)
    pii_scan = models.JSONField(
        default=dict, blank=True, help_text="PII found and what was done, per type (never the values)"
    )
    refusal_message = models.CharField(max_length=300, blank=True)
    threat_scan = models.JSONField(
        default=dict, blank=True, help_text="what the outbound AI-defence gate found and did (never the text)"
    )
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"]),
            models.Index(fields=["peer", "state"]),
        ]

    def __str__(self) -> str:
        return f"{self.message_type} {self.message_id[:12]}… to {self.node_id} ({self.state})"


class InboxStatus(models.TextChoices):
    NEW = "new"
    HANDLED = "handled"


class InboxMessage(models.Model):
    """A message a peer delivered to us; stored once per id whatever the number of deliveries."""

    message_id = models.CharField(max_length=64, unique=True)
    peer = models.ForeignKey(Peer, on_delete=models.SET_NULL, null=True, related_name="inbox")
    node_id = models.CharField(max_length=64, db_index=True)
    message_type = models.CharField(max_length=40, db_index=True)
    payload = models.JSONField()
    budget = models.JSONField()
    hops = models.JSONField()
    reply_to = models.CharField(max_length=64, blank=True, db_index=True)
    session_id = models.CharField(max_length=64)
    seq = models.PositiveBigIntegerField()
    sent_at = models.DateTimeField(help_text="the envelope's timestamp")
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    status = models.CharField(max_length=16, choices=InboxStatus.choices, default=InboxStatus.NEW, db_index=True)
    pii_scan = models.JSONField(
        default=dict, blank=True, help_text="PII this node found on receipt and what it did (never the values)"
    )
    sender_scan = models.JSONField(default=dict, blank=True, help_text="the sender's own PII report from the envelope")
    threat_scan = models.JSONField(
        default=dict, blank=True, help_text="what the inbound AI-defence gate found and did (never the text)"
    )
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.message_type} {self.message_id[:12]}… from {self.node_id}"


class SeenEnvelope(models.Model):
    """Replay guard: a nonce, and a (session, sequence) pair, are accepted once. Rows outlive
    the envelope's expiry by the clock skew, after which the time check refuses a replay anyway."""

    nonce = models.CharField(max_length=128, unique=True)
    session_id = models.CharField(max_length=64)
    seq = models.PositiveBigIntegerField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["session_id", "seq"], name="seen_once_per_session_seq")]

    def __str__(self) -> str:
        return f"seq {self.seq} of session {self.session_id[:12]}…"


class MemoryEntry(models.Model):
    """Node-local memory written by local agents; peers query it within their tier (MISSION §3)."""

    namespace = models.CharField(max_length=100, db_index=True)
    key = models.CharField(max_length=200)
    value = models.JSONField()
    classification = models.CharField(
        max_length=16, choices=[(c, c) for c in CLASSIFICATIONS], default="internal", db_index=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["namespace", "key"]
        verbose_name_plural = "memory entries"
        constraints = [models.UniqueConstraint(fields=["namespace", "key"], name="memory_key_per_namespace")]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.key}"
