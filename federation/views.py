"""Unauthenticated, public endpoints: the signed manifest and the health probe."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from federation import selectors, services


@require_GET
def manifest(request: HttpRequest) -> JsonResponse:
    try:
        document = services.current_manifest()
    except services.NodeNotInitialised:
        return JsonResponse({"error": {"code": "not_initialised", "message": "node is not initialised"}}, status=503)
    response = JsonResponse(document, json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = "public, max-age=60"
    return response


@require_GET
async def healthz(request: HttpRequest) -> JsonResponse:
    report = await sync_to_async(selectors.health)()
    return JsonResponse(report, status=200 if report["healthy"] else 503)
