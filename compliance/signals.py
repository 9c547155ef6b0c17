"""Bridges from Django's own events into the security audit trail."""

from __future__ import annotations

from typing import Any

from auditlog.models import LogEntry
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver

from compliance.models import Outcome
from compliance.services import record_event

_ADMIN_ACTIONS = {LogEntry.Action.CREATE: "create", LogEntry.Action.UPDATE: "update", LogEntry.Action.DELETE: "delete"}


@receiver(post_save, sender=LogEntry, dispatch_uid="audit-admin-change")
def record_admin_change(sender: type, instance: LogEntry, created: bool, **kwargs: Any) -> None:
    if not created:
        return
    # Field names only: the values may hold personal data and stay in auditlog's own table.
    changed = sorted((instance.changes_dict or {}).keys())
    record_event(
        action="admin.change",
        actor=str(instance.actor) if instance.actor_id else "system",
        subject=f"{instance.content_type.app_label}.{instance.content_type.model}:{instance.object_pk}",
        details={
            "operation": _ADMIN_ACTIONS.get(instance.action, str(instance.action)),
            "fields": changed,
            "auditlog_entry": instance.pk,
        },
    )


def _client(request: Any) -> str:
    return request.META.get("REMOTE_ADDR", "") if request is not None else ""


@receiver(user_logged_in, dispatch_uid="audit-login")
def record_login(sender: type, request: Any, user: Any, **kwargs: Any) -> None:
    record_event(action="auth.login", actor=user.get_username(), details={"client": _client(request)})


@receiver(user_login_failed, dispatch_uid="audit-login-failed")
def record_login_failure(sender: type, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    # Only the username: Django already masks the password, and we never want it near the trail.
    record_event(
        action="auth.login_failed",
        outcome=Outcome.DENIED,
        actor=str(credentials.get("username", ""))[:150],
        details={"client": _client(request)},
    )
