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
from peers.models import LIVE_SESSION_STATES, Peer, RegistryManifest, Session


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
        fields = ["display_name", "pinned_tier", "pin_reason"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("pinned_tier") is not None and not (data.get("pin_reason") or "").strip():
            self.add_error("pin_reason", "Say why the tier is pinned; the reason is audited.")
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


@admin.register(Peer)
class PeerAdmin(admin.ModelAdmin):
    list_display = [
        "display_name",
        "node_id",
        "trust_tier",
        "pinned_tier",
        "discovered_via",
        "live_sessions",
        "last_seen_at",
        "last_error",
    ]
    list_filter = ["trust_tier", "pinned_tier", "discovered_via", "last_error"]
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
        "created_at",
        "updated_at",
        "pretty_manifest",
    ]
    exclude = ["manifest"]
    form = PeerForm
    inlines = [SessionInline]
    actions = ["remove_peers"]

    def save_model(self, request: HttpRequest, obj: Peer, form: Any, change: bool) -> None:
        """A pin goes through peers.services so it is audited with its reason, like the CLI's."""
        pin_changed = {"pinned_tier", "pin_reason"} & set(form.changed_data)
        if pin_changed:
            pinned, reason = obj.pinned_tier, obj.pin_reason
            Peer.objects.filter(pk=obj.pk).update(display_name=obj.display_name)
            services.pin_tier(
                node_id=obj.node_id, tier=pinned, reason=reason, actor=f"admin:{request.user.get_username()}"
            )
        else:
            super().save_model(request, obj, form, change)

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
