"""Thin Celery tasks for peers: heartbeats, renewal and expiry all live in peers.services."""

from __future__ import annotations

from federation.celery import app
from peers import services


@app.task(name="peers.tasks.heartbeat_sessions", ignore_result=True)
def heartbeat_sessions() -> None:
    services.heartbeat_sessions()
