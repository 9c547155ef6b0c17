"""`federation init` and the node home, driven through the command line as an operator would."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

SECRET = "an-operator-secret-that-is-long-enough-000"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "node"


def snapshot(home: Path) -> dict[str, bytes]:
    return {str(p.relative_to(home)): p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file()}


def test_init_creates_an_encrypted_identity_with_private_permissions(cli: Any, home: Path) -> None:
    result = cli("init", "--home", str(home), "--json", "--display-name", "Bank A", env={"FEDERATION_SECRET_KEY": ""})
    assert result.code == 0, result.stderr
    data = result.json()
    assert data["created"] and data["secret"] == "generated"
    for name in ("secret.key", "identity/node.key", "tls/key.pem", "config.toml"):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name
    assert b"ENCRYPTED PRIVATE KEY" in (home / "identity/node.key").read_bytes()
    assert data["node_id"] in (home / "config.toml").read_text()
    assert 'display_name = "Bank A"' in (home / "config.toml").read_text()


def test_node_id_is_stable_and_reinit_refuses_without_force(cli: Any, home: Path) -> None:
    first = cli("init", "--home", str(home), "--json", env={"FEDERATION_SECRET_KEY": SECRET}).json()
    before = snapshot(home)
    again = cli("init", "--home", str(home), "--json", env={"FEDERATION_SECRET_KEY": SECRET})
    assert again.code == 1
    assert again.json()["error"]["code"] == "already_initialised"
    assert first["node_id"] in again.stderr
    assert snapshot(home) == before  # nothing overwritten
    same = cli("init", "--home", str(home), "--exist-ok", "--json", env={"FEDERATION_SECRET_KEY": SECRET})
    assert same.code == 0 and same.json() == {
        "node_id": first["node_id"],
        "home": str(home.resolve()),
        "created": False,
    }


def test_force_replaces_identity_and_archives_the_old_one(cli: Any, home: Path) -> None:
    first = cli("init", "--home", str(home), "--json", env={"FEDERATION_SECRET_KEY": SECRET}).json()
    old_key = (home / "identity/node.key").read_bytes()
    second = cli("init", "--home", str(home), "--force", "--json", env={"FEDERATION_SECRET_KEY": SECRET}).json()
    assert second["node_id"] != first["node_id"]
    archived = Path(second["archived_to"])
    assert (archived / "identity/node.key").read_bytes() == old_key
    assert first["node_id"] in (archived / "config.toml").read_text()


def test_wrong_secret_for_existing_key_is_a_clear_error(cli: Any, home: Path) -> None:
    cli("init", "--home", str(home), env={"FEDERATION_SECRET_KEY": SECRET})
    before = snapshot(home)
    for args in (("init", "--force"), ("status",)):
        result = cli(*args, "--home", str(home), env={"FEDERATION_SECRET_KEY": "x" * 40})
        assert result.code == 2, (args, result.stderr)
        if args[0] == "init":
            assert "FEDERATION_SECRET_KEY does not decrypt" in result.stderr
            assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(home) == before


def test_unwritable_home_fails_in_one_line(cli: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = cli("init", "--home", str(blocker / "node"))
    assert result.code == 2
    assert result.stderr.startswith("error: cannot write node home")
    assert len(result.stderr.strip().splitlines()) == 1
    assert blocker.read_text() == "not a directory"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda h: (h / "identity/node.key").write_bytes(b"garbage"), "identity/node.key is corrupted"),
        (lambda h: (h / "config.toml").write_text("[node\n"), "config.toml is corrupted"),
        (
            lambda h: (h / "config.toml").write_text((h / "config.toml").read_text() + "\n[extra]\nx = 1\n"),
            "unknown section [extra]",
        ),
        (lambda h: (h / "identity/node.key").unlink(), "identity/node.key is missing"),
        (lambda h: (h / "tls/cert.pem").write_text("-----BEGIN CERTIFICATE-----\nAAAA\n"), "cert.pem is corrupted"),
    ],
)
def test_damaged_home_is_refused_with_the_reason(cli: Any, home: Path, damage: Any, message: str) -> None:
    cli("init", "--home", str(home), env={"FEDERATION_SECRET_KEY": SECRET})
    damage(home)
    before = snapshot(home)
    result = cli("init", "--home", str(home), "--force", env={"FEDERATION_SECRET_KEY": SECRET})
    assert result.code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(home) == before


def test_secret_rules(cli: Any, home: Path, tmp_path: Path) -> None:
    short = cli("init", "--home", str(home), env={"FEDERATION_SECRET_KEY": "short"})
    assert short.code == 2 and "at least 32 characters" in short.stderr
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    both = cli(
        "init",
        "--home",
        str(home),
        env={"FEDERATION_SECRET_KEY": SECRET, "FEDERATION_SECRET_KEY_FILE": str(secret_file)},
    )
    assert both.code == 2 and "not both" in both.stderr
    from_file = cli(
        "init",
        "--home",
        str(home),
        "--json",
        env={"FEDERATION_SECRET_KEY": "", "FEDERATION_SECRET_KEY_FILE": str(secret_file)},
    )
    assert from_file.code == 0 and from_file.json()["secret"] == "provided"
    assert not (home / "secret.key").exists()


def test_generated_secret_file_readable_by_others_is_refused(cli: Any, home: Path) -> None:
    cli("init", "--home", str(home), env={"FEDERATION_SECRET_KEY": ""})
    (home / "secret.key").chmod(0o644)
    result = cli("status", "--home", str(home), env={"FEDERATION_SECRET_KEY": ""})
    assert result.code == 2 and "chmod 600" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("FEDERATION_DEBUG", "maybe", "FEDERATION_DEBUG must be true or false"),
        ("FEDERATION_PORT", "eighty", "FEDERATION_PORT must be an integer"),
        ("FEDERATION_PORT", "70000", "FEDERATION_PORT must be between 1 and 65535"),
        ("FEDERATION_DATABASE_URL", "mysql://db/x", "FEDERATION_DATABASE_URL must start with"),
        ("FEDERATION_LOG_LEVEL", "LOUD", "FEDERATION_LOG_LEVEL must be one of"),
        ("FEDERATION_DATABSE_URL", "postgres://x", "did you mean FEDERATION_DATABASE_URL?"),
    ],
)
def test_bad_settings_fail_loudly_at_start(cli: Any, variable: str, value: str, message: str) -> None:
    result = cli("status", "--json", env={variable: value})
    assert result.code == 2
    assert message in result.stderr
    assert result.json()["error"]["code"] == "bad_configuration"


def test_manage_py_reaches_the_same_command(home: Path) -> None:
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    done = subprocess.run(
        [sys.executable, "manage.py", "federation", "init", "--home", str(home), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "FEDERATION_SECRET_KEY": SECRET},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["node_id"] in (home / "config.toml").read_text()


@pytest.mark.parametrize(
    ("options", "message"),
    [(("--port", "0"), "network.port must be 1-65535"), (("--compliance", "pci"), "unknown compliance mode")],
)
def test_bad_init_options_touch_nothing_even_with_force(
    cli: Any, home: Path, options: tuple[str, ...], message: str
) -> None:
    cli("init", "--home", str(home), env={"FEDERATION_SECRET_KEY": SECRET})
    before = snapshot(home)
    result = cli("init", "--home", str(home), "--force", *options, env={"FEDERATION_SECRET_KEY": SECRET})
    assert result.code == 2
    assert message in result.stderr
    assert snapshot(home) == before
    assert not (home / "archive").exists()


def test_every_local_app_is_in_the_installed_package() -> None:
    """The console script runs from any directory, so an app missing from the package list only
    fails outside the checkout (tests run inside it)."""
    import fnmatch
    import tomllib

    from django.conf import settings

    root = Path(__file__).resolve().parent.parent
    include = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    local = [app for app in settings.INSTALLED_APPS if (root / app.split(".")[0] / "apps.py").exists()]
    assert "trust" in local
    assert [app for app in local if not any(fnmatch.fnmatch(app, pattern) for pattern in include)] == []
