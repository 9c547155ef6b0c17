"""Thin Celery tasks for the PII pipeline; the logic lives in pii.services."""

from __future__ import annotations

from federation.celery import app
from pii import services


@app.task(name="pii.tasks.recompute_calibration", ignore_result=True)
def recompute_calibration() -> int:
    """After a verdict (queued on commit) and from beat, as a sweep for verdicts whose nudge was lost."""
    return services.recompute_calibration()
