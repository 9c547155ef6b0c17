"""Reads about messages, shared by the CLI, the REST API and the admin."""

from __future__ import annotations

from typing import Any

from django.db.models import Count

from messaging.models import InboxMessage, OutboxMessage


def describe_outbox(message: OutboxMessage) -> dict[str, Any]:
    return {
        "id": message.message_id,
        "peer": message.node_id,
        "type": message.message_type,
        "state": message.state,
        "attempts": message.attempts,
        "next_attempt_at": message.next_attempt_at.isoformat() if message.state == "queued" else None,
        "last_error": message.last_error,
        "refusal": {"code": message.refusal_code, "message": message.refusal_message} if message.refusal_code else None,
        "budget": message.budget,
        "hops": message.hops,
        "reply_to": message.reply_to or None,
        "broadcast_id": message.broadcast_id or None,
        "pii_scan": message.pii_scan,
        "threat_scan": message.threat_scan,
        "created_at": message.created_at.isoformat(),
        "delivered_at": message.delivered_at.isoformat() if message.delivered_at else None,
    }


def describe_inbox(message: InboxMessage) -> dict[str, Any]:
    return {
        "id": message.message_id,
        "peer": message.node_id,
        "type": message.message_type,
        "status": message.status,
        "payload": message.payload,
        "budget": message.budget,
        "hops": message.hops,
        "reply_to": message.reply_to or None,
        "pii_scan": message.pii_scan,
        "sender_scan": message.sender_scan,
        "threat_scan": message.threat_scan,
        "sent_at": message.sent_at.isoformat(),
        "received_at": message.received_at.isoformat(),
    }


def delivery_counts() -> dict[str, int]:
    return dict(OutboxMessage.objects.order_by().values_list("state").annotate(count=Count("id")))


def top_failure_reasons(limit: int = 5) -> list[dict[str, Any]]:
    rows = (
        OutboxMessage.objects.exclude(last_error="")
        .order_by()
        .values("last_error")
        .annotate(count=Count("id"))
        .order_by("-count")[:limit]
    )
    return [{"code": row["last_error"], "count": row["count"]} for row in rows]


def reply_to(message_id: str) -> InboxMessage | None:
    return InboxMessage.objects.select_related("peer").filter(reply_to=message_id).order_by("received_at").first()
