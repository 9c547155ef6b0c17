"""REST: the PII detectors and policies for automation (``federation.api.items`` for the shape)."""

from __future__ import annotations

import contextlib
from typing import Any

from drf_spectacular.utils import extend_schema

from federation.api.items import ItemsView
from federation.capabilities import parse_tier
from federation.permissions import HasPermission
from pii import lines, services


class _PiiItemsView(ItemsView):
    permission_classes = [HasPermission.of("pii.view_piipolicy")]
    audit_action = "pii.scanned"
    redact = False

    def options(self, body: dict[str, Any]) -> dict[str, Any]:
        if not self.redact:
            return {"tier": None, "hasher": None}
        if "tier" not in body:
            raise ValueError('"tier" is required: UNTRUSTED … PRIVILEGED or 0-4')
        hasher = None
        with contextlib.suppress(Exception):  # not initialised: HASH falls back to REDACT
            hasher = services.local_hasher()
        return {"tier": parse_tier(body["tier"]), "hasher": hasher}

    def handle_item(self, item: Any, options: dict[str, Any]) -> dict[str, Any]:
        return lines.handle_item(item, **options)

    def tally(self) -> lines.Tally:
        return lines.Tally()

    def audit_details(self, options: dict[str, Any]) -> dict[str, Any]:
        return {"redact": self.redact}


@extend_schema(request=dict, responses=dict)
class ScanView(_PiiItemsView):
    """Detections (type, start, end, confidence, detector) at or above each type's threshold."""


@extend_schema(request=dict, responses=dict)
class TransformView(_PiiItemsView):
    """The text as a peer of ``tier`` would receive it (REDACT / HASH applied, or blocked)."""

    redact = True
