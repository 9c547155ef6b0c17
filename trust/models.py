"""Claims this node issues to peers (and holds from them), and the trust evaluations of each peer."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from federation.capabilities import CLAIM_TYPES
from peers.models import Peer, TrustTier

ClaimType = models.TextChoices("ClaimType", [(c.split(":")[1].upper(), c) for c in CLAIM_TYPES])


class ClaimDirection(models.TextChoices):
    ISSUED = "issued", "issued by us to the peer"
    RECEIVED = "received", "issued by the peer to us"


class Claim(models.Model):
    """A signed statement "issuer lets subject do <type> until <expiry>". Only claims this node
    issued authorize anything here; received ones record what the peer lets us do there."""

    claim_id = models.CharField(max_length=64, unique=True)
    peer = models.ForeignKey(Peer, on_delete=models.CASCADE, related_name="claims")
    direction = models.CharField(max_length=8, choices=ClaimDirection.choices, default=ClaimDirection.ISSUED)
    claim_type = models.CharField(max_length=32, choices=ClaimType.choices, db_index=True)
    issuer = models.CharField(max_length=64)
    subject = models.CharField(max_length=64)
    issued_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True, help_text="empty: until revoked")
    document = models.JSONField(help_text="the signed claim document, as sent")
    issued_by = models.CharField(max_length=150, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, db_index=True)
    revoked_by = models.CharField(max_length=150, blank=True)
    revocation = models.JSONField(null=True, blank=True, help_text="the signed revocation, as sent")

    class Meta:
        ordering = ["-issued_at"]
        indexes = [models.Index(fields=["peer", "direction", "claim_type"])]
        permissions = [("manage_trust", "Can change trust: claims, pins, caps, approvals, evictions")]

    def __str__(self) -> str:
        return f"{self.claim_type} for {self.subject[:12]}… ({self.claim_id[:8]})"

    def is_valid(self, now: object = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class TrustEvaluation(models.Model):
    """One evaluation of a peer, kept when it changed something or an hour passed (the peer row
    always carries the latest): the inputs with their evidence, the score, the reasons."""

    peer = models.ForeignKey(Peer, on_delete=models.CASCADE, related_name="evaluations")
    evaluated_at = models.DateTimeField(default=timezone.now, db_index=True)
    score = models.FloatField()
    inputs = models.JSONField(help_text="each input with its evidence counts and window")
    reasons = models.JSONField(default=list, help_text="reason codes of this evaluation")
    tier_before = models.PositiveSmallIntegerField(choices=TrustTier.choices)
    tier_after = models.PositiveSmallIntegerField(choices=TrustTier.choices)
    interactions = models.PositiveBigIntegerField(default=0)
    trigger = models.CharField(max_length=16, default="beat", help_text="beat, event or operator")

    class Meta:
        ordering = ["-evaluated_at"]
        indexes = [models.Index(fields=["peer", "-evaluated_at"])]

    def __str__(self) -> str:
        return f"{self.peer_id} {self.score:.3f} at {self.evaluated_at:%Y-%m-%d %H:%M}"
