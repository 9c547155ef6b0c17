"""Reads about this node: status and health, shared by the CLI, the REST API and /healthz."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import celery
import django
from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

import federation
from federation.manifest import PROTOCOL_VERSIONS
from federation.models import LocalNode, WorkerHeartbeat

PROCESS_STARTED_AT = timezone.now()
RUN_FILE = "run/node.json"


def runner_state(home_dir: Path) -> dict[str, Any] | None:
    """What `federation run` wrote when it started, if that process is still alive."""
    path = home_dir / RUN_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        os.kill(int(state["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return state


def _check_database() -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down"; report its class, not its secrets
        return {"ok": False, "detail": type(exc).__name__}
    return {"ok": True, "vendor": connection.vendor, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def _check_broker() -> dict[str, Any]:
    from federation.celery import app

    transport = settings.CELERY_BROKER_URL.split("://", 1)[0]
    if transport == "filesystem":
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        ok = folder.is_dir() and os.access(folder, os.W_OK)
        return {"ok": ok, "transport": transport, "detail": "" if ok else f"{folder} is not a writable directory"}
    started = time.perf_counter()
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # kombu raises many kinds; all mean the broker is unreachable
        return {"ok": False, "transport": transport, "detail": type(exc).__name__}
    return {"ok": True, "transport": transport, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def _check_worker(now: dt.datetime) -> dict[str, Any]:
    try:
        beat = WorkerHeartbeat.objects.order_by("-last_seen").first()
    except DatabaseError:
        return {"ok": False, "detail": "database not migrated (run `federation setup`)"}
    if beat is None:
        return {"ok": False, "detail": "no worker heartbeat yet"}
    age = (now - beat.last_seen).total_seconds()
    ok = age <= 3 * settings.FEDERATION_HEARTBEAT_SECONDS
    return {
        "ok": ok,
        "worker": beat.worker,
        "last_seen": beat.last_seen.isoformat(),
        "age_seconds": round(age, 1),
        "detail": "" if ok else "heartbeat overdue",
    }


def health() -> dict[str, Any]:
    now = timezone.now()
    database = _check_database()
    worker = _check_worker(now) if database["ok"] else {"ok": False, "detail": "database unavailable"}
    checks = {"database": database, "broker": _check_broker(), "worker": worker}
    return {"healthy": all(check["ok"] for check in checks.values()), "checks": checks}


def node_status(*, serving: bool = True) -> dict[str, Any]:
    """`serving`: called inside a server process, whose own start time counts as uptime when
    no `federation run` supervisor is around (the separate processes of docker-compose)."""
    try:
        node = LocalNode.objects.filter(is_current=True).first()
    except DatabaseError:
        node = None
    run = runner_state(Path(settings.FEDERATION_HOME))
    started_at = dt.datetime.fromisoformat(run["started_at"]) if run else (PROCESS_STARTED_AT if serving else None)
    config = settings.FEDERATION_CONFIG
    return {
        "node_id": config.node_id if config else None,
        "display_name": node.display_name if node else (config.display_name if config else None),
        "initialised": settings.FEDERATION_INITIALISED,
        "home": str(settings.FEDERATION_HOME),
        "topology": settings.FEDERATION_TOPOLOGY,
        "base_url": settings.FEDERATION_PUBLIC_URL,
        "versions": {
            "accord": federation.__version__,
            "protocol": list(PROTOCOL_VERSIONS),
            "django": django.get_version(),
            "celery": celery.__version__,
            "python": platform.python_version(),
        },
        "federation_url": settings.FEDERATION_FEDERATION_URL,
        "running": run is not None,
        "started_at": started_at.isoformat() if started_at else None,
        "uptime_seconds": round((timezone.now() - started_at).total_seconds(), 1) if started_at else None,
        **_peer_counts(),
        **health(),
    }


def _peer_counts() -> dict[str, Any]:
    from peers.models import Peer
    from peers.selectors import session_summary

    try:
        return {"peers": Peer.objects.count(), "sessions": session_summary()}
    except DatabaseError:
        return {"peers": None, "sessions": None}
