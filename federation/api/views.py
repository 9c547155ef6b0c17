from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from federation import selectors
from federation.api.serializers import StatusSerializer
from federation.permissions import HasPermission


class StatusView(APIView):
    """Node id, versions, uptime and the health of database, broker and worker."""

    permission_classes = [HasPermission.of("federation.view_localnode")]

    @extend_schema(responses=StatusSerializer, operation_id="status")
    def get(self, request: Request) -> Response:
        return Response(selectors.node_status())
