"""Claims with expiry warnings, issued and revoked through trust.services; evaluations read-only."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from peers.admin import MANAGE_TRUST, claim_badge
from peers.models import Peer
from trust import services
from trust.models import Claim, ClaimType, TrustEvaluation
from trust.selectors import EXPIRY_WARNING


class ClaimStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("valid", "valid"),
            ("expiring", "expiring within 7 days"),
            ("expired", "expired"),
            ("revoked", "revoked"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Claim]) -> QuerySet[Claim]:
        now = timezone.now()
        live = Q(revoked_at__isnull=True)
        return {
            "valid": queryset.filter(live & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))),
            "expiring": queryset.filter(live, expires_at__gt=now, expires_at__lte=now + EXPIRY_WARNING),
            "expired": queryset.filter(live, expires_at__lte=now),
            "revoked": queryset.filter(revoked_at__isnull=False),
        }.get(self.value() or "", queryset)


class IssueClaimForm(forms.ModelForm):
    peer = forms.ModelChoiceField(queryset=Peer.objects.order_by("display_name", "node_id"))
    claim_type = forms.ChoiceField(choices=ClaimType.choices)
    expires_at = forms.DateTimeField(required=False, help_text="empty: valid until revoked")

    class Meta:
        model = Claim
        fields = ["peer", "claim_type", "expires_at"]

    def clean_expires_at(self) -> dt.datetime | None:
        value = self.cleaned_data.get("expires_at")
        if value is not None and value <= timezone.now():
            raise forms.ValidationError("The expiry must be in the future.")
        return value


@admin.register(Claim)
class ClaimAdmin(admin.ModelAdmin):
    list_display = ["claim_type", "peer", "direction", "status", "issued_at", "expires_at", "revoked_at", "issued_by"]
    list_filter = [ClaimStatusFilter, "direction", "claim_type"]
    list_select_related = ["peer"]
    search_fields = ["peer__node_id", "peer__display_name", "claim_id"]
    date_hierarchy = "issued_at"
    actions = ["revoke"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = IssueClaimForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["peer", "claim_type", "expires_at"]
        return [f.name for f in Claim._meta.fields if f.name != "id"] + ["status"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else self.get_fields(request, obj)  # signed: revoke and issue anew

    @admin.display(description="status")
    def status(self, obj: Claim) -> str:
        return claim_badge(obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(MANAGE_TRUST)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoked, never deleted: the trail and the peer both know of it

    def has_manage_trust_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(MANAGE_TRUST)

    def save_model(self, request: HttpRequest, obj: Claim, form: Any, change: bool) -> None:
        if change or not request.user.has_perm(MANAGE_TRUST):
            raise PermissionDenied
        data = form.cleaned_data
        issued = services.issue_claim(
            node_id=data["peer"].node_id,
            claim_type=data["claim_type"],
            expires_at=data["expires_at"],
            actor=f"admin:{request.user.get_username()}",
        )
        obj.pk, obj.claim_id = issued.pk, issued.claim_id

    @admin.action(
        description="Revoke selected claims (signed revocation sent to the peer)", permissions=["manage_trust"]
    )
    def revoke(self, request: HttpRequest, queryset: QuerySet[Claim]) -> None:
        actor = f"admin:{request.user.get_username()}"
        done = 0
        for peer_id, claim_type in set(
            queryset.filter(direction="issued", revoked_at__isnull=True).values_list("peer__node_id", "claim_type")
        ):
            done += len(services.revoke_claim(node_id=peer_id, claim_type=claim_type, actor=actor))
        self.message_user(request, f"{done} claim(s) revoked.")


@admin.register(TrustEvaluation)
class TrustEvaluationAdmin(admin.ModelAdmin):
    list_display = [
        "evaluated_at",
        "peer",
        "score",
        "tier_before",
        "tier_after",
        "interactions",
        "trigger",
        "reason_codes",
    ]
    list_filter = ["trigger", "tier_after", "tier_before"]
    list_select_related = ["peer"]
    search_fields = ["peer__node_id", "peer__display_name"]
    date_hierarchy = "evaluated_at"

    @admin.display(description="reasons")
    def reason_codes(self, obj: TrustEvaluation) -> str:
        return ", ".join(obj.reasons)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in TrustEvaluation._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
