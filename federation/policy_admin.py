"""The admin grid for a tier policy (``federation.tier_policy``): every kind x tier edited in
place, each change audited, defaults one action away."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from compliance.services import record_event
from federation.tier_policy import TIER_FIELDS


class TierPolicyAdmin(admin.ModelAdmin):
    key_field = ""  # the kind column: pii_type, category
    changed_action = ""  # audit action for an edit
    restore: Callable[..., int]  # services.restore_default_policies

    list_editable = ["threshold", *TIER_FIELDS]
    list_filter = ["attested", "trusted", "privileged"]
    actions = ["restore_defaults"]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.list_display = [cls.key_field, "threshold", *TIER_FIELDS, "updated_at"]
        cls.search_fields = [cls.key_field]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [self.key_field, "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # one row per kind, created by a migration

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a missing row fails closed everywhere; restore defaults instead

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        record_event(
            action=self.changed_action,
            actor=request.user.get_username(),
            subject=getattr(obj, self.key_field),
            details={"changed": sorted(form.changed_data), "threshold": obj.threshold, "actions": obj.actions()},
        )

    @admin.action(description="Restore the default policies (every row)", permissions=["change"])
    def restore_defaults(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = type(self).restore(actor=request.user.get_username())
        self.message_user(request, f"Restored the default policy of {count} rows.", messages.SUCCESS)
