"""The security team's side of the AI-defence gates: the policy grid, every detection with its
evidence and the analysts' verdicts, the quarantine queue, the allow-list and the calibration."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from defence import services
from defence.calibration import MIN_SAMPLES
from defence.engine import CATEGORIES
from defence.models import (
    AllowedFingerprint,
    Direction,
    Feedback,
    HeldMessage,
    HoldStatus,
    ThreatCalibration,
    ThreatDetection,
    ThreatPolicy,
)
from federation.capabilities import tier_name
from federation.policy_admin import TierPolicyAdmin


@admin.register(ThreatPolicy)
class ThreatPolicyAdmin(TierPolicyAdmin):
    """The five categories x five tiers grid (allow / flag / quarantine / block), edited in place."""

    key_field = "category"
    changed_action = "defence.policy_changed"
    restore = staticmethod(services.restore_default_policies)


class CategoryFilter(admin.SimpleListFilter):
    title = "category"
    parameter_name = "category"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(c, c.replace("_", " ")) for c in CATEGORIES]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value in CATEGORIES:
            # categories are space-separated names, none a substring of another
            return queryset.filter(categories__contains=value)
        return queryset


def _evidence_table(evidence: list[dict[str, Any]]) -> str:
    if not evidence:
        return "—"
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}-{}</td><td><mark>{}</mark></td></tr>",
        (
            (
                e.get("category", ""),
                e.get("detector", ""),
                e.get("layer", ""),
                e.get("path", "") or "—",
                e.get("start", ""),
                e.get("end", ""),
                e.get("excerpt", ""),
            )
            for e in evidence
        ),
    )
    head = "<tr><th>category</th><th>detector</th><th>layer</th><th>path</th><th>span</th><th>text</th></tr>"
    return format_html('<table class="threat-evidence">{}{}</table>', mark_safe(head), rows)  # noqa: S308 - a literal


def _scores_bar(scores: dict[str, float], thresholds: dict[str, float]) -> str:
    rows = format_html_join(
        "",
        '<div class="threat-score"><span>{}</span> '
        '<meter min="0" max="1" low="{}" high="{}" value="{}"></meter> {}</div>',
        (
            (c.replace("_", " "), thresholds.get(c, 0.5) * 0.9, thresholds.get(c, 0.5), s, f"{s:.2f}")
            for c, s in sorted(scores.items(), key=lambda kv: -kv[1])
        ),
    )
    return rows or "—"


@admin.register(ThreatDetection)
class ThreatDetectionAdmin(admin.ModelAdmin):
    """Every verdict over a threshold at a gate. Mark them: a false positive allow-lists the text's
    fingerprint for its categories; every verdict feeds the per-category threshold calibration."""

    list_display = [
        "created_at",
        "direction",
        "peer_name",
        "tier_label",
        "action",
        "categories",
        "score",
        "obfuscated",
        "allow_listed",
        "feedback",
    ]
    list_filter = ["direction", "action", CategoryFilter, "feedback", "obfuscated", "allow_listed", "tier"]
    list_select_related = ["peer"]
    search_fields = ["node_id", "message_id", "fingerprint", "peer__display_name"]
    date_hierarchy = "created_at"
    actions = ["mark_confirmed", "mark_false_positive", "mark_pending"]
    fields = [
        "created_at",
        "direction",
        "peer",
        "node_id",
        "tier_label",
        "message_id",
        "message_type",
        "action",
        "score",
        "score_bars",
        "evidence_table",
        "signals",
        "obfuscated",
        "fingerprint",
        "allow_listed",
        "feedback",
        "reviewed_by",
        "reviewed_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # evidence behind a peer's threat penalty

    @admin.display(description="peer", ordering="node_id")
    def peer_name(self, obj: ThreatDetection) -> str:
        return obj.peer.display_name if obj.peer and obj.peer.display_name else obj.node_id[:16]

    @admin.display(description="tier", ordering="tier")
    def tier_label(self, obj: ThreatDetection) -> str:
        return tier_name(obj.tier)

    @admin.display(description="scores")
    def score_bars(self, obj: ThreatDetection) -> str:
        return _scores_bar(obj.scores, obj.thresholds)

    @admin.display(description="evidence")
    def evidence_table(self, obj: ThreatDetection) -> str:
        return _evidence_table(obj.evidence)

    def _feedback(self, request: HttpRequest, queryset: QuerySet, feedback: str) -> None:
        count = services.set_feedback(
            detection_ids=queryset.values_list("pk", flat=True), feedback=feedback, actor=request.user.get_username()
        )
        note = " and allow-listed their texts" if feedback == Feedback.FALSE_POSITIVE else ""
        self.message_user(request, f"Marked {count} detections {feedback.replace('_', ' ')}{note}.")

    @admin.action(description="Mark confirmed threat", permissions=["change"])
    def mark_confirmed(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._feedback(request, queryset, Feedback.CONFIRMED)

    @admin.action(description="Mark false positive (allow-list the text)", permissions=["change"])
    def mark_false_positive(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._feedback(request, queryset, Feedback.FALSE_POSITIVE)

    @admin.action(description="Mark pending (undo a verdict)", permissions=["change"])
    def mark_pending(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._feedback(request, queryset, Feedback.PENDING)


@admin.register(HeldMessage)
class HeldMessageAdmin(admin.ModelAdmin):
    """The quarantine queue. Release delivers (outbound) or hands the message to the agents
    (inbound); reject refuses it for good. Both are audited with the analyst's name."""

    list_display = ["held_at", "direction", "message_type", "peer_label", "threat", "score", "status", "decided_by"]
    list_filter = ["status", "direction", "message_type", "detection__action"]
    list_select_related = ["detection", "peer"]
    search_fields = ["message_id", "node_id", "peer__display_name"]
    date_hierarchy = "held_at"
    actions = ["release", "reject"]
    fields = [
        "held_at",
        "direction",
        "message_id",
        "message_type",
        "peer",
        "node_id",
        "status",
        "detection_link",
        "evidence_table",
        "payload",
        "decided_by",
        "decided_at",
        "note",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="peer", ordering="node_id")
    def peer_label(self, obj: HeldMessage) -> str:
        return obj.peer.display_name if obj.peer and obj.peer.display_name else obj.node_id[:16]

    @admin.display(description="categories")
    def threat(self, obj: HeldMessage) -> str:
        return obj.detection.categories

    @admin.display(description="score", ordering="detection__score")
    def score(self, obj: HeldMessage) -> str:
        return f"{obj.detection.score:.2f}"

    @admin.display(description="detection")
    def detection_link(self, obj: HeldMessage) -> str:
        from django.urls import reverse

        url = reverse("admin:defence_threatdetection_change", args=[obj.detection_id])
        return format_html('<a href="{}">{}</a>', url, obj.detection)

    @admin.display(description="evidence")
    def evidence_table(self, obj: HeldMessage) -> str:
        return _evidence_table(obj.detection.evidence)

    @admin.display(description="payload (after the PII pipeline)")
    def payload(self, obj: HeldMessage) -> str:
        if obj.direction == Direction.INBOUND:
            value = obj.envelope.get("payload")
        else:
            from messaging.models import OutboxMessage

            value = OutboxMessage.objects.filter(message_id=obj.message_id).values_list("payload", flat=True).first()
        return format_html(
            '<pre class="held-payload">{}</pre>', json.dumps(value, indent=2, ensure_ascii=False)[:20000]
        )

    def _decide(self, request: HttpRequest, queryset: QuerySet, release: bool) -> None:
        pending = list(queryset.filter(status=HoldStatus.HELD).values_list("pk", flat=True))
        decided = services.decide_held(held_ids=pending, release=release, actor=request.user.get_username())
        skipped = queryset.count() - decided
        verb = "Released" if release else "Rejected"
        self.message_user(
            request,
            f"{verb} {decided} messages." + (f" {skipped} were already decided." if skipped else ""),
            messages.SUCCESS if decided else messages.WARNING,
        )

    @admin.action(description="Release (deliver / hand to the agents)", permissions=["change"])
    def release(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._decide(request, queryset, release=True)

    @admin.action(description="Reject (refuse for good)", permissions=["change"])
    def reject(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._decide(request, queryset, release=False)


@admin.register(AllowedFingerprint)
class AllowedFingerprintAdmin(admin.ModelAdmin):
    """Texts analysts called false positives. Deleting a row makes the gates act on that text again."""

    list_display = ["fingerprint_short", "categories", "reason", "created_by", "created_at"]
    search_fields = ["fingerprint", "reason", "created_by"]
    list_select_related = ["detection"]
    readonly_fields = ["fingerprint", "categories", "detection", "created_by", "created_at", "reason"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a fingerprint comes from a detection marked false positive

    @admin.display(description="fingerprint", ordering="fingerprint")
    def fingerprint_short(self, obj: AllowedFingerprint) -> str:
        return f"{obj.fingerprint[:16]}…"

    def delete_model(self, request: HttpRequest, obj: AllowedFingerprint) -> None:
        services.remove_allowed(fingerprint_ids=[obj.pk], actor=request.user.get_username())

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        services.remove_allowed(
            fingerprint_ids=queryset.values_list("pk", flat=True), actor=request.user.get_username()
        )


@admin.register(ThreatCalibration)
class ThreatCalibrationAdmin(admin.ModelAdmin):
    """What the analysts' verdicts did to each category's threshold, and the way back (reset)."""

    list_display = [
        "category",
        "policy_threshold",
        "threshold",
        "in_effect",
        "confirmed",
        "false_positive",
        "computed_at",
        "reset_at",
    ]
    actions = ["reset", "recompute"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        changelist = super().get_changelist_instance(request)
        bases = dict(ThreatPolicy.objects.values_list("category", "threshold"))  # one query for the page
        for row in changelist.result_list:
            row.policy_base = bases.get(row.category)
        return changelist

    @admin.display(description="policy's threshold")
    def policy_threshold(self, obj: ThreatCalibration) -> str:
        base = getattr(obj, "policy_base", None)
        return "—" if base is None else f"{base:.2f}"

    @admin.display(description="in effect", boolean=True)
    def in_effect(self, obj: ThreatCalibration) -> bool:
        return obj.samples >= MIN_SAMPLES

    @admin.action(description="Reset: forget these verdicts", permissions=["change"])
    def reset(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = services.reset_calibration(
            calibration_ids=queryset.values_list("pk", flat=True), actor=request.user.get_username()
        )
        self.message_user(request, f"Reset {count} categories; the policies' thresholds apply again.")

    @admin.action(description="Recompute from all verdicts now", permissions=["change"])
    def recompute(self, request: HttpRequest, queryset: QuerySet) -> None:
        changed = services.recompute_calibration()
        self.message_user(request, f"Recomputed: {changed} categories changed.")
