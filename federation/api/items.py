"""The REST twin of the JSON-lines scanning commands: `{"id", "text"}` or `{"items": [...]}` in,
per item the same result line the command prints, and one audit event per request (counts only)."""

from __future__ import annotations

from typing import Any, Protocol

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.services import record_event

MAX_ITEMS = 1000
MAX_BODY_BYTES = 64 * 1024 * 1024  # a 16 Mi-character text, escaped, fits; more is refused unread


class Tally(Protocol):
    def add(self, result: dict[str, Any]) -> dict[str, Any]: ...

    def as_json(self) -> dict[str, Any]: ...


def error_response(code: str, message: str, http_status: int = status.HTTP_400_BAD_REQUEST) -> Response:
    return Response({"error": {"code": code, "message": message}}, status=http_status)


class ItemsView(APIView):
    """Subclasses name the audit action and say how to read options and handle one item."""

    audit_action = ""

    def options(self, body: dict[str, Any]) -> dict[str, Any]:
        """Request-wide options from the body; a ValueError is a 400 naming the problem."""
        return {}

    def handle_item(self, item: Any, options: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def tally(self) -> Tally:
        raise NotImplementedError

    def audit_details(self, options: dict[str, Any]) -> dict[str, Any]:
        return {}

    def post(self, request: Request) -> Response:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY_BYTES:
            return error_response("TOO_LARGE", f"the body is {length} bytes; the limit is {MAX_BODY_BYTES}", 413)
        body = request.data
        if not isinstance(body, dict):
            return error_response("SCHEMA_INVALID", 'send {"id", "text"} or {"items": [{"id", "text"}, …]}')
        try:
            options = self.options(body)
        except ValueError as exc:
            return error_response("SCHEMA_INVALID", str(exc))
        items = body.get("items")
        single = items is None
        if single:
            items = [body]
        if not isinstance(items, list) or not 0 < len(items) <= MAX_ITEMS:
            return error_response("SCHEMA_INVALID", f'"items" must list 1 to {MAX_ITEMS} objects')
        tally = self.tally()
        results = [tally.add(self.handle_item(item, options)) for item in items]
        record_event(
            action=self.audit_action,
            actor=f"user:{request.user.get_username()}",
            details={**self.audit_details(options), "api": True, **tally.as_json()},
        )
        if single:
            result = results[0]
            return Response(result, status=status.HTTP_400_BAD_REQUEST if "error" in result else status.HTTP_200_OK)
        return Response({"results": results})
