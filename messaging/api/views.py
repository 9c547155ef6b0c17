"""REST: send/broadcast, the outbox with requeue, the inbox with reply/forward, memory.

Views validate shapes and call messaging.services; every refusal comes back in the API's one
error shape with the protocol's reason code (INVALID_BUDGET, NOT_PERMITTED, OVERSIZED, …).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from federation import envelope
from federation.capabilities import CLASSIFICATIONS
from federation.permissions import HasPermission
from messaging import selectors, services
from messaging.models import InboxMessage, MemoryEntry, OutboxMessage
from trust import authz

STATUS_FOR = {
    services.UNKNOWN_PEER: status.HTTP_404_NOT_FOUND,
    services.NOT_FOUND: status.HTTP_404_NOT_FOUND,
    **dict.fromkeys(authz.DENIAL_CODES, status.HTTP_403_FORBIDDEN),
    envelope.OVERSIZED: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
}


def _error(exc: Exception) -> Response:
    code = getattr(exc, "code", "error")
    return Response(
        {"error": {"code": code, "message": str(exc)}}, status=STATUS_FOR.get(code, status.HTTP_400_BAD_REQUEST)
    )


def _actor(request: Request) -> str:
    return f"user:{request.user.get_username()}"


def _filtered(rows: QuerySet[Any], request: Request, fields: dict[str, str]) -> QuerySet[Any]:
    """Exact-match filters from query parameters: {"param": "model_field"}."""
    for name, field in fields.items():
        if request.query_params.get(name):
            rows = rows.filter(**{field: request.query_params[name]})
    return rows


def _draft(fields: dict[str, Any]) -> services.Draft:
    return services.make_draft(
        message_type=fields["type"],
        payload=fields["payload"],
        max_hops=fields["max_hops"],
        max_tokens=fields["max_tokens"],
        max_usd=fields["max_usd"],
    )


class SendSerializer(serializers.Serializer):
    peer = serializers.CharField(required=False, help_text="node id; omit with broadcast")
    broadcast = serializers.BooleanField(default=False)
    type = serializers.CharField(default="task-assignment")
    payload = serializers.JSONField()
    max_hops = serializers.JSONField(default=envelope.DEFAULT_MAX_HOPS)
    max_tokens = serializers.JSONField(default=None)
    max_usd = serializers.JSONField(default=None)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("peer")) == attrs["broadcast"]:
            raise serializers.ValidationError("give 'peer', or 'broadcast': true (not both)")
        return attrs


class SpendSerializer(serializers.Serializer):
    spent_tokens = serializers.IntegerField(default=0, min_value=0)
    spent_usd = serializers.DecimalField(default=0, max_digits=14, decimal_places=6, min_value=0)


class ReplySerializer(SpendSerializer):
    payload = serializers.JSONField()


class ForwardSerializer(SpendSerializer):
    peer = serializers.CharField()


class QuerySerializer(serializers.Serializer):
    peer = serializers.CharField()
    query = serializers.CharField(allow_blank=True, max_length=500)
    namespace = serializers.CharField(required=False, allow_blank=True, max_length=100)


class OutboxSerializer(serializers.Serializer):
    def to_representation(self, instance: OutboxMessage) -> dict[str, Any]:
        return selectors.describe_outbox(instance)


class InboxSerializer(serializers.Serializer):
    def to_representation(self, instance: InboxMessage) -> dict[str, Any]:
        return selectors.describe_inbox(instance)


class MessageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The outbox: what this node sends, with delivery state. POST queues a message."""

    serializer_class = OutboxSerializer
    queryset = OutboxMessage.objects.all()
    lookup_field = "message_id"

    def get_queryset(self) -> QuerySet[OutboxMessage]:
        fields = {"state": "state", "type": "message_type", "broadcast": "broadcast_id"}
        return _filtered(OutboxMessage.objects.select_related("peer"), self.request, fields)

    @extend_schema(request=SendSerializer, responses={202: dict})
    def create(self, request: Request) -> Response:
        if isinstance(request.data, dict) and "messages" in request.data:
            return self._create_many(request)
        data = SendSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        try:
            draft = _draft(fields)
            if fields["broadcast"]:
                broadcast_id, results = services.broadcast(draft=draft, actor=_actor(request))
                body = {
                    "broadcast_id": broadcast_id,
                    "messages": [selectors.describe_outbox(r.message) for r in results if r.message],
                    "skipped": [
                        {"peer": r.node_id, "code": r.code, "reason": r.reason} for r in results if not r.message
                    ],
                }
            else:
                sent = services.send(node_id=fields["peer"], draft=draft, actor=_actor(request))
                body = {"messages": [selectors.describe_outbox(sent)]}
        except (envelope.EnvelopeError, services.MessagingError) as exc:
            return _error(exc)
        return Response(body, status=status.HTTP_202_ACCEPTED)

    def _create_many(self, request: Request) -> Response:
        """{"messages": [{peer, type, payload, max_*}, ...]}: queued together, all or none."""
        items = request.data["messages"]
        if not isinstance(items, list):
            raise serializers.ValidationError({"messages": "a list of messages"})
        data = SendSerializer(data=items, many=True)
        data.is_valid(raise_exception=True)
        try:
            drafts = []
            for fields in data.validated_data:
                if fields["broadcast"]:
                    raise services.MessagingError("INVALID_BATCH", "broadcast is not available inside a batch")
                drafts.append((fields["peer"], _draft(fields)))
            sent = services.send_many(items=drafts, actor=_actor(request))
        except (envelope.EnvelopeError, services.MessagingError) as exc:
            return _error(exc)
        return Response({"messages": [selectors.describe_outbox(m) for m in sent]}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: dict})
    @action(detail=True, methods=["post"])
    def requeue(self, request: Request, message_id: str) -> Response:
        count = services.requeue(message_ids=[message_id], actor=_actor(request))
        if not count:
            return Response(
                {"error": {"code": "NOT_DEAD_LETTERED", "message": "only dead-lettered messages can be requeued"}},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(selectors.describe_outbox(self.get_object()))


class InboxViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Messages peers delivered here. Local agents read tasks here and post results back."""

    serializer_class = InboxSerializer
    queryset = InboxMessage.objects.all()
    lookup_field = "message_id"

    def get_queryset(self) -> QuerySet[InboxMessage]:
        fields = {"type": "message_type", "status": "status", "reply_to": "reply_to"}
        return _filtered(InboxMessage.objects.select_related("peer"), self.request, fields)

    def get_permissions(self) -> list[Any]:
        if self.action in ("reply", "forward"):
            return [HasPermission.of("messaging.add_outboxmessage", "messaging.change_inboxmessage")()]
        if self.action == "handled":
            return [HasPermission.of("messaging.change_inboxmessage")()]
        return super().get_permissions()

    @extend_schema(request=ReplySerializer, responses={202: dict})
    @action(detail=True, methods=["post"])
    def reply(self, request: Request, message_id: str) -> Response:
        data = ReplySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            sent = services.reply(inbox_id=message_id, actor=_actor(request), **data.validated_data)
        except (envelope.EnvelopeError, services.MessagingError) as exc:
            return _error(exc)
        return Response(selectors.describe_outbox(sent), status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=ForwardSerializer, responses={202: dict})
    @action(detail=True, methods=["post"])
    def forward(self, request: Request, message_id: str) -> Response:
        data = ForwardSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        try:
            sent = services.forward(inbox_id=message_id, node_id=fields.pop("peer"), actor=_actor(request), **fields)
        except (envelope.EnvelopeError, services.MessagingError) as exc:
            return _error(exc)
        return Response(selectors.describe_outbox(sent), status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: dict})
    @action(detail=True, methods=["post"])
    def handled(self, request: Request, message_id: str) -> Response:
        try:
            message = services.mark_handled(message_id=message_id, actor=_actor(request))
        except services.MessagingError as exc:
            return _error(exc)
        return Response(selectors.describe_inbox(message))


class QueryViewSet(viewsets.ViewSet):
    """POST a memory query to a peer; the answer arrives in the inbox with reply_to = its id."""

    permission_classes = [HasPermission.of("messaging.add_outboxmessage")]

    @extend_schema(request=QuerySerializer, responses={202: dict})
    def create(self, request: Request) -> Response:
        data = QuerySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        try:
            draft = services.make_draft(
                message_type="memory-query",
                payload={"query": fields["query"], "namespace": fields.get("namespace") or None},
            )
            sent = services.send(node_id=fields["peer"], draft=draft, actor=_actor(request))
        except (envelope.EnvelopeError, services.MessagingError) as exc:
            return _error(exc)
        return Response(selectors.describe_outbox(sent), status=status.HTTP_202_ACCEPTED)


class MemorySerializer(serializers.ModelSerializer):
    classification = serializers.ChoiceField(choices=CLASSIFICATIONS, default="internal")

    class Meta:
        model = MemoryEntry
        fields = ["id", "namespace", "key", "value", "classification", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators: list[Any] = []  # POST upserts by (namespace, key)


class MemoryViewSet(viewsets.ModelViewSet):
    """Node-local memory for local agents. POST writes (upserts by namespace + key)."""

    serializer_class = MemorySerializer
    queryset = MemoryEntry.objects.all()

    def get_queryset(self) -> QuerySet[MemoryEntry]:
        rows = MemoryEntry.objects.all()
        if self.request.query_params.get("namespace"):
            rows = rows.filter(namespace=self.request.query_params["namespace"])
        return rows

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = MemorySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = services.write_memory(actor=_actor(request), **data.validated_data)
        return Response(MemorySerializer(entry).data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer: Any) -> None:
        fields = {**MemorySerializer(serializer.instance).data, **serializer.validated_data}
        serializer.instance = services.write_memory(
            actor=_actor(self.request),
            namespace=fields["namespace"],
            key=fields["key"],
            value=fields["value"],
            classification=fields["classification"],
        )

    def perform_destroy(self, instance: MemoryEntry) -> None:
        services.delete_memory(entry=instance, actor=_actor(self.request))
