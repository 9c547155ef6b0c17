from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.html import format_html

from peers import services
from peers.models import LIVE_SESSION_STATES, Peer, RegistryManifest, Session, TrustTier
from trust import charts
from trust import services as trust
from trust.models import Claim
from trust.selectors import claim_status

MANAGE_TRUST = "trust.manage_trust"


class AddPeerForm(forms.Form):
    url = forms.URLField(
        label="Peer base URL",
        assume_scheme="https",
        help_text="e.g. https://node.example:8443 — its manifest is "
        "fetched from /.well-known/federation/manifest.json and verified before anything is stored",
    )


class PeerForm(forms.ModelForm):
    class Meta:
        model = Peer
        fields = ["display_name", "pinned_tier", "pin_reason", "tier_cap", "cap_reason"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("pinned_tier") is not None and not (data.get("pin_reason") or "").strip():
            self.add_error("pin_reason", "Say why the tier is pinned; the reason is audited.")
        if data.get("tier_cap") is not None and not (data.get("cap_reason") or "").strip():
            self.add_error("cap_reason", "Say why the tier is capped; the reason is audited.")
        return data


class SessionInline(admin.TabularInline):
    model = Session
    extra = 0
    can_delete = False
    fields = [
        "session_id",
        "role",
        "state",
        "established_at",
        "expires_at",
        "last_heartbeat_at",
        "missed_heartbeats",
        "last_latency_ms",
    ]
    readonly_fields = fields
    ordering = ["-established_at"]
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ClaimInline(admin.TabularInline):
    model = Claim
    extra = 0
    can_delete = False
    fields = ["claim_type", "direction", "status", "issued_at", "expires_at", "revoked_at", "issued_by"]
    readonly_fields = fields
    ordering = ["direction", "claim_type", "-issued_at"]
    show_change_link = True

    @admin.display(description="status")
    def status(self, obj: Claim) -> str:
        return claim_badge(obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def claim_badge(claim: Claim) -> str:
    from django.utils import timezone

    state = claim_status(claim, timezone.now())
    colour = {"valid": "#2e7d32", "expiring": "#b26a00", "expired": "#9e9e9e", "revoked": "#c62828"}[state]
    label = "⚠ expiring" if state == "expiring" else state
    return format_html('<strong style="color:{}">{}</strong>', colour, label)


@admin.register(Peer)
class PeerAdmin(admin.ModelAdmin):
    list_display = [
        "display_name",
        "node_id",
        "effective_tier_label",
        "trust_tier",
        "trust_score",
        "state",
        "pinned_tier",
        "discovered_via",
        "live_sessions",
        "last_seen_at",
        "last_error",
    ]
    list_filter = ["state", "trust_tier", "pinned_tier", "tier_cap", "demoted_for", "discovered_via", "last_error"]
    search_fields = ["node_id", "display_name", "base_url", "tls_fingerprint"]
    readonly_fields = [
        "node_id",
        "public_key",
        "base_url",
        "federation_url",
        "tls_fingerprint",
        "manifest_expires_at",
        "trust_tier",
        "discovered_via",
        "last_seen_at",
        "last_error",
        "pinned_by",
        "pinned_at",
        "trust_explanation",
        "trust_chart",
        "trust_score",
        "interactions",
        "demoted_for",
        "privileged_approved_by",
        "privileged_approved_at",
        "remote_tier",
        "state",
        "state_reason",
        "state_changed_at",
        "suspended_until",
        "created_at",
        "updated_at",
        "pretty_manifest",
    ]
    exclude = ["manifest"]
    form = PeerForm
    inlines = [SessionInline, ClaimInline]
    actions = ["remove_peers", "recompute", "approve_privileged", "suspend", "evict", "reactivate"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.has_perm(MANAGE_TRUST):  # only the security-admin role changes tiers
            fields += ["pinned_tier", "pin_reason", "tier_cap", "cap_reason"]
        return fields

    def save_model(self, request: HttpRequest, obj: Peer, form: Any, change: bool) -> None:
        """Pins and caps go through trust.services so they are audited with their reason and
        sent to the peer, like the CLI's."""
        changed = set(form.changed_data)
        actor = f"admin:{request.user.get_username()}"
        Peer.objects.filter(pk=obj.pk).update(display_name=obj.display_name)
        if {"pinned_tier", "pin_reason"} & changed:
            trust.pin(node_id=obj.node_id, tier=obj.pinned_tier, reason=obj.pin_reason, actor=actor)
        if {"tier_cap", "cap_reason"} & changed:
            trust.set_cap(node_id=obj.node_id, tier=obj.tier_cap, reason=obj.cap_reason, actor=actor)

    def has_manage_trust_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(MANAGE_TRUST)

    @admin.display(description="tier", ordering="trust_tier")
    def effective_tier_label(self, obj: Peer) -> str:
        held = f" (held: {obj.demoted_for})" if obj.demoted_for else ""
        pinned = " (pinned)" if obj.pinned_tier is not None else " (capped)" if obj.tier_cap is not None else ""
        return format_html("<strong>{}</strong>{}{}", TrustTier(obj.effective_tier).label, pinned, held)

    @admin.display(description="why this score and tier")
    def trust_explanation(self, obj: Peer) -> str:
        return charts.explanation(obj.trust_inputs or {})

    @admin.display(description="trust history")
    def trust_chart(self, obj: Peer) -> str:
        return charts.history(list(obj.evaluations.order_by("-evaluated_at")[:60]))

    def _each(self, request: HttpRequest, queryset: QuerySet[Peer], do: Any, done: str) -> None:
        failures = []
        for peer in queryset:
            try:
                do(peer)
            except trust.TrustError as exc:
                failures.append(f"{peer.node_id}: {exc}")
        self.message_user(request, "; ".join(failures) if failures else done)

    @admin.action(description="Recompute trust now", permissions=["manage_trust"])
    def recompute(self, request: HttpRequest, queryset: QuerySet[Peer]) -> None:
        trust.evaluate(list(queryset), trigger="operator")
        self.message_user(request, "Trust recomputed.")

    @admin.action(description="Approve for PRIVILEGED (human approval)", permissions=["manage_trust"])
    def approve_privileged(self, request: HttpRequest, queryset: QuerySet[Peer]) -> None:
        actor = f"admin:{request.user.get_username()}"
        self._each(request, queryset, lambda p: trust.approve_privileged(node_id=p.node_id, actor=actor), "Approved.")

    def _change_state(self, request: HttpRequest, queryset: QuerySet[Peer], verb: str, change: Any) -> None:
        """Suspend, evict or reactivate each peer; the admin's name is the audited reason."""
        actor = f"admin:{request.user.get_username()}"
        self._each(
            request,
            queryset,
            lambda p: change(node_id=p.node_id, reason=f"{verb} by {actor}", actor=actor),
            f"{verb.capitalize()}.",
        )

    @admin.action(description="Suspend (circuit breaker, with cooldown)", permissions=["manage_trust"])
    def suspend(self, request: HttpRequest, queryset: QuerySet[Peer]) -> None:
        self._change_state(request, queryset, "suspended", trust.suspend)

    @admin.action(description="Evict (ends sessions, refuses traffic)", permissions=["manage_trust"])
    def evict(self, request: HttpRequest, queryset: QuerySet[Peer]) -> None:
        self._change_state(request, queryset, "evicted", trust.evict)

    @admin.action(description="Reactivate (ends suspension, eviction or safety hold)", permissions=["manage_trust"])
    def reactivate(self, request: HttpRequest, queryset: QuerySet[Peer]) -> None:
        self._change_state(request, queryset, "reactivated", trust.reactivate)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Peer]:
        live = Q(sessions__state__in=LIVE_SESSION_STATES)
        return super().get_queryset(request).annotate(live_session_count=Count("sessions", filter=live))

    @admin.display(description="live sessions", ordering="live_session_count")
    def live_sessions(self, obj: Peer) -> int:
        return obj.live_session_count  # type: ignore[attr-defined]

    @admin.display(description="manifest")
    def pretty_manifest(self, obj: Peer) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.manifest, indent=2, sort_keys=True))

    change_list_template = "admin/peers/peer/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # no free-form peers: only from a verified manifest (the view below, CLI, handshake)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.add_by_url_view)
        return [path("add-by-url/", view, name="peers_peer_add_by_url"), *super().get_urls()]

    def add_by_url_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("peers.add_peer"):
            raise PermissionDenied
        form = AddPeerForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                peer = services.add_peer(endpoint=form.cleaned_data["url"])
            except services.PeerError as exc:
                form.add_error("url", f"{exc} ({exc.code})")
            else:
                self.message_user(request, f"Added {peer} from its verified manifest, as UNTRUSTED.")
                return redirect("admin:peers_peer_change", peer.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "form": form,
            "title": "Add a peer from its manifest",
        }
        return TemplateResponse(request, "admin/peers/peer/add_by_url.html", context)

    @admin.action(description="Remove selected peers (ends their sessions)", permissions=["delete"])
    def remove_peers(self, request: HttpRequest, queryset: QuerySet[Peer]) -> None:
        for peer in queryset:
            services.remove_peer(node_id=peer.node_id, actor=request.user.get_username())
        self.message_user(request, "Peers removed.")


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = [
        "session_id",
        "peer",
        "role",
        "state",
        "established_at",
        "expires_at",
        "last_heartbeat_at",
        "missed_heartbeats",
        "last_latency_ms",
    ]
    list_filter = ["state", "role", "protocol_version"]
    list_select_related = ["peer"]
    search_fields = ["session_id", "peer__node_id", "peer__display_name"]
    exclude = ["mac_key_encrypted"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Session._meta.fields if f.name != "mac_key_encrypted"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RegistryManifest)
class RegistryManifestAdmin(admin.ModelAdmin):
    list_display = ["node_id", "display_name", "issued_at", "expires_at", "published_at"]
    search_fields = ["node_id", "display_name"]
    readonly_fields = ["node_id", "display_name", "document", "issued_at", "expires_at", "published_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
