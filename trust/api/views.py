"""`/api/v1/peers/<node_id>/trust`: the federation_trust view — read for peer viewers, changes
for the security-admin role only (permission trust.manage_trust)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.models import Outcome
from compliance.services import record_event
from federation.capabilities import parse_tier
from federation.permissions import HasPermission
from peers.models import Peer
from trust import selectors, services

VIEW, MANAGE = "peers.view_peer", "trust.manage_trust"
CHANGES = (
    "grant", "revoke", "pin", "unpin", "cap", "uncap", "approve_privileged", "recompute", "suspend", "evict",
    "reactivate",
)  # fmt: skip


def _error(code: str, message: str, http: int = status.HTTP_400_BAD_REQUEST) -> Response:
    return Response({"error": {"code": code, "message": message}}, status=http)


class PeerTrustView(APIView):
    def get_permissions(self) -> list[Any]:
        needed = (VIEW,) if self.request.method in ("GET", "HEAD", "OPTIONS") else (VIEW, MANAGE)
        return [HasPermission.of(*needed)()]

    def permission_denied(self, request: Request, message: Any = None, code: Any = None) -> None:
        if request.user and request.user.is_authenticated and request.method not in ("GET", "HEAD", "OPTIONS"):
            record_event(
                action="trust.change_refused",
                outcome=Outcome.DENIED,
                actor=f"api:{request.user.get_username()}",
                subject=str(self.kwargs.get("node_id", ""))[:200],
                details={"reason": "permission_denied", "needs": MANAGE},
            )
        super().permission_denied(request, message, code)

    @extend_schema(
        operation_id="peer_trust", responses=OpenApiResponse(description="score, inputs, tier, claims, history")
    )
    def get(self, request: Request, node_id: str) -> Response:
        peer = Peer.objects.filter(node_id=node_id).first()
        if peer is None:
            return _error("unknown_peer", f"no peer {node_id}", status.HTTP_404_NOT_FOUND)
        return Response(selectors.describe_trust(peer))

    @extend_schema(
        operation_id="peer_trust_change",
        request=dict,
        responses={200: dict, 400: dict, 403: dict, 404: dict},
        description="One change per request: {grant, expires_at?} | {revoke} | {pin, reason} | {unpin: true} "
        "| {cap, reason} | {uncap: true} | {approve_privileged: true} | {recompute: true} "
        "| {suspend: minutes, reason} | {evict: true, reason} | {reactivate: true, reason?}",
    )
    def post(self, request: Request, node_id: str) -> Response:
        data = request.data if isinstance(request.data, dict) else None
        asked = [key for key in CHANGES if data and key in data]
        if data is None or len(asked) != 1:
            return _error("bad_request", f"send exactly one of {', '.join(CHANGES)}")
        if not Peer.objects.filter(node_id=node_id).exists():
            return _error("unknown_peer", f"no peer {node_id}", status.HTTP_404_NOT_FOUND)
        actor = f"api:{request.user.get_username()}"
        try:
            self._apply(asked[0], data, node_id, actor)
        except services.TrustError as exc:
            return _error(exc.code, str(exc))
        except (TypeError, ValueError) as exc:
            return _error("bad_request", str(exc))
        return Response(selectors.describe_trust(Peer.objects.get(node_id=node_id)))

    def _apply(self, change: str, data: dict[str, Any], node_id: str, actor: str) -> None:
        reason = str(data.get("reason", ""))
        if change == "grant":
            expires = data.get("expires_at")
            expires_at = dt.datetime.fromisoformat(str(expires).replace("Z", "+00:00")) if expires else None
            services.issue_claim(node_id=node_id, claim_type=str(data["grant"]), expires_at=expires_at, actor=actor)
        elif change == "revoke":
            services.revoke_claim(node_id=node_id, claim_type=str(data["revoke"]), actor=actor)
        elif change in ("pin", "unpin"):
            tier = parse_tier(data["pin"]) if change == "pin" else None
            services.pin(node_id=node_id, tier=tier, reason=reason, actor=actor)
        elif change in ("cap", "uncap"):
            tier = parse_tier(data["cap"]) if change == "cap" else None
            services.set_cap(node_id=node_id, tier=tier, reason=reason, actor=actor)
        elif change == "approve_privileged":
            services.approve_privileged(node_id=node_id, actor=actor)
        elif change == "suspend":
            minutes = data["suspend"] if data["suspend"] is not True else None
            if minutes is not None and (not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 1):
                raise ValueError("suspend takes a number of minutes (>= 1) or true for the default cooldown")
            services.suspend(node_id=node_id, reason=reason or f"suspended by {actor}", actor=actor, minutes=minutes)
        elif change == "evict":
            services.evict(node_id=node_id, reason=reason, actor=actor)
        elif change == "reactivate":
            services.reactivate(node_id=node_id, reason=reason, actor=actor)
        else:
            services.evaluate_one(node_id, trigger="operator")
