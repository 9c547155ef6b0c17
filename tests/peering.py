"""Helpers for tests with real node processes talking over real mutual TLS."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets
from cryptography.hazmat.primitives import serialization

from federation import crypto, home, manifest
from federation.handshake import Initiator
from peers import client
from tests.conftest import REPO, free_node_port
from tests.test_e2e_node import federation, read_json_line, start_node, wait_for


@dataclass
class RunningNode:
    env: dict[str, str]
    port: int
    proc: subprocess.Popen[str] | None = None
    node_id: str = ""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def federation_url(self) -> str:
        return f"wss://127.0.0.1:{self.port + 1}/federation/v1"

    def start(self) -> RunningNode:
        self.proc = start_node(self.env, self.port)
        self.node_id = read_json_line(self.proc, timeout=90)["node_id"]
        return self

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=40)
        self.proc = None
        return code

    def cli(self, *args: str) -> Any:
        done = federation(*args, "--json", env=self.env)
        return json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {"stderr": done.stderr}

    def peers(self) -> list[dict[str, Any]]:
        return self.cli("peers")["peers"]

    def audit(self, action: str) -> list[dict[str, Any]]:
        token = self.cli("token", "create", "--user", "admin", "--name", f"t{time.monotonic_ns()}")["token"]
        response = httpx.get(
            f"{self.base}/api/v1/audit/events?action={action}&limit=200",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        return response.json()["results"]


def new_node(make_node_env: Any, name: str, **extra_env: str) -> RunningNode:
    env = {**make_node_env(name), **extra_env}
    port = free_node_port()
    env["FEDERATION_ADMIN_PASSWORD"] = "a-test-admin-password"
    assert federation("init", "--display-name", name, "--port", str(port), env=env).returncode == 0
    return RunningNode(env=env, port=port)


class Impostor:
    """A client that speaks the protocol by hand, to send what honest nodes never would."""

    def __init__(self, directory: Path) -> None:
        result = home.init_home(directory, display_name="impostor")
        self.identity = result.identity
        self.context = self.ssl_context()

    def ssl_context(self, *, certificate: bool = True, other_certificate_dir: Path | None = None) -> ssl.SSLContext:
        if certificate and other_certificate_dir is None:
            from federation import tls

            return tls.client_context(self.identity)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        if other_certificate_dir is not None:  # a valid certificate that is not the pinned one
            key = crypto.generate_signing_key()
            cert = crypto.make_self_signed_certificate(
                key, node_id=self.identity.node_id, hostnames=["localhost"], now=dt.datetime.now(dt.UTC), valid_days=1
            )
            (other_certificate_dir / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            (other_certificate_dir / "k.pem").write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
            context.load_cert_chain(str(other_certificate_dir / "c.pem"), str(other_certificate_dir / "k.pem"))
        return context

    def manifest(self, *, issued_at: dt.datetime | None = None, ttl: dt.timedelta = dt.timedelta(hours=1)) -> dict:
        return manifest.build_manifest(
            key=self.identity.signing_key,
            display_name="impostor",
            endpoints={},
            capabilities=[],
            compliance_modes=[],
            tls_cert_fingerprint=self.identity.tls_fingerprint,
            issued_at=issued_at or dt.datetime.now(dt.UTC),
            ttl=ttl,
        )

    def initiator(self, server: RunningNode, *, signing_key: Any = None, own_manifest: dict | None = None) -> Initiator:
        server_manifest = httpx.get(f"{server.base}/.well-known/federation/manifest.json").json()
        return Initiator(
            signing_key=signing_key or self.identity.signing_key,
            node_id=self.identity.node_id,
            manifest=own_manifest or self.manifest(),
            cert_fingerprint=self.identity.tls_fingerprint,
            server_node_id=server_manifest["node_id"],
            server_public_key=crypto.b64decode(server_manifest["public_key"]),
            server_cert_fingerprint=server_manifest["tls_cert_fingerprint"],
        )

    def converse(
        self, server: RunningNode, frames: list[Any], *, context: ssl.SSLContext | None = None, pause: float = 0.0
    ) -> list[dict[str, Any]]:
        """Send frames one by one (a callable frame gets the previous answer); collect answers
        until the server closes. Frames are dicts (sent as JSON) or raw strings."""

        async def run() -> list[dict[str, Any]]:
            answers: list[dict[str, Any]] = []
            async with client.connect(server.federation_url, context or self.context, None) as (socket, _):
                for frame in frames:
                    value = frame(answers[-1] if answers else None) if callable(frame) else frame
                    if pause:
                        await asyncio.sleep(pause)
                    await socket.send(value if isinstance(value, str) else json.dumps(value))
                    try:
                        answers.append(json.loads(await asyncio.wait_for(socket.recv(), 10)))
                    except (websockets.exceptions.ConnectionClosed, TimeoutError):
                        break  # the server closed or went quiet: that is its answer
                    if answers[-1].get("type") == "error":
                        break
            return answers

        return asyncio.run(run())


def child_pids(pid: int) -> list[int]:
    """Direct children of a process, read from /proc (Linux)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry.name))
    return children


def kill_hard(node: RunningNode) -> None:
    """SIGKILL a node's supervisor and every component with its own children: no clean-up runs."""
    assert node.proc is not None
    for child in child_pids(node.proc.pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child, signal.SIGKILL)  # each component leads its own session
    node.proc.kill()
    node.proc.wait(timeout=30)
    node.proc = None


@dataclass
class SplitNode(RunningNode):
    """A node run as separate web, worker and beat processes (the container topology), so that
    one component can be killed and restarted on its own."""

    parts: dict[str, subprocess.Popen[str]] = field(default_factory=dict)

    def start(self) -> SplitNode:
        for name in ("web", "worker", "beat"):
            self.start_part(name)
        self.node_id = wait_for(lambda: _healthy(self.base), 90, "the web component to answer")["node_id"]
        return self

    def start_part(self, name: str) -> None:
        args = [sys.executable, "-m", "federation.cli", name]
        if name == "web":
            args += ["--port", str(self.port)]
        log = open(Path(self.env["FEDERATION_HOME"]) / f"{name}.test.log", "a")  # noqa: SIM115 - lives with the process
        self.parts[name] = subprocess.Popen(
            args, env=self.env, stdout=log, stderr=subprocess.STDOUT, text=True, cwd=REPO, start_new_session=True
        )

    def kill_part(self, name: str) -> None:
        process = self.parts.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def stop(self) -> int:
        for name in ("beat", "worker", "web"):
            if name in self.parts:
                process = self.parts.pop(name)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
        return 0


def _healthy(base: str) -> dict[str, Any] | None:
    try:
        response = httpx.get(f"{base}/.well-known/federation/manifest.json", timeout=2)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def pin_with_claims(tier: str, reason: str) -> list[str]:
    """`federation trust` arguments that pin a tier and grant every claim that tier uses."""
    from federation.capabilities import claims_for_tier, parse_tier

    grants = [arg for claim in claims_for_tier(parse_tier(tier)) for arg in ("--grant", claim)]
    return ["--pin", tier, "--reason", reason, *grants]
