"""Posting envelope batches to a peer: one persistent mutual-TLS WebSocket per peer and process.

Synchronous (websockets' threading client), because Celery tasks are synchronous and a
connection must outlive a single task to be worth keeping. Any failure closes the connection;
the next batch dials again. No database access here.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from typing import Any

from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

from federation import tls

CONNECT_TIMEOUT = 5.0
ANSWER_TIMEOUT = 15.0
MAX_BATCH_FRAME_BYTES = 8 * 1024 * 1024
FRAME_BUDGET_BYTES = MAX_BATCH_FRAME_BYTES - 64 * 1024  # what a sender packs into one frame


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def encoded_size(envelope: dict[str, Any]) -> int:
    return len(_dumps(envelope).encode("utf-8"))


class TransportError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def envelopes_url(federation_url: str) -> str:
    return federation_url.rstrip("/") + "/envelopes"


_connections: dict[tuple[str, str], ClientConnection] = {}
_lock = threading.Lock()


def _open(url: str, pinned: str, context: ssl.SSLContext) -> ClientConnection:
    if not url.startswith("wss://"):
        raise TransportError("BAD_ENDPOINT", f"federation endpoints must be wss:// (got {url[:80]!r})")
    try:
        connection = connect(
            url, ssl=context, open_timeout=CONNECT_TIMEOUT, max_size=MAX_BATCH_FRAME_BYTES, compression=None
        )
    except (OSError, TimeoutError, WebSocketException) as exc:
        raise TransportError("UNREACHABLE", f"cannot open {url}: {type(exc).__name__}: {exc}") from exc
    connection.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle delay on acks
    der = connection.socket.getpeercert(binary_form=True)  # type: ignore[attr-defined]
    if tls.fingerprint_der(der) != pinned:
        connection.close()
        raise TransportError("CERTIFICATE_MISMATCH", "the peer's certificate does not match its manifest pin")
    return connection


def _drop(key: tuple[str, str]) -> None:
    with _lock:
        connection = _connections.pop(key, None)
    if connection is not None:
        connection.close()


def post_batch(url: str, pinned: str, context: ssl.SSLContext, envelopes: list[dict[str, Any]]) -> list[dict]:
    """Send one batch and return the receiver's per-envelope results, in order."""
    key = (url, pinned)
    with _lock:
        connection = _connections.pop(key, None)  # one user at a time per connection
    try:
        if connection is None:
            connection = _open(url, pinned, context)
        connection.send(_dumps({"type": "envelopes", "items": envelopes}))
        raw = connection.recv(timeout=ANSWER_TIMEOUT)
    except TimeoutError as exc:
        if connection is not None:
            connection.close()
        raise TransportError("TIMEOUT", "the peer did not acknowledge in time") from exc
    except (OSError, WebSocketException) as exc:
        if connection is not None:
            connection.close()
        raise TransportError("CONNECTION_LOST", f"{type(exc).__name__}: {exc}") from exc
    try:
        answer = json.loads(raw)
    except ValueError as exc:
        connection.close()
        raise TransportError("MALFORMED_ANSWER", "the peer answered with something that is not JSON") from exc
    if isinstance(answer, dict) and answer.get("type") == "error":
        connection.close()
        raise TransportError(str(answer.get("code", "REFUSED"))[:64], str(answer.get("message", ""))[:300])
    results = answer.get("results") if isinstance(answer, dict) else None
    if not isinstance(results, list) or len(results) != len(envelopes):
        connection.close()
        raise TransportError("MALFORMED_ANSWER", "the peer's answer does not match the batch")
    with _lock:
        if key in _connections:  # another thread opened one meanwhile: keep one
            connection.close()
        else:
            _connections[key] = connection
    return results


def close_all() -> None:
    for key in list(_connections):
        _drop(key)
