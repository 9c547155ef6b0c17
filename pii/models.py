"""PII policies (type x trust tier), analysts' reviews of detections, and the calibration the
reviews produce. Raw message contents are never stored here: review samples are texts analysts
submit on purpose."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from federation.tier_policy import TIER_FIELDS, TierActions, action_field
from pii.engine import TYPES, Detection

__all__ = ["TIER_FIELDS"]

TYPE_CHOICES = [(t, t) for t in TYPES]


class Action(models.TextChoices):
    BLOCK = "BLOCK", "block the message"
    REDACT = "REDACT", "redact [REDACTED:type]"
    HASH = "HASH", "keyed hash token"
    PASS = "PASS", "pass unchanged"


def _action_field(tier: str) -> models.CharField:
    return action_field(Action.choices, Action.BLOCK, f"what a {tier} peer may see", max_length=8)


class PiiPolicy(TierActions, models.Model):
    """What happens to one PII type at each trust tier, and how sure a detection must be."""

    pii_type = models.CharField("PII type", max_length=32, choices=TYPE_CHOICES, unique=True)
    threshold = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="detections below this (calibrated) confidence are ignored",
    )
    untrusted = _action_field("UNTRUSTED")
    verified = _action_field("VERIFIED")
    attested = _action_field("ATTESTED")
    trusted = _action_field("TRUSTED")
    privileged = _action_field("PRIVILEGED")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pii_type"]
        verbose_name = "PII policy"
        verbose_name_plural = "PII policies"

    def __str__(self) -> str:
        return self.pii_type


class ReviewSample(models.Model):
    """A text an analyst submitted to check the detectors on; its findings carry the verdicts."""

    title = models.CharField(max_length=200, blank=True)
    text = models.TextField()
    created_by = models.CharField(max_length=150, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "PII review sample"

    def __str__(self) -> str:
        return self.title or f"sample {self.pk}"


class Verdict(models.TextChoices):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    FALSE_POSITIVE = "false_positive", "false positive"
    MISSED = "missed", "missed (the detectors did not find it)"


class ReviewFinding(models.Model):
    """One detection in a sample (or a span the analyst says was missed) and its verdict."""

    sample = models.ForeignKey(ReviewSample, on_delete=models.CASCADE, related_name="findings")
    pii_type = models.CharField("PII type", max_length=32, choices=TYPE_CHOICES, db_index=True)
    start = models.PositiveIntegerField()
    end = models.PositiveIntegerField()
    confidence = models.FloatField(null=True, blank=True, editable=False, help_text="raw, as the detector said")
    detector = models.CharField(max_length=64, blank=True, editable=False, db_index=True)
    verdict = models.CharField(max_length=16, choices=Verdict.choices, default=Verdict.PENDING, db_index=True)
    reviewed_by = models.CharField(max_length=150, blank=True, editable=False)
    reviewed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["sample", "start"]

    def __str__(self) -> str:
        return f"{self.pii_type} {self.start}-{self.end}"

    def as_detection(self) -> Detection | None:
        """The detection as the engine reported it; None for a span an analyst added (missed)."""
        if self.confidence is None:
            return None
        return Detection(self.pii_type, self.start, self.end, self.confidence, self.detector)


class CalibrationScope(models.TextChoices):
    DETECTOR = "detector"
    TYPE = "type"


class Calibration(models.Model):
    """Verdict counts for one detector or one type, recomputed from the reviews (see
    ``pii.engine.calibration`` for the method); a reset ignores verdicts given before it."""

    scope = models.CharField(max_length=16, choices=CalibrationScope.choices)
    key = models.CharField(max_length=64, help_text="detector id or PII type")
    pii_type = models.CharField("PII type", max_length=32, choices=TYPE_CHOICES, db_index=True)
    confirmed = models.PositiveIntegerField(default=0)
    false_positive = models.PositiveIntegerField(default=0)
    missed = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(default=timezone.now)
    reset_at = models.DateTimeField(null=True, blank=True, help_text="verdicts before this are ignored")
    reset_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["pii_type", "scope", "key"]
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="pii_calibration_scope_key")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"

    @property
    def samples(self) -> int:
        return self.confirmed + self.false_positive
