"""Thin Celery tasks: they call services and hold no logic of their own."""

from __future__ import annotations

import socket
from typing import Any

from celery.signals import worker_ready

from federation import services
from federation.celery import app


@app.task(name="federation.tasks.worker_heartbeat", ignore_result=True)
def worker_heartbeat() -> None:
    services.record_worker_heartbeat(worker=worker_heartbeat.request.hostname or socket.gethostname(), via="beat")


@app.task(name="federation.tasks.checkpoint_database", ignore_result=True)
def checkpoint_database() -> None:
    services.checkpoint_database()


@app.task(name="federation.tasks.refresh_manifest", ignore_result=True)
def refresh_manifest() -> None:
    services.current_manifest()


@worker_ready.connect
def _announce_worker(sender: Any = None, **kwargs: Any) -> None:
    services.record_worker_heartbeat(worker=getattr(sender, "hostname", socket.gethostname()), via="ready")
