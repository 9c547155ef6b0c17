"""Server-rendered pictures of trust for the admin: the inputs as meters, the history as a chart.

Plain SVG built with format_html (every value escaped), no JavaScript and nothing fetched.
"""

from __future__ import annotations

from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from federation.capabilities import tier_name
from trust.models import TrustEvaluation
from trust.scoring import DOWNGRADE, UPGRADE

INPUT_LABELS = {
    "success_rate": "success rate (deliveries)",
    "uptime": "uptime (heartbeats)",
    "threat_penalty": "threat penalty (inbound detections)",
    "data_integrity": "data integrity (MAC failures, refused envelopes)",
}


def _evidence(entry: dict[str, Any]) -> str:
    parts = []
    for key, value in entry.items():
        if key == "value":
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
        parts.append(f"{key.replace('_', ' ')}: {value}")
    return "; ".join(parts)


def explanation(last: dict[str, Any]) -> SafeString:
    inputs = last.get("inputs") or {}
    if not inputs:
        return format_html("<em>{}</em>", "not evaluated yet")
    rows = format_html_join(
        "",
        '<tr><td>{}</td><td><meter min="0" max="1" value="{}"></meter> {}</td><td>{}</td></tr>',
        (
            (INPUT_LABELS[name], inputs[name]["value"], inputs[name]["value"], _evidence(inputs[name]))
            for name in INPUT_LABELS
            if name in inputs
        ),
    )
    reasons = ", ".join(last.get("reasons", [])) or "none"
    return format_html(
        "<p>score <strong>{}</strong> over the last {} h; reasons: <code>{}</code></p>"
        "<table><thead><tr><th>input</th><th>value</th><th>evidence</th></tr></thead><tbody>{}</tbody></table>",
        last.get("score"),
        inputs.get("window_hours"),
        reasons,
        rows,
    )


def history(evaluations: list[TrustEvaluation], width: int = 560, height: int = 140) -> SafeString:
    """Score over time (oldest left), the promotion and demotion thresholds as dashed lines, a
    marker where the tier changed, and the latest evaluations as a table below."""
    if not evaluations:
        return format_html("<em>{}</em>", "no evaluations yet")
    points = list(reversed(evaluations))
    step = width / max(len(points) - 1, 1)

    def y(score: float) -> float:
        return round(height - 10 - score * (height - 20), 1)

    line = " ".join(f"{round(i * step, 1)},{y(p.score)}" for i, p in enumerate(points))
    guides = format_html_join(
        "",
        '<line x1="0" x2="{}" y1="{}" y2="{}" stroke="{}" stroke-dasharray="4 3"><title>{}</title></line>',
        [(width, y(v), y(v), "#2e7d32", f"promotion to {tier_name(t + 1)} at {v}") for t, v in UPGRADE.items()]
        + [(width, y(v), y(v), "#c62828", f"demotion from {tier_name(t)} below {v}") for t, v in DOWNGRADE.items()],
    )
    changes = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="4" fill="#1565c0"><title>{}</title></circle>',
        (
            (
                round(i * step, 1),
                y(p.score),
                f"{tier_name(p.tier_before)} → {tier_name(p.tier_after)}: {', '.join(p.reasons)}",
            )
            for i, p in enumerate(points)
            if p.tier_before != p.tier_after
        ),
    )
    chart = format_html(
        '<svg role="img" aria-label="trust score history" width="{}" height="{}" viewBox="0 0 {} {}" '
        'style="background:#fafafa;border:1px solid #ddd">{}<polyline fill="none" stroke="#1565c0" '
        'stroke-width="2" points="{}"/>{}</svg>',
        width, height, width, height, guides, line, changes,
    )  # fmt: skip
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{} → {}</td><td>{}</td><td><code>{}</code></td></tr>",
        (
            (
                e.evaluated_at.strftime("%Y-%m-%d %H:%M:%S"),
                e.score,
                tier_name(e.tier_before),
                tier_name(e.tier_after),
                e.trigger,
                ", ".join(e.reasons),
            )
            for e in evaluations[:10]
        ),
    )
    table = format_html(
        "<table><thead><tr><th>at</th><th>score</th><th>tier</th><th>trigger</th><th>reasons</th></tr></thead>"
        "<tbody>{}</tbody></table>",
        rows,
    )
    return mark_safe(chart + table)  # noqa: S308 - both parts were built by format_html
