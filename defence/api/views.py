"""REST: the AI-defence verdicts for automation (``federation.api.items`` for the shape)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema

from defence import lines, services
from federation.api.items import ItemsView
from federation.capabilities import parse_tier
from federation.permissions import HasPermission


@extend_schema(request=dict, responses=dict)
class ScanView(ItemsView):
    """Per item: threat, score 0-1, the categories over the node's thresholds; with ``"tier"`` the
    gate's action for a peer of that tier, with ``"explain": true`` the evidence spans."""

    permission_classes = [HasPermission.of("defence.view_threatpolicy")]
    audit_action = "defence.scanned"

    def options(self, body: dict[str, Any]) -> dict[str, Any]:
        tier = parse_tier(body["tier"]) if body.get("tier") is not None else None
        return {"cfg": services.config(), "tier": tier, "explain": body.get("explain") is True}

    def handle_item(self, item: Any, options: dict[str, Any]) -> dict[str, Any]:
        return lines.handle_item(item, **options)

    def tally(self) -> lines.Tally:
        return lines.Tally()

    def audit_details(self, options: dict[str, Any]) -> dict[str, Any]:
        return {"tier": options["tier"]} if options["tier"] is not None else {}
