"""Typed readers for FEDERATION_* environment variables that fail loudly on bad values.

A misspelt variable name is as dangerous as a bad value (a node silently falling back to SQLite
in production), so unknown FEDERATION_* names are refused too.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path

KNOWN_VARIABLES = {
    "FEDERATION_HOME": "node home directory (default ~/.accord)",
    "FEDERATION_SECRET_KEY": "secret that encrypts the node keys (>= 32 characters)",
    "FEDERATION_SECRET_KEY_FILE": "file holding that secret",
    "FEDERATION_DATABASE_URL": "postgres://… to use PostgreSQL (default: SQLite in the home)",
    "FEDERATION_REDIS_URL": "redis://… for the Celery broker and channel layer (default: embedded)",
    "FEDERATION_DEBUG": "true/false",
    "FEDERATION_LOG_LEVEL": "DEBUG, INFO, WARNING or ERROR",
    "FEDERATION_ALLOWED_HOSTS": "comma-separated extra host names the web server answers to",
    "FEDERATION_HOST": "listen address (overrides config.toml)",
    "FEDERATION_PORT": "web port (overrides config.toml)",
    "FEDERATION_PUBLIC_URL": "base URL peers use to reach this node (overrides config.toml)",
    "FEDERATION_ADMIN_USER": "initial superuser name (default admin)",
    "FEDERATION_ADMIN_EMAIL": "initial superuser e-mail",
    "FEDERATION_ADMIN_PASSWORD": "initial superuser password (generated and shown once if unset)",
    "FEDERATION_ADMIN_PASSWORD_FILE": "file holding that password",
    "FEDERATION_FEDERATION_PORT": "mutual-TLS federation (WebSocket) port (default: web port + 1)",
    "FEDERATION_SESSION_TTL_SECONDS": "peer session lifetime before renewal (default 3600, max 86400)",
    "FEDERATION_SESSION_HEARTBEAT_SECONDS": "peer heartbeat period (default 30; unhealthy after 3 missed)",
    "FEDERATION_STATIC_PEERS": "comma-separated peer base URLs to add as static peers at start-up",
    "FEDERATION_HANDSHAKE_TIMEOUT_SECONDS": "seconds a peer has to answer our challenge (default 10)",
    "FEDERATION_HANDSHAKE_RATE_LIMIT": "handshake attempts per minute per client address (default 30)",
    "FEDERATION_DNSSD": "true to announce and discover nodes with DNS-SD (_accord._tcp); default false",
    "FEDERATION_DNSSD_INTERFACES": "comma-separated addresses DNS-SD uses (default: all interfaces)",
    "FEDERATION_WORKER_CONCURRENCY": "Celery worker processes (default 2)",
    "FEDERATION_ENVELOPE_MAX_BYTES": "largest envelope sent or accepted, in bytes (default 1048576)",
    "FEDERATION_ENVELOPE_TTL_SECONDS": "how long a signed envelope stays valid (default 300)",
    "FEDERATION_DELIVERY_MAX_ATTEMPTS": "delivery attempts before a message is dead-lettered (default 12)",
    "FEDERATION_DELIVERY_BACKOFF_MS": "first retry delay; doubles per attempt, with jitter (default 500)",
    "FEDERATION_DELIVERY_BACKOFF_MAX_SECONDS": "longest retry delay (default 60)",
    "FEDERATION_DELIVERY_LOOPS": "concurrent delivery loops per host (default 1 on SQLite, 2 on PostgreSQL)",
    "FEDERATION_HEARTBEAT_SECONDS": "worker liveness heartbeat interval (default 10)",
    "FEDERATION_TRUST_WINDOW_HOURS": "sliding window of the trust score's evidence (default 24)",
    "FEDERATION_TRUST_RECOMPUTE_SECONDS": "how often beat recomputes every peer's trust (default 60)",
    "FEDERATION_TRUST_MIN_INTERACTIONS": "interactions before promotion 1→2, 2→3, 3→4 (default 50,500,5000)",
    "FEDERATION_BREAKER_WINDOW_MINUTES": "circuit-breaker window for cost and failures (default 60)",
    "FEDERATION_BREAKER_MAX_USD": "reported spend per peer per window that suspends it (default 100)",
    "FEDERATION_BREAKER_FAILURE_PERCENT": "delivery failure percentage that suspends a peer (default 50)",
    "FEDERATION_BREAKER_MIN_SAMPLES": "deliveries in the window before the failure ratio counts (default 20)",
    "FEDERATION_BREAKER_COOLDOWN_MINUTES": "how long an automatic suspension lasts (default 15)",
}


class EnvError(ValueError):
    pass


def check_names(environ: Mapping[str, str]) -> None:
    for name in environ:
        if name.startswith("FEDERATION_") and name not in KNOWN_VARIABLES:
            close = difflib.get_close_matches(name, KNOWN_VARIABLES, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise EnvError(f"unknown setting {name}{hint}")


def get_str(environ: Mapping[str, str], name: str, default: str = "") -> str:
    return environ.get(name, default).strip() or default


def get_bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise EnvError(f"{name} must be true or false, got {raw!r}")


def get_int(environ: Mapping[str, str], name: str, default: int | None, *, low: int, high: int) -> int | None:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError as exc:
        raise EnvError(f"{name} must be an integer, got {raw!r}") from exc
    if not low <= value <= high:
        raise EnvError(f"{name} must be between {low} and {high}, got {value}")
    return value


def get_ints(
    environ: Mapping[str, str], name: str, default: tuple[int, ...], *, count: int, low: int, high: int
) -> tuple[int, ...]:
    """A comma-separated list of exactly `count` integers, each within [low, high]."""
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    parts = [p.strip() for p in raw.split(",")]
    if len(parts) != count:
        raise EnvError(f"{name} needs {count} comma-separated integers, got {raw!r}")
    return tuple(get_int({name: p}, name, None, low=low, high=high) or 0 for p in parts)


def get_choice(environ: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = get_str(environ, name, default).upper()
    if value not in choices:
        raise EnvError(f"{name} must be one of {', '.join(choices)}, got {environ.get(name)!r}")
    return value


def get_list(environ: Mapping[str, str], name: str) -> list[str]:
    return [item.strip() for item in environ.get(name, "").split(",") if item.strip()]


def get_url(environ: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str:
    value = get_str(environ, name)
    if value and value.split("://", 1)[0] not in schemes:
        raise EnvError(f"{name} must start with {' or '.join(s + '://' for s in schemes)}")
    return value


def get_secret(environ: Mapping[str, str], name: str) -> str:
    """`NAME` or the contents of the file named by `NAME_FILE` (Docker/Kubernetes secrets)."""
    inline, path = environ.get(name, ""), environ.get(f"{name}_FILE", "")
    if inline and path:
        raise EnvError(f"set {name} or {name}_FILE, not both")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise EnvError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from exc
    return inline
