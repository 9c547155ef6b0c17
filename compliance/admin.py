from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.html import format_html

from compliance.models import AuditEvent
from compliance.services import verify_audit_chain


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["seq", "created_at", "action", "outcome", "actor", "subject"]
    list_filter = ["category", "outcome", "action", "created_at"]
    search_fields = ["=seq", "action", "actor", "subject"]
    readonly_fields = [
        "seq",
        "created_at",
        "category",
        "action",
        "outcome",
        "actor",
        "subject",
        "pretty_details",
        "prev_hash",
        "hash",
    ]
    exclude = ["details"]
    show_full_result_count = False  # no second COUNT(*) over a trail of millions
    change_list_template = "admin/compliance/auditevent/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="details")
    def pretty_details(self, obj: AuditEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.details, indent=2, sort_keys=True))

    def get_urls(self) -> list[URLPattern]:
        verify = path("verify/", self.admin_site.admin_view(self.verify_view), name="compliance_auditevent_verify")
        return [verify, *super().get_urls()]

    def verify_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "report": verify_audit_chain(),
            "title": "Audit chain verification",
        }
        return TemplateResponse(request, "admin/compliance/auditevent/verify.html", context)
