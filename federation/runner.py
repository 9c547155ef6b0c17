"""`federation run`: start web, worker and beat for one node and stop them together.

The supervisor owns its children: they run in their own session (so a Ctrl-C reaches only the
supervisor, which then stops them in order) and die with it if it is killed outright.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

STOP_TIMEOUT = 20.0
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Component:
    name: str
    argv: list[str]


MAX_WEBSOCKET_MESSAGE_BYTES = 8 * 1024 * 1024 + 64 * 1024  # the batch frame limit, plus framing slack


def _endpoint(kind: str, port: int, host: str) -> str:
    return f"{kind}:port={port}:interface={host.replace(':', chr(92) + ':')}"  # IPv6 colons escaped


def components(
    *,
    home: Path,
    host: str,
    port: int,
    federation_port: int,
    queue: str,
    node_id: str,
    concurrency: int,
    embedded_broker: bool,
    dnssd: bool = False,
) -> list[Component]:
    python = sys.executable
    worker = [
        python,
        "-m",
        "celery",
        "-A",
        "federation",
        "worker",
        "--loglevel",
        "INFO",
        "-Q",
        queue,
        "-n",
        f"worker-{node_id[:12]}@%h",
        "--concurrency",
        str(concurrency),
    ]
    if embedded_broker:
        # The filesystem transport has no broadcast channel for these worker-to-worker chats.
        worker += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    parts = [
        Component(
            "web",
            [
                python,
                "-m",
                "federation.serve",
                "-e",
                _endpoint("tcp", port, host),
                "-e",
                _endpoint("accordmtls", federation_port, host),
                # Envelope batches are up to 8 MiB (Daphne's default limit is 1 MiB, beyond
                # which it drops the connection without a word).
                "--websocket-max-message-size",
                str(MAX_WEBSOCKET_MESSAGE_BYTES),
                "--websocket-max-frame-size",
                str(MAX_WEBSOCKET_MESSAGE_BYTES),
                "federation.asgi:application",
            ],
        ),
        Component("worker", worker),
        Component(
            "beat",
            [
                python,
                "-m",
                "celery",
                "-A",
                "federation",
                "beat",
                "--loglevel",
                "INFO",
                "-s",
                str(home / "run" / "celerybeat-schedule"),
                "--pidfile=",
            ],
        ),
    ]
    if dnssd:
        parts.append(Component("discovery", [python, "-m", "federation.cli", "discovery"]))
    return parts


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Supervisor:
    home: Path
    parts: list[Component]
    stream_logs: bool = False
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _log_files: list[IO[bytes]] = field(default_factory=list)
    _stopping: bool = False

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    def start(self, environ: dict[str, str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for part in self.parts:
            if self.stream_logs:
                out = None
            else:
                out = open(self.log_dir / f"{part.name}.log", "ab")  # noqa: SIM115 - closed in stop()
                self._log_files.append(out)
            self.processes[part.name] = subprocess.Popen(
                part.argv,
                env=environ,
                stdout=out,
                stderr=subprocess.STDOUT if out else None,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    def install_signal_handlers(self) -> None:
        def request_stop(signum: int, frame: FrameType | None) -> None:
            self._stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)

    def wait(self, on_tick: Callable[[], None] | None = None) -> str | None:
        """Block until asked to stop (returns None) or a child dies (returns its name)."""
        while not self._stopping:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    return name
            if on_tick:
                on_tick()
            time.sleep(0.2)
        return None

    def stop(self) -> dict[str, int | None]:
        """SIGTERM in reverse start order (beat, worker, web), then SIGKILL after the timeout."""
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for handle in self._log_files:
            handle.close()
        return {name: process.returncode for name, process in self.processes.items()}


def write_run_state(home: Path, state: dict[str, object]) -> Path:
    path = home / "run" / "node.json"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(json.dumps(state), encoding="utf-8")
    return path


def clear_run_state(home: Path) -> None:
    (home / "run" / "node.json").unlink(missing_ok=True)
