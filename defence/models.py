"""Gate policies (category x trust tier), every detection the gates made, the messages held for an
analyst, and what the analysts' feedback taught the gates (allow-listed fingerprints, calibrated
thresholds). Detections keep short excerpts of the matched text (after the PII pipeline) so an
analyst can judge them; the audit trail gets only categories, scores and offsets."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from defence.engine.types import CATEGORIES
from federation.tier_policy import TIER_FIELDS, TierActions, action_field
from peers.models import Peer

__all__ = ["TIER_FIELDS"]

CATEGORY_CHOICES = [(c, c.replace("_", " ")) for c in CATEGORIES]


class Action(models.TextChoices):
    ALLOW = "allow", "allow"
    FLAG = "flag", "flag (deliver, record)"
    QUARANTINE = "quarantine", "quarantine (hold for review)"
    BLOCK = "block", "block (refuse)"


SEVERITY = {Action.ALLOW: 0, Action.FLAG: 1, Action.QUARANTINE: 2, Action.BLOCK: 3}


def _action_field(tier: str) -> models.CharField:
    return action_field(Action.choices, Action.BLOCK, f"for a {tier} peer")


class ThreatPolicy(TierActions, models.Model):
    """What a gate does with one threat category at each trust tier, and from which score."""

    category = models.CharField(max_length=32, choices=CATEGORY_CHOICES, unique=True)
    threshold = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0.05), MaxValueValidator(1.0)],
        help_text="a verdict scoring at least this is a detection (analysts' feedback may raise it)",
    )
    untrusted = _action_field("UNTRUSTED")
    verified = _action_field("VERIFIED")
    attested = _action_field("ATTESTED")
    trusted = _action_field("TRUSTED")
    privileged = _action_field("PRIVILEGED")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category"]
        verbose_name = "threat policy"
        verbose_name_plural = "threat policies"

    def __str__(self) -> str:
        return self.category


class Direction(models.TextChoices):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Feedback(models.TextChoices):
    PENDING = "pending"
    CONFIRMED = "confirmed", "confirmed threat"
    FALSE_POSITIVE = "false_positive", "false positive"


class ThreatDetection(models.Model):
    """One verdict over threshold at a gate: the evidence behind a peer's threat penalty."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    direction = models.CharField(max_length=8, choices=Direction.choices, db_index=True)
    # Kept when the peer is removed (the record stays); node_id says who it was.
    peer = models.ForeignKey(Peer, on_delete=models.SET_NULL, null=True, blank=True, related_name="threats")
    node_id = models.CharField(max_length=64, db_index=True)
    tier = models.PositiveSmallIntegerField(help_text="the peer's effective tier at the time")
    message_id = models.CharField(max_length=64, blank=True, db_index=True, help_text="blank when never queued")
    message_type = models.CharField(max_length=40)
    action = models.CharField(max_length=16, choices=Action.choices, db_index=True)
    categories = models.CharField(
        max_length=200, db_index=True, help_text="the categories over threshold, space-separated"
    )
    score = models.FloatField()
    scores = models.JSONField(default=dict, help_text="every category's score")
    thresholds = models.JSONField(default=dict, help_text="the thresholds in force")
    evidence = models.JSONField(default=list, help_text="category, detector, layer, span and a short excerpt")
    signals = models.JSONField(default=list, blank=True)
    obfuscated = models.BooleanField(default=False, db_index=True)
    fingerprint = models.CharField(max_length=64, db_index=True)
    allow_listed = models.BooleanField(
        default=False, help_text="an analyst had allow-listed this text: recorded, not acted on"
    )
    feedback = models.CharField(max_length=16, choices=Feedback.choices, default=Feedback.PENDING, db_index=True)
    reviewed_by = models.CharField(max_length=150, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["peer", "direction", "created_at"])]

    def __str__(self) -> str:
        return f"{self.action} {self.categories} ({self.direction} {self.node_id[:12]}…)"

    @property
    def category_list(self) -> list[str]:
        return self.categories.split()


class HoldStatus(models.TextChoices):
    HELD = "held"
    RELEASED = "released"
    REJECTED = "rejected"


class HeldMessage(models.Model):
    """A quarantined message waiting for an analyst. Outbound: the outbox row (state held) keeps the
    message. Inbound: the message lives here, out of every agent's sight, until released into the
    inbox; it was persisted before the sender got its acknowledgement."""

    direction = models.CharField(max_length=8, choices=Direction.choices, db_index=True)
    message_id = models.CharField(max_length=64)
    peer = models.ForeignKey(Peer, on_delete=models.SET_NULL, null=True, blank=True, related_name="held_messages")
    node_id = models.CharField(max_length=64, db_index=True)
    message_type = models.CharField(max_length=40)
    detection = models.OneToOneField(ThreatDetection, on_delete=models.PROTECT, related_name="hold")
    envelope = models.JSONField(
        default=dict, blank=True, help_text="inbound: payload (after PII), budget, hops and the envelope's metadata"
    )
    status = models.CharField(max_length=16, choices=HoldStatus.choices, default=HoldStatus.HELD, db_index=True)
    held_at = models.DateTimeField(default=timezone.now, db_index=True)
    decided_by = models.CharField(max_length=150, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-held_at", "-id"]
        verbose_name = "quarantined message"
        constraints = [models.UniqueConstraint(fields=["direction", "message_id"], name="held_once_per_direction")]

    def __str__(self) -> str:
        return f"{self.direction} {self.message_type} {self.message_id[:12]}… ({self.status})"


class AllowedFingerprint(models.Model):
    """A text an analyst called a false positive: the same (normalised) text is not acted on again
    for these categories."""

    fingerprint = models.CharField(max_length=64, unique=True)
    categories = models.CharField(max_length=200, help_text="space-separated; the gates ignore only these")
    reason = models.CharField(max_length=300, blank=True)
    detection = models.ForeignKey(ThreatDetection, on_delete=models.SET_NULL, null=True, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "allow-listed fingerprint"

    def __str__(self) -> str:
        return f"{self.fingerprint[:16]}… ({self.categories})"


class ThreatCalibration(models.Model):
    """The threshold the analysts' feedback sets for one category (``defence.calibration`` explains
    the method); a reset ignores feedback given before it."""

    category = models.CharField(max_length=32, choices=CATEGORY_CHOICES, unique=True)
    threshold = models.FloatField(help_text="in force when there are enough reviews; never below the policy's")
    confirmed = models.PositiveIntegerField(default=0)
    false_positive = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(default=timezone.now)
    reset_at = models.DateTimeField(null=True, blank=True, help_text="feedback before this is ignored")
    reset_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["category"]

    def __str__(self) -> str:
        return f"{self.category} ≥ {self.threshold:.2f}"

    @property
    def samples(self) -> int:
        return self.confirmed + self.false_positive
