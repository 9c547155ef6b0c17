from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html

from federation import manifest as manifest_rules
from federation import services
from federation.models import ApiToken, LocalNode, SignedManifest, WorkerHeartbeat


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LocalNode)
class LocalNodeAdmin(admin.ModelAdmin):
    list_display = ["display_name", "node_id", "is_current", "tls_fingerprint", "created_at"]
    list_filter = ["is_current"]
    search_fields = ["node_id", "display_name"]
    readonly_fields = ["node_id", "public_key", "tls_fingerprint", "is_current", "created_at", "registered_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # identities come from `federation init`, never from a form

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SignedManifest)
class SignedManifestAdmin(ReadOnlyAdmin):
    list_display = ["issued_at", "node", "expires_at", "is_valid_now"]
    list_filter = ["node", "issued_at"]
    list_select_related = ["node"]
    search_fields = ["node__node_id"]
    readonly_fields = ["node", "issued_at", "expires_at", "verification", "pretty_document"]
    exclude = ["document"]

    @admin.display(boolean=True, description="valid now")
    def is_valid_now(self, obj: SignedManifest) -> bool:
        return obj.issued_at <= timezone.now() < obj.expires_at

    @admin.display(description="signature check")
    def verification(self, obj: SignedManifest) -> str:
        try:
            manifest_rules.verify_manifest(obj.document, now=timezone.now())
        except manifest_rules.ManifestError as exc:
            return f"fails: {exc.code} — {exc}"
        return "valid: signature, node id and validity window verified"

    @admin.display(description="document")
    def pretty_document(self, obj: SignedManifest) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.document, indent=2, sort_keys=True))


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "user", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "created_at"]
    list_select_related = ["user"]
    search_fields = ["name", "prefix", "user__username"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    fields = ["user", "name", "expires_at", "prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        return [*self.readonly_fields, "user"] if obj else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        row, token = services.create_api_token(user=obj.user, name=obj.name, expires_at=obj.expires_at)
        obj.pk, obj.prefix, obj.created_at = row.pk, row.prefix, row.created_at
        obj._state.adding = False
        obj._plain_token = token  # type: ignore[attr-defined] - shown once by response_add

    def response_add(self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None) -> HttpResponse:
        # Shown in this response only: never in a message cookie, the session or a log.
        context = {
            **self.admin_site.each_context(request),
            "token": obj._plain_token,
            "row": obj,  # type: ignore[attr-defined]
            "opts": self.opts,
            "title": "API token created",
        }
        response = TemplateResponse(request, "admin/federation/apitoken/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for row in queryset.filter(revoked_at__isnull=True):
            services.revoke_api_token(prefix=row.prefix, actor=request.user.get_username())
        self.message_user(request, "Tokens revoked.")


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ["worker", "last_seen", "via"]
