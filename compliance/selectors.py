"""Reads of the audit trail."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from django.db.models import QuerySet

from compliance.models import AuditEvent

FILTERABLE = ("category", "action", "outcome", "actor", "subject")


class BadFilter(ValueError):
    pass


def audit_events(filters: Mapping[str, str]) -> QuerySet[AuditEvent]:
    """Events newest first, narrowed by exact-match fields and `since`/`until` (ISO 8601)."""
    events = AuditEvent.objects.order_by("-seq")
    for name in FILTERABLE:
        if filters.get(name):
            events = events.filter(**{name: filters[name]})
    for name, lookup in (("since", "created_at__gte"), ("until", "created_at__lt")):
        if filters.get(name):
            try:
                moment = dt.datetime.fromisoformat(filters[name])
            except ValueError as exc:
                raise BadFilter(f"{name} must be an ISO 8601 date or time, got {filters[name]!r}") from exc
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
            events = events.filter(**{lookup: moment})
    return events
