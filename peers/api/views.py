from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from peers import selectors, services
from peers.models import Peer, RegistryManifest


class RegistryThrottle(AnonRateThrottle):
    scope = "registry"
    rate = "120/min"


class RegistryManifestsView(APIView):
    """This node's manifest registry. Public: manifests prove themselves, so anyone may publish
    one, and only valid, unexpired, correctly signed manifests are accepted."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [RegistryThrottle]

    @extend_schema(operation_id="registry_list", responses=OpenApiResponse(description="{manifests: [...]}"))
    def get(self, request: Request) -> Response:
        documents = RegistryManifest.objects.filter(expires_at__gt=timezone.now()).values_list("document", flat=True)
        return Response({"manifests": list(documents[:1000])})

    @extend_schema(operation_id="registry_publish", request=dict, responses={201: dict, 400: dict})
    def post(self, request: Request) -> Response:
        try:
            entry = services.publish_to_registry(request.data, client_addr=request.META.get("REMOTE_ADDR", ""))
        except services.PeerError as exc:
            return Response({"error": {"code": exc.code, "message": str(exc)}}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"node_id": entry.node_id, "expires_at": entry.expires_at}, status=status.HTTP_201_CREATED)


class PeerSerializer(serializers.Serializer):
    def to_representation(self, instance: Peer) -> dict[str, Any]:
        return selectors.describe_peer(instance)


class PeerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Known peers with their trust tier and live sessions."""

    serializer_class = PeerSerializer
    queryset = Peer.objects.all()
    lookup_field = "node_id"

    def get_queryset(self) -> QuerySet[Peer]:
        return selectors.peers_with_live_sessions()
