"""The Celery application. Tasks stay thin: they take ids and call services."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "federation.settings")

app = Celery("federation")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
def _warm_engines(**_: Any) -> None:
    """In the worker's main process, before the pool forks: every child starts with them built."""
    from messaging.warmup import warm_up

    warm_up()
