from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from messaging import selectors, services
from messaging.models import DeliveryState, InboxMessage, MemoryEntry, OutboxMessage


def delivery_summary() -> dict[str, Any]:
    """Counts per delivery state and the commonest failure reasons, for the outbox chart."""
    counts = selectors.delivery_counts()
    total = sum(counts.values())
    states = (
        [
            {
                "state": state,
                "label": label,
                "count": counts.get(state, 0),
                "percent": round(100 * counts.get(state, 0) / total),
            }
            for state, label in DeliveryState.choices
        ]
        if total
        else []
    )
    return {"total": total, "states": states, "reasons": selectors.top_failure_reasons()}


def _pretty(value: Any) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


class ReadOnlyAdmin(admin.ModelAdmin):
    """Messages are written by the protocol, never by hand; the admin reads them and acts."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields if f.name != "payload"] + ["pretty_payload"]

    @admin.display(description="payload")
    def pretty_payload(self, obj: Any) -> str:
        return _pretty(obj.payload)


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = [
        "message_id",
        "message_type",
        "peer",
        "state",
        "attempts",
        "last_error",
        "refusal_code",
        "created_at",
        "delivered_at",
    ]
    list_filter = ["state", "message_type", "refusal_code", "last_error", "peer"]
    list_select_related = ["peer"]
    search_fields = ["message_id", "broadcast_id", "reply_to", "node_id", "peer__display_name"]
    date_hierarchy = "created_at"
    exclude = ["payload", "claim_token"]
    actions = ["requeue"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [name for name in super().get_readonly_fields(request, obj) if name != "claim_token"]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        return super().changelist_view(request, {**(extra_context or {}), "delivery_summary": delivery_summary()})

    @admin.action(description="Requeue selected dead-lettered messages", permissions=["change"])
    def requeue(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        ids = list(queryset.filter(state=DeliveryState.DEAD_LETTERED).values_list("message_id", flat=True))
        count = services.requeue(message_ids=ids, actor=f"admin:{request.user.get_username()}")
        skipped = queryset.count() - count
        self.message_user(request, f"Requeued {count} message(s).", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"{skipped} were not dead-lettered (or lost their peer); left alone.", messages.WARNING
            )


@admin.register(InboxMessage)
class InboxMessageAdmin(ReadOnlyAdmin):
    list_display = ["message_id", "message_type", "peer", "status", "received_at", "reply_to"]
    list_filter = ["status", "message_type", "peer"]
    list_select_related = ["peer"]
    search_fields = ["message_id", "reply_to", "node_id", "peer__display_name"]
    date_hierarchy = "received_at"
    exclude = ["payload"]
    actions = ["mark_handled"]

    @admin.action(description="Mark selected messages handled", permissions=["change"])
    def mark_handled(self, request: HttpRequest, queryset: QuerySet[InboxMessage]) -> None:
        actor = f"admin:{request.user.get_username()}"
        ids = list(queryset.values_list("message_id", flat=True))
        for message_id in ids:
            services.mark_handled(message_id=message_id, actor=actor)
        self.message_user(request, f"Marked {len(ids)} message(s) handled.", messages.SUCCESS)


@admin.register(MemoryEntry)
class MemoryEntryAdmin(admin.ModelAdmin):
    list_display = ["namespace", "key", "classification", "updated_at"]
    list_filter = ["classification", "namespace"]
    search_fields = ["namespace", "key"]
    readonly_fields = ["created_at", "updated_at"]
