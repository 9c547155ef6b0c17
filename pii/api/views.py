"""REST: the PII detectors and policies for automation. `{"id", "text"}` or `{"items": [...]}` in;
per item the same result lines `federation pii scan` prints."""

from __future__ import annotations

import contextlib
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.services import record_event
from federation.capabilities import parse_tier
from federation.permissions import HasPermission
from pii import lines, services

MAX_ITEMS = 1000
MAX_BODY_BYTES = 64 * 1024 * 1024  # a 16 Mi-character text, escaped, fits; more is refused unread


def _error(code: str, message: str, http_status: int = status.HTTP_400_BAD_REQUEST) -> Response:
    return Response({"error": {"code": code, "message": message}}, status=http_status)


class _ItemsView(APIView):
    permission_classes = [HasPermission.of("pii.view_piipolicy")]
    redact = False

    def _tier(self, body: dict[str, Any]) -> int:
        if "tier" not in body:
            raise ValueError('"tier" is required: UNTRUSTED … PRIVILEGED or 0-4')
        return parse_tier(body["tier"])

    def post(self, request: Request) -> Response:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY_BYTES:
            return _error("TOO_LARGE", f"the body is {length} bytes; the limit is {MAX_BODY_BYTES}", 413)
        body = request.data
        if not isinstance(body, dict):
            return _error("SCHEMA_INVALID", 'send {"id", "text"} or {"items": [{"id", "text"}, …]}')
        tier, hasher = None, None
        if self.redact:
            try:
                tier = self._tier(body)
            except ValueError as exc:
                return _error("SCHEMA_INVALID", str(exc))
            with contextlib.suppress(Exception):  # not initialised: HASH falls back to REDACT
                hasher = services.local_hasher()
        items = body.get("items")
        single = items is None
        if single:
            items = [body]
        if not isinstance(items, list) or not 0 < len(items) <= MAX_ITEMS:
            return _error("SCHEMA_INVALID", f'"items" must list 1 to {MAX_ITEMS} objects')
        tally = lines.Tally()
        results = [tally.add(lines.handle_item(item, tier=tier, hasher=hasher)) for item in items]
        record_event(
            action="pii.scanned",
            actor=f"user:{request.user.get_username()}",
            details={"redact": self.redact, "api": True, **tally.as_json()},
        )
        if single:
            result = results[0]
            return Response(result, status=status.HTTP_400_BAD_REQUEST if "error" in result else status.HTTP_200_OK)
        return Response({"results": results})


@extend_schema(request=dict, responses=dict)
class ScanView(_ItemsView):
    """Detections (type, start, end, confidence, detector) at or above each type's threshold."""


@extend_schema(request=dict, responses=dict)
class TransformView(_ItemsView):
    """The text as a peer of ``tier`` would receive it (REDACT / HASH applied, or blocked)."""

    redact = True
