"""CLI commands other than init, as separate processes against the test node's home."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from federation import manifest
from federation.home import load_identity
from tests.conftest import REPO, free_port

VECTOR_FILE = REPO / "tests" / "vectors" / "manifest-v1.json"


def fresh_manifest(tmp_path: Path) -> dict[str, Any]:
    identity = load_identity(Path(__import__("os").environ["FEDERATION_HOME"]))
    return manifest.build_manifest(
        key=identity.signing_key,
        display_name="cli",
        endpoints={},
        capabilities=[],
        compliance_modes=[],
        tls_cert_fingerprint=identity.tls_fingerprint,
        issued_at=dt.datetime.now(dt.UTC),
        ttl=dt.timedelta(hours=1),
    )


def test_manifest_verify_accepts_a_valid_manifest_from_stdin_and_file(cli: Any, tmp_path: Path) -> None:
    document = fresh_manifest(tmp_path)
    from_stdin = cli("manifest", "verify", "-", "--json", stdin=json.dumps(document))
    assert from_stdin.code == 0, from_stdin.stderr
    assert from_stdin.json()["node_id"] == document["node_id"]
    path = tmp_path / "m.json"
    path.write_text(json.dumps(document))
    assert cli("manifest", "verify", str(path)).stdout.startswith(f"valid manifest of node {document['node_id']}")


def test_manifest_verify_refuses_with_reason_codes(cli: Any, tmp_path: Path) -> None:
    expired = cli("manifest", "verify", str(VECTOR_FILE.with_name("missing.json")), "--json")
    assert expired.code == 2 and expired.json()["error"]["code"] == "unreadable"
    vector = json.loads(VECTOR_FILE.read_text())["manifest"]
    old = cli("manifest", "verify", "-", "--json", stdin=json.dumps(vector))
    assert old.code == 1 and old.json()["error"]["code"] == "expired"
    forged = dict(fresh_manifest(tmp_path), display_name="forged")
    assert cli("manifest", "verify", "-", "--json", stdin=json.dumps(forged)).json()["error"]["code"] == "bad_signature"
    assert cli("manifest", "verify", "-", "--json", stdin="{not json").json()["error"]["code"] == "malformed"
    huge = json.dumps({"padding": "x" * 70000})
    assert cli("manifest", "verify", "-", "--json", stdin=huge).json()["error"]["code"] == "too_large"
    nobody = cli("manifest", "verify", f"http://127.0.0.1:{free_port()}", "--json")
    assert nobody.code == 1 and nobody.json()["error"]["code"] == "fetch_failed"


def test_every_command_has_help_and_json(cli: Any) -> None:
    for command in (["init"], ["run"], ["status"], ["audit", "verify"], ["manifest", "show"], ["token", "create"]):
        result = cli(*command, "--help")
        assert result.code == 0
        assert "--json" in result.stdout and "--home" in result.stdout


def test_unknown_command_is_a_usage_error(cli: Any) -> None:
    result = cli("frobnicate")
    assert result.code == 2
    assert "invalid choice" in result.stderr


def test_commands_on_a_home_that_is_not_ready_say_so_instead_of_a_traceback(cli: Any, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    for command in (["pii", "scan"], ["peers"], ["inbox"], ["token", "list"], ["audit", "verify"]):
        result = cli(*command, "--json", env={"FEDERATION_HOME": str(empty), "FEDERATION_DATABASE_URL": ""}, stdin="")
        assert result.code != 0 and "Traceback" not in result.stderr, (command, result.stderr)
        assert result.json()["error"]["code"] == "not_ready", command
        assert "federation init" in result.json()["error"]["message"]
    # Initialised, but `federation setup` never ran: no tables yet.
    fresh = tmp_path / "fresh"
    env = {"FEDERATION_HOME": str(fresh), "FEDERATION_DATABASE_URL": ""}
    assert cli("init", env=env).code == 0
    result = cli("pii", "scan", "--json", env=env, stdin='{"id": 1, "text": "x"}\n')
    assert "Traceback" not in result.stderr
    assert result.json()["error"]["code"] == "not_ready"
    assert "federation setup" in result.json()["error"]["message"]
