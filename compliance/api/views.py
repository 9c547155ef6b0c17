from __future__ import annotations

import dataclasses

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance import selectors
from compliance.api.serializers import AuditEventSerializer, ChainReportSerializer
from compliance.models import AuditEvent
from compliance.services import verify_audit_chain
from federation.permissions import HasPermission

_FILTER_PARAMS = [OpenApiParameter(name, str, description=f"exact {name}") for name in selectors.FILTERABLE] + [
    OpenApiParameter("since", str, description="ISO 8601, inclusive"),
    OpenApiParameter("until", str, description="ISO 8601, exclusive"),
]


@extend_schema_view(list=extend_schema(parameters=_FILTER_PARAMS))
class AuditEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The hash-chained audit trail, newest first. Read-only by construction."""

    serializer_class = AuditEventSerializer
    queryset = AuditEvent.objects.all()
    lookup_field = "seq"

    def get_queryset(self) -> QuerySet[AuditEvent]:
        try:
            return selectors.audit_events(self.request.query_params)
        except selectors.BadFilter as exc:
            raise ValidationError({"filter": str(exc)}) from exc


class AuditVerifyView(APIView):
    """Walk the whole chain and report the first broken record, if any."""

    permission_classes = [HasPermission.of("compliance.view_auditevent")]

    @extend_schema(responses=ChainReportSerializer, operation_id="audit_verify")
    def get(self, request: Request) -> Response:
        return Response(dataclasses.asdict(verify_audit_chain()))
