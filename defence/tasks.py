"""Thin Celery tasks for the gates; the logic lives in defence.services."""

from __future__ import annotations

from defence import services
from federation.celery import app


@app.task(name="defence.tasks.recompute_calibration", ignore_result=True)
def recompute_calibration() -> int:
    """After feedback (queued on commit) and from beat, as a sweep for feedback whose nudge was lost."""
    return services.recompute_calibration()
