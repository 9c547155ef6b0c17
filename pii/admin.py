from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from federation.policy_admin import TierPolicyAdmin
from pii import services
from pii.engine.calibration import MIN_SAMPLES, Evidence, posterior
from pii.models import Calibration, PiiPolicy, ReviewFinding, ReviewSample, Verdict

EXAMPLE_CONFIDENCE = 0.8  # the calibration list shows what becomes of a detection at this confidence


@admin.register(PiiPolicy)
class PiiPolicyAdmin(TierPolicyAdmin):
    """The 14 types x 5 tiers grid, edited in place; every change is audited."""

    key_field = "pii_type"
    changed_action = "pii.policy_changed"
    restore = staticmethod(services.restore_default_policies)


class FindingInline(admin.TabularInline):
    model = ReviewFinding
    fields = ["pii_type", "excerpt", "start", "end", "confidence", "detector", "verdict"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="text")
    def excerpt(self, obj: ReviewFinding) -> str:
        return obj.sample.text[obj.start : obj.end][:120]


@admin.register(ReviewSample)
class ReviewSampleAdmin(admin.ModelAdmin):
    """Analysts paste a text; the detectors' findings appear below, ready for verdicts."""

    list_display = ["__str__", "finding_count", "created_by", "created_at"]
    search_fields = ["title"]
    date_hierarchy = "created_at"
    inlines = [FindingInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        from django.db.models import Count

        return super().get_queryset(request).annotate(finding_total=Count("findings"))

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["title", "text"] if obj is None else ["title", "highlighted", "created_by", "created_at", "review"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else ["title", "highlighted", "created_by", "created_at", "review"]

    def get_inlines(self, request: HttpRequest, obj: Any) -> list:
        return [FindingInline] if obj is not None else []

    @admin.display(description="findings", ordering="finding_total")
    def finding_count(self, obj: ReviewSample) -> int:
        return obj.finding_total

    @admin.display(description="text with findings")
    def highlighted(self, obj: ReviewSample) -> str:
        pieces: list[tuple[str, str]] = []
        cursor = 0
        for finding in obj.findings.exclude(verdict=Verdict.MISSED).order_by("start"):
            if finding.start < cursor:
                continue
            pieces.append(("{}", obj.text[cursor : finding.start]))
            pieces.append((f'<mark title="{finding.pii_type}">{{}}</mark>', obj.text[finding.start : finding.end]))
            cursor = finding.end
        pieces.append(("{}", obj.text[cursor:]))
        body = format_html_join("", "{}", ((format_html(template, text),) for template, text in pieces))
        return format_html('<pre class="pii-sample">{}</pre>', body)

    @admin.display(description="review")
    def review(self, obj: ReviewSample) -> str:
        url = reverse("admin:pii_reviewfinding_changelist") + f"?sample__id__exact={obj.pk}"
        return format_html('<a href="{}">Give verdicts on these findings, or add a missed one</a>', url)

    def save_model(self, request: HttpRequest, obj: ReviewSample, form: Any, change: bool) -> None:
        if change:
            return  # samples are immutable: their findings' offsets point into the text
        saved = services.submit_sample(text=obj.text, title=obj.title, actor=request.user.get_username())
        obj.pk = saved.pk


@admin.register(ReviewFinding)
class ReviewFindingAdmin(admin.ModelAdmin):
    """Verdicts by bulk action; adding a finding by hand records a span the detectors missed."""

    list_display = ["pii_type", "excerpt", "confidence", "calibrated", "detector", "verdict", "sample", "reviewed_by"]
    list_filter = ["verdict", "pii_type", "detector"]
    list_select_related = ["sample"]
    search_fields = ["detector", "sample__title"]
    actions = ["mark_confirmed", "mark_false_positive", "mark_pending"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["sample", "pii_type", "start", "end"]
        return ["sample", "pii_type", "excerpt", "start", "end", "confidence", "detector", "verdict", "reviewed_by"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else self.get_fields(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a verdict is evidence; reset the calibration instead

    @admin.display(description="text")
    def excerpt(self, obj: ReviewFinding) -> str:
        return obj.sample.text[obj.start : obj.end][:120]

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        # Calibrate the page's findings in one pass: one calibration lookup, not one per row.
        changelist = super().get_changelist_instance(request)
        calibration = services.calibration()
        for finding in changelist.result_list:
            detection = finding.as_detection()
            finding.calibrated_confidence = None if detection is None else calibration.confidence(detection)
        return changelist

    @admin.display(description="calibrated")
    def calibrated(self, obj: ReviewFinding) -> str:
        value = getattr(obj, "calibrated_confidence", None)
        return "—" if value is None else f"{value:.2f}"

    def save_model(self, request: HttpRequest, obj: ReviewFinding, form: Any, change: bool) -> None:
        if change:
            return
        saved = services.add_missed(
            sample=obj.sample, pii_type=obj.pii_type, start=obj.start, end=obj.end, actor=request.user.get_username()
        )
        obj.pk = saved.pk

    def _verdict(self, request: HttpRequest, queryset: QuerySet, verdict: str) -> None:
        count = services.set_verdict(
            finding_ids=queryset.values_list("pk", flat=True), verdict=verdict, actor=request.user.get_username()
        )
        self.message_user(request, f"{count} findings marked {verdict}; calibration is being recomputed.")

    @admin.action(description="Mark confirmed (real PII)", permissions=["change"])
    def mark_confirmed(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._verdict(request, queryset, Verdict.CONFIRMED)

    @admin.action(description="Mark false positive", permissions=["change"])
    def mark_false_positive(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._verdict(request, queryset, Verdict.FALSE_POSITIVE)

    @admin.action(description="Mark pending (undo a verdict)", permissions=["change"])
    def mark_pending(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._verdict(request, queryset, Verdict.PENDING)


@admin.register(Calibration)
class CalibrationAdmin(admin.ModelAdmin):
    """What the analysts' verdicts did to each detector and type, and the way back (reset)."""

    list_display = [
        "key",
        "scope",
        "pii_type",
        "confirmed",
        "false_positive",
        "missed",
        "sample_size",
        "in_effect",
        "effect",
        "precision",
        "recall",
        "computed_at",
        "reset_at",
    ]
    list_filter = ["scope", "pii_type"]
    search_fields = ["key"]
    actions = ["reset", "recompute"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    @staticmethod
    def _evidence(obj: Calibration) -> Evidence:
        return Evidence(obj.confirmed, obj.false_positive, obj.missed)

    @admin.display(description="sample size")
    def sample_size(self, obj: Calibration) -> int:
        return obj.samples

    @admin.display(description="in effect", boolean=True)
    def in_effect(self, obj: Calibration) -> bool:
        return obj.samples >= MIN_SAMPLES

    @admin.display(description=f"a {EXAMPLE_CONFIDENCE:.2f} detection becomes")
    def effect(self, obj: Calibration) -> str:
        if obj.samples < MIN_SAMPLES:
            return f"{EXAMPLE_CONFIDENCE:.2f} (needs {MIN_SAMPLES} verdicts)"
        return f"{posterior(EXAMPLE_CONFIDENCE, self._evidence(obj)):.2f}"

    @admin.display(description="precision")
    def precision(self, obj: Calibration) -> str:
        value = self._evidence(obj).precision
        return "—" if value is None else f"{value:.0%}"

    @admin.display(description="recall (est.)")
    def recall(self, obj: Calibration) -> str:
        value = self._evidence(obj).recall
        return "—" if value is None else f"{value:.0%}"

    @admin.action(description="Reset: forget these verdicts", permissions=["change"])
    def reset(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = services.reset_calibration(
            calibration_ids=queryset.values_list("pk", flat=True), actor=request.user.get_username()
        )
        self.message_user(request, f"Reset {count} calibrations; detectors' own confidences apply again.")

    @admin.action(description="Recompute from all verdicts now", permissions=["change"])
    def recompute(self, request: HttpRequest, queryset: QuerySet) -> None:
        changed = services.recompute_calibration()
        self.message_user(request, f"Recomputed: {changed} calibrations changed.")
