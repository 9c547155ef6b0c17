from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

from federation import services

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fresh_identity_cache() -> None:
    from defence import services as defence_services
    from pii import services as pii_services

    services.forget_identity()
    pii_services.forget_cache()  # a rolled-back policy change sends no signal
    defence_services.forget_cache()


@pytest.fixture
def superuser(db: Any) -> User:
    return User.objects.create_superuser("root", "root@example.org", "a-long-test-password")


def _user_with(username: str, *codenames: str) -> User:
    user = User.objects.create_user(username, password="a-long-test-password")
    if codenames:
        user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def auditor(db: Any) -> User:
    """May read node status and the audit trail, nothing else."""
    return _user_with("auditor", "view_localnode", "view_auditevent")


@pytest.fixture
def stranger(db: Any) -> User:
    """Authenticated, without any permission."""
    return _user_with("stranger")


@pytest.fixture
def token_for() -> Callable[[User], str]:
    def make(user: User) -> str:
        return services.create_api_token(user=user, name="test")[1]

    return make


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout.strip().splitlines()[-1])


@pytest.fixture
def cli() -> Callable[..., CliResult]:
    """Run the installed `federation` program as a user would, in a separate process."""

    def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 60) -> CliResult:
        full_env = {**os.environ, **(env or {})}
        for name, value in list(full_env.items()):
            if value == "":  # an empty value in `env` means "unset it"
                del full_env[name]
        done = subprocess.run(
            [sys.executable, "-m", "federation.cli", *args],
            env=full_env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
        )
        return CliResult(done.returncode, done.stdout, done.stderr)

    return run


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_handed_out: set[int] = set()


def _ephemeral_low() -> int:
    """The first port the kernel hands out for outgoing connections (Linux; 32768 elsewhere)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_node_port() -> int:
    """A web port P with P + 1 (the federation endpoint) free too, never handed out twice in a
    session, so nodes started side by side cannot take each other's ports. Both lie below the
    ephemeral range: a port from there can be taken, while its node is down for a restart, as
    the local end of any outgoing connection (to PostgreSQL, Redis, a peer being retried)."""
    high = _ephemeral_low() - 2
    while True:
        port = random.randint(max(1024, high - 12000), high)
        if {port, port + 1} & _handed_out or not (_bindable(port) and _bindable(port + 1)):
            continue
        _handed_out.update({port, port + 1})
        return port


@pytest.fixture
def make_node_env(tmp_path: Path) -> Iterator[Callable[[str], dict[str, str]]]:
    with node_environments(tmp_path) as make:
        yield make


@contextlib.contextmanager
def node_environments(tmp_path: Path) -> Iterator[Callable[[str], dict[str, str]]]:
    """Environments for real node processes: a home and secret each, and in the production
    topology a PostgreSQL database each (created here, dropped afterwards)."""
    url = os.environ.get("FEDERATION_DATABASE_URL", "")
    databases: list[str] = []

    def make(name: str) -> dict[str, str]:
        env = {
            **os.environ,
            "FEDERATION_HOME": str(tmp_path / name),
            "FEDERATION_SECRET_KEY": secrets.token_urlsafe(32),
            "FEDERATION_HEARTBEAT_SECONDS": "2",
        }
        env.pop("FEDERATION_ADMIN_PASSWORD", None)
        if url.startswith("postgres"):
            import psycopg

            database = f"accord_e2e_{secrets.token_hex(4)}"
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{database}"')
            databases.append(database)
            env["FEDERATION_DATABASE_URL"] = url.rsplit("/", 1)[0] + "/" + database
        return env

    try:
        yield make
    finally:
        if databases:
            import psycopg

            with psycopg.connect(url, autocommit=True) as conn:
                for database in databases:
                    conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture
def node_env(make_node_env: Callable[[str], dict[str, str]]) -> dict[str, str]:
    return make_node_env("node")
