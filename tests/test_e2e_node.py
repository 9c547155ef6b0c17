"""A real node: `federation init` + `federation run` as separate processes, driven over HTTP.

In the production topology (FEDERATION_DATABASE_URL=postgres…, FEDERATION_REDIS_URL) the node
gets a database of its own, created here and dropped afterwards, and uses the real Redis.
"""

from __future__ import annotations

import json
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO, free_node_port
from tests.test_manifest import independent_verify

pytestmark = pytest.mark.e2e


def federation(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "federation.cli", *args], env=env, capture_output=True, text=True, timeout=120, cwd=REPO
    )


def start_node(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    """`federation run --json` in the background; read its ready line with read_json_line."""
    return subprocess.Popen(
        [sys.executable, "-m", "federation.cli", "run", "--json", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def read_json_line(proc: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if line.strip().startswith("{"):
                message = json.loads(line)
                assert "error" not in message, f"the node did not start: {message['error']}{_log_tail(message)}"
                return message
            if line == "" and proc.poll() is not None:
                break
    raise AssertionError(
        f"no JSON line from the node (exit code {proc.poll()}): {proc.stderr.read() if proc.stderr else ''}"
    )


def _log_tail(message: dict[str, Any], lines: int = 30) -> str:
    """The end of the component log a start-up error points to, so a CI failure explains itself."""
    found = re.search(r"see (\S+\.log)", str(message.get("error", {}).get("message", "")))
    if not found or not Path(found.group(1)).exists():
        return ""
    return "\n" + "\n".join(Path(found.group(1)).read_text(errors="replace").splitlines()[-lines:])


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def login(base: str, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=10)
    form = client.get("/admin/login/?next=/admin/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    response = client.post(
        "/admin/login/?next=/admin/",
        data={"csrfmiddlewaretoken": token, "username": username, "password": password, "next": "/admin/"},
    )
    assert response.status_code == 302 and response.headers["location"] == "/admin/", response.text[:500]
    return client


def test_a_real_node_runs_serves_a_verified_manifest_and_stops_cleanly(node_env: dict[str, str]) -> None:
    port = free_node_port()
    init = federation("init", "--json", "--display-name", "E2E node", env=node_env)
    assert init.returncode == 0, init.stderr
    node_id = json.loads(init.stdout)["node_id"]

    proc = start_node(node_env, port)
    try:
        ready = read_json_line(proc, timeout=90)
        assert ready["event"] == "ready" and ready["node_id"] == node_id and ready["manifest_verified"]
        base = f"http://127.0.0.1:{port}"

        manifest = httpx.get(f"{base}/.well-known/federation/manifest.json").json()
        assert independent_verify(manifest) == node_id
        assert manifest["display_name"] == "E2E node"
        assert manifest["endpoints"]["base_url"] == base

        admin = login(base, ready["admin_user"], ready["admin_password"])
        assert "Security console" in admin.get("/admin/").text
        assert admin.get("/api/v1/status").json()["node_id"] == node_id  # session auth works for the API too

        def worker_alive() -> dict[str, Any] | None:
            status = json.loads(federation("status", "--json", env=node_env).stdout)
            return status if status["healthy"] else None

        created = federation("token", "create", "--user", ready["admin_user"], "--name", "e2e", "--json", env=node_env)
        token = json.loads(created.stdout)["token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{base}/api/v1/status", headers=headers).json()["node_id"] == node_id
        listed = json.loads(federation("token", "list", "--json", env=node_env).stdout)["tokens"]
        assert [t["name"] for t in listed] == ["e2e"] and token not in json.dumps(listed)
        assert federation("token", "revoke", listed[0]["prefix"], env=node_env).returncode == 0
        assert httpx.get(f"{base}/api/v1/status", headers=headers).status_code == 401

        status = wait_for(worker_alive, 60, "database, broker and worker to be healthy")
        assert status["running"] and status["uptime_seconds"] > 0
        assert status["checks"]["worker"]["ok"]
        assert status["topology"] == (
            "production" if "postgres" in node_env.get("FEDERATION_DATABASE_URL", "") else "embedded"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    stopped = json.loads(proc.stdout.read().strip().splitlines()[-1]) if proc.stdout else {}
    assert stopped["event"] == "stopped" and set(stopped["exit_codes"]) == {"web", "worker", "beat"}
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    assert not (Path(node_env["FEDERATION_HOME"]) / "run" / "node.json").exists()

    verify = federation("audit", "verify", "--json", env=node_env)
    assert verify.returncode == 0 and json.loads(verify.stdout)["ok"]
    assert json.loads(federation("status", "--json", env=node_env).stdout)["running"] is False


def test_a_component_that_cannot_start_stops_the_node_with_a_reason(node_env: dict[str, str]) -> None:
    assert federation("init", env=node_env).returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "-m", "federation.cli", "run", "--port", str(port)],
            env=node_env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
        )
    assert run.returncode == 1
    assert "the web process exited" in run.stderr
    assert not (Path(node_env["FEDERATION_HOME"]) / "run" / "node.json").exists()


def test_run_refuses_an_uninitialised_home(node_env: dict[str, str]) -> None:
    run = federation("run", "--json", env=node_env)
    assert run.returncode == 2
    assert "is not an initialised node home" in json.loads(run.stdout)["error"]["message"]


def test_separate_web_worker_and_beat_processes_as_in_docker_compose(node_env: dict[str, str]) -> None:
    port = free_node_port()
    assert federation("init", "--port", str(port), env=node_env).returncode == 0
    env = {**node_env, "FEDERATION_ADMIN_PASSWORD": "compose-admin-password"}
    logs = Path(node_env["FEDERATION_HOME"]) / "test-logs"
    logs.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "federation.cli", command],
            env=env,
            cwd=REPO,
            stdout=(logs / f"{command}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for command in ("web", "worker", "beat")
    ]
    try:
        base = f"http://127.0.0.1:{port}"

        def manifest() -> dict[str, Any] | None:
            try:
                return httpx.get(f"{base}/.well-known/federation/manifest.json", timeout=2).json()
            except httpx.TransportError:
                return None

        document = wait_for(manifest, 60, "the web process to serve the manifest")
        independent_verify(document)
        wait_for(lambda: federation("status", "--check", env=node_env).returncode == 0, 60, "a healthy node")
        login(base, "admin", "compose-admin-password")
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
    assert [proc.returncode for proc in procs] == [0, 0, 0], [p.read_text()[-2000:] for p in logs.iterdir()]
    # web and worker build the PII and defence engines at start, not on their first message
    for command in ("web", "worker"):
        assert "PII and AI-defence engines ready" in (logs / f"{command}.log").read_text(), command
    assert "engines ready" not in (logs / "beat.log").read_text()


def test_two_nodes_run_side_by_side_with_their_own_home_and_port(make_node_env: Any) -> None:
    nodes = []
    try:
        for name in ("alpha", "beta"):
            env = make_node_env(name)
            assert federation("init", "--display-name", name, env=env).returncode == 0
            port = free_node_port()
            proc = start_node(env, port)
            nodes.append((proc, port))
        readies = [read_json_line(proc, timeout=90) for proc, _ in nodes]
        manifests = [
            httpx.get(f"http://127.0.0.1:{port}/.well-known/federation/manifest.json").json() for _, port in nodes
        ]
        assert [independent_verify(m) for m in manifests] == [r["node_id"] for r in readies]
        assert [m["display_name"] for m in manifests] == ["alpha", "beta"]
        assert readies[0]["node_id"] != readies[1]["node_id"]
    finally:
        for proc, _ in nodes:
            proc.send_signal(signal.SIGTERM)
        for proc, _ in nodes:
            proc.wait(timeout=40)
    assert [proc.returncode for proc, _ in nodes] == [0, 0]
