"""Beat's trust work: recompute every peer's score and tier, apply the circuit breaker."""

from __future__ import annotations

from typing import Any

from federation.celery import app
from trust import services


@app.task(name="trust.tasks.recompute_trust", ignore_result=True)
def recompute_trust() -> dict[str, Any]:
    return services.recompute_all()
