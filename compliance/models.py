"""The security audit trail: append-only, sequence-numbered, hash-chained (MISSION §7)."""

from __future__ import annotations

from typing import Any, NoReturn

from django.db import models


class AuditTrailIsAppendOnly(Exception):
    """Raised on any attempt to change or remove audit records through the ORM."""


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AuditTrailIsAppendOnly("audit events cannot be updated")

    def delete(self) -> NoReturn:  # type: ignore[override]
        raise AuditTrailIsAppendOnly("audit events cannot be deleted")

    def bulk_create(self, *args: Any, **kwargs: Any) -> NoReturn:  # type: ignore[override]
        raise AuditTrailIsAppendOnly("audit events are appended only through compliance.services.record_event(s)")

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:  # type: ignore[override]
        raise AuditTrailIsAppendOnly("audit events cannot be updated")


class Outcome(models.TextChoices):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"
    ERROR = "error"


class AuditEvent(models.Model):
    seq = models.PositiveBigIntegerField(unique=True, editable=False)
    created_at = models.DateTimeField(editable=False, db_index=True)
    category = models.CharField(max_length=32, editable=False, db_index=True)
    action = models.CharField(max_length=64, editable=False, db_index=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, editable=False, db_index=True)
    actor = models.CharField(max_length=200, blank=True, editable=False, help_text="who acted: user, node id, process")
    subject = models.CharField(max_length=200, blank=True, editable=False, db_index=True, help_text="what it acted on")
    details = models.JSONField(default=dict, editable=False)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-seq"]
        indexes = [models.Index(fields=["category", "-seq"]), models.Index(fields=["outcome", "-seq"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} ({self.outcome})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditTrailIsAppendOnly("audit events cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditTrailIsAppendOnly("audit events cannot be deleted")

    def chain_fields(self) -> dict[str, Any]:
        from compliance.services import format_timestamp

        return {
            "seq": self.seq,
            "created_at": format_timestamp(self.created_at),
            "category": self.category,
            "action": self.action,
            "outcome": self.outcome,
            "actor": self.actor,
            "subject": self.subject,
            "details": self.details,
        }
