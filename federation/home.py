"""The node home: everything one node owns lives under one directory.

    HOME/config.toml            node settings (written by `federation init`, strict schema)
    HOME/secret.key             generated key-encryption secret, mode 0600 (absent when the
                                secret comes from FEDERATION_SECRET_KEY or _FILE)
    HOME/identity/node.key      ed25519 identity key, encrypted PKCS#8 PEM, mode 0600
    HOME/tls/key.pem            ed25519 TLS key, encrypted PKCS#8 PEM, mode 0600
    HOME/tls/cert.pem           self-signed certificate pinned by peers
    HOME/db.sqlite3, broker/, run/, static/, exports/   embedded-mode state

Pure module (no Django): the CLI uses it before Django is configured, settings use it to find
the database, and the web process uses it to load the keys.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import tomli_w
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from federation import crypto

CONFIG_FILE = "config.toml"
SECRET_FILE = "secret.key"  # noqa: S105 - a file name, not a secret
IDENTITY_KEY_FILE = "identity/node.key"
TLS_KEY_FILE = "tls/key.pem"
TLS_CERT_FILE = "tls/cert.pem"
MIN_SECRET_LENGTH = 32
CERT_VALID_DAYS = 365
COMPLIANCE_MODES = ("gdpr", "hipaa", "soc2")


class HomeError(Exception):
    """Anything wrong with a node home. The message is one line, fit for an operator."""


class NotInitialisedError(HomeError):
    pass


class AlreadyInitialisedError(HomeError):
    pass


class ConfigError(HomeError):
    pass


class SecretError(HomeError):
    pass


class KeyFileError(HomeError):
    pass


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get("FEDERATION_HOME") or Path.home() / ".accord").expanduser().resolve()


# --- configuration -------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeConfig:
    node_id: str
    display_name: str
    created_at: str
    host: str = "127.0.0.1"
    port: int = 8000
    federation_port: int | None = None
    public_url: str = ""
    compliance_modes: tuple[str, ...] = ()
    manifest_ttl_seconds: int = 24 * 3600

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"

    def to_toml(self) -> dict[str, Any]:
        network: dict[str, Any] = {"host": self.host, "port": self.port}
        if self.federation_port is not None:
            network["federation_port"] = self.federation_port
        if self.public_url:
            network["public_url"] = self.public_url
        return {
            "node": {"node_id": self.node_id, "display_name": self.display_name, "created_at": self.created_at},
            "network": network,
            "compliance": {"modes": list(self.compliance_modes)},
            "manifest": {"ttl_seconds": self.manifest_ttl_seconds},
        }


# section -> key -> (type, required)
_SCHEMA: dict[str, dict[str, tuple[type, bool]]] = {
    "node": {"node_id": (str, True), "display_name": (str, True), "created_at": (str, True)},
    "network": {
        "host": (str, False),
        "port": (int, False),
        "federation_port": (int, False),
        "public_url": (str, False),
    },
    "compliance": {"modes": (list, False)},
    "manifest": {"ttl_seconds": (int, False)},
}


def parse_config(data: Mapping[str, Any], *, source: str) -> NodeConfig:
    """Validate the TOML document strictly: unknown sections or keys are errors, not ignored."""
    for section, body in data.items():
        if section not in _SCHEMA:
            raise ConfigError(f"{source}: unknown section [{section}] (known: {', '.join(_SCHEMA)})")
        if not isinstance(body, dict):
            raise ConfigError(f"{source}: [{section}] must be a table")
        for key, value in body.items():
            if key not in _SCHEMA[section]:
                raise ConfigError(f"{source}: unknown key {section}.{key}")
            kind = _SCHEMA[section][key][0]
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ConfigError(f"{source}: {section}.{key} must be {kind.__name__}, got {value!r}")
    for section, keys in _SCHEMA.items():
        for key, (_, required) in keys.items():
            if required and key not in data.get(section, {}):
                raise ConfigError(f"{source}: missing {section}.{key}")
    network = data.get("network", {})
    for key in ("port", "federation_port"):
        if key in network and not 1 <= network[key] <= 65535:
            raise ConfigError(f"{source}: network.{key} must be 1-65535, got {network[key]}")
    modes = data.get("compliance", {}).get("modes", [])
    unknown = [mode for mode in modes if mode not in COMPLIANCE_MODES]
    if unknown:
        raise ConfigError(f"{source}: unknown compliance mode(s) {unknown} (known: {', '.join(COMPLIANCE_MODES)})")
    ttl = data.get("manifest", {}).get("ttl_seconds", NodeConfig.manifest_ttl_seconds)
    if not 300 <= ttl <= 30 * 24 * 3600:
        raise ConfigError(f"{source}: manifest.ttl_seconds must be between 300 and 2592000, got {ttl}")
    node = data["node"]
    return NodeConfig(
        node_id=node["node_id"],
        display_name=node["display_name"],
        created_at=node["created_at"],
        host=network.get("host", NodeConfig.host),
        port=network.get("port", NodeConfig.port),
        federation_port=network.get("federation_port"),
        public_url=network.get("public_url", ""),
        compliance_modes=tuple(modes),
        manifest_ttl_seconds=ttl,
    )


def read_config(home: Path) -> NodeConfig:
    path = home / CONFIG_FILE
    if not path.exists():
        raise NotInitialisedError(f"{home} is not an initialised node home (run `federation init --home {home}`)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} is corrupted: {exc}") from exc
    return parse_config(data, source=str(path))


# --- the key-encryption secret -------------------------------------------------------------


def _check_secret(value: str, source: str) -> bytes:
    value = value.strip()
    if len(value) < MIN_SECRET_LENGTH:
        raise SecretError(f"{source} must be at least {MIN_SECRET_LENGTH} characters")
    return value.encode("utf-8")


def secret_source(home: Path, environ: Mapping[str, str]) -> str:
    if environ.get("FEDERATION_SECRET_KEY"):
        return "FEDERATION_SECRET_KEY"
    if environ.get("FEDERATION_SECRET_KEY_FILE"):
        return "FEDERATION_SECRET_KEY_FILE"
    return str(home / SECRET_FILE)


def load_secret(home: Path, environ: Mapping[str, str] | None = None) -> bytes | None:
    """The node secret, from the environment, a secret file, or HOME/secret.key; None if none yet."""
    environ = os.environ if environ is None else environ
    inline, path_name = environ.get("FEDERATION_SECRET_KEY"), environ.get("FEDERATION_SECRET_KEY_FILE")
    if inline and path_name:
        raise SecretError("set FEDERATION_SECRET_KEY or FEDERATION_SECRET_KEY_FILE, not both")
    if inline:
        return _check_secret(inline, "FEDERATION_SECRET_KEY")
    path = Path(path_name) if path_name else home / SECRET_FILE
    if not path.exists():
        if path_name:
            raise SecretError(f"FEDERATION_SECRET_KEY_FILE {path} does not exist")
        return None
    if not path_name and stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise SecretError(f"{path} is readable by other users; run `chmod 600 {path}`")
    try:
        return _check_secret(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"cannot read {path}: {exc}") from exc


# --- writing files safely ------------------------------------------------------------------


def _write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only, atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --- identity ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeIdentity:
    home: Path
    config: NodeConfig
    signing_key: Ed25519PrivateKey = field(repr=False)
    tls_key: Ed25519PrivateKey = field(repr=False)
    certificate: x509.Certificate = field(repr=False)

    @property
    def node_id(self) -> str:
        return self.config.node_id

    @cached_property
    def public_key_raw(self) -> bytes:
        return crypto.public_key_raw(self.signing_key)

    @cached_property
    def tls_fingerprint(self) -> str:
        return crypto.certificate_fingerprint(self.certificate)


def _read_key(path: Path, secret: bytes, secret_from: str) -> Ed25519PrivateKey:
    try:
        pem = path.read_bytes()
    except FileNotFoundError as exc:
        raise KeyFileError(f"{path} is missing") from exc
    except OSError as exc:
        raise KeyFileError(f"cannot read {path}: {exc}") from exc
    try:
        return crypto.decrypt_private_key(pem, secret)
    except crypto.KeyFormatError as exc:
        raise KeyFileError(f"{path} is corrupted: {exc}") from exc
    except crypto.KeyDecryptionError as exc:
        raise KeyFileError(f"{secret_from} does not decrypt {path} (wrong secret, or the file was altered)") from exc


def load_identity(home: Path, environ: Mapping[str, str] | None = None) -> NodeIdentity:
    environ = os.environ if environ is None else environ
    config = read_config(home)
    secret = load_secret(home, environ)
    if secret is None:
        raise SecretError(f"no secret: set FEDERATION_SECRET_KEY(_FILE) or restore {home / SECRET_FILE}")
    source = secret_source(home, environ)
    signing_key = _read_key(home / IDENTITY_KEY_FILE, secret, source)
    if crypto.derive_node_id(crypto.public_key_raw(signing_key)) != config.node_id:
        raise KeyFileError(f"{home / IDENTITY_KEY_FILE} does not belong to node {config.node_id} in {CONFIG_FILE}")
    tls_key = _read_key(home / TLS_KEY_FILE, secret, source)
    cert_path = home / TLS_CERT_FILE
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except FileNotFoundError as exc:
        raise KeyFileError(f"{cert_path} is missing") from exc
    except ValueError as exc:
        raise KeyFileError(f"{cert_path} is corrupted: {exc}") from exc
    if crypto.public_key_raw(certificate.public_key()) != crypto.public_key_raw(tls_key):  # type: ignore[arg-type]
        raise KeyFileError(f"{cert_path} does not match {home / TLS_KEY_FILE}")
    return NodeIdentity(home=home, config=config, signing_key=signing_key, tls_key=tls_key, certificate=certificate)


@dataclass(frozen=True)
class InitResult:
    identity: NodeIdentity
    secret_generated: bool
    archived_to: Path | None


def _ensure_writable(home: Path) -> None:
    try:
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        probe = home / f".write-test-{secrets.token_hex(4)}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise HomeError(f"cannot write node home {home}: {exc.strerror or exc}") from exc


def init_home(
    home: Path,
    *,
    display_name: str = "",
    host: str = "127.0.0.1",
    port: int = 8000,
    compliance_modes: tuple[str, ...] = (),
    force: bool = False,
    environ: Mapping[str, str] | None = None,
    now: dt.datetime | None = None,
) -> InitResult:
    """Create a node identity under `home`. Refuses an initialised home unless `force`.

    With `force`, the previous config, keys and certificate are moved to HOME/archive/<time>/,
    never deleted — and only if the current secret can still open them, so a typo in the secret
    cannot silently replace a working identity.
    """
    environ = os.environ if environ is None else environ
    now = now or dt.datetime.now(dt.UTC)
    signing_key = crypto.generate_signing_key()
    node_id = crypto.derive_node_id(crypto.public_key_raw(signing_key))
    config = NodeConfig(
        node_id=node_id,
        display_name=display_name or f"node-{node_id[:8]}",
        created_at=now.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        host=host,
        port=port,
        compliance_modes=tuple(compliance_modes),
    )
    parse_config(config.to_toml(), source="init options")  # bad options fail before anything is touched

    _ensure_writable(home)
    archived_to: Path | None = None
    if (home / CONFIG_FILE).exists():
        existing = load_identity(home, environ)  # raises with a precise reason if unreadable
        if not force:
            raise AlreadyInitialisedError(
                f"{home} is already initialised as node {existing.node_id}; use --force to replace its identity"
            )
        archived_to = home / "archive" / now.strftime("%Y%m%dT%H%M%SZ")
        archived_to.mkdir(parents=True, exist_ok=False, mode=0o700)
        for name in (CONFIG_FILE, "identity", "tls"):
            if (home / name).exists():
                shutil.move(str(home / name), str(archived_to / name))

    secret = load_secret(home, environ)
    secret_generated = secret is None
    if secret is None:
        secret = secrets.token_urlsafe(48).encode("ascii")
        _write_private(home / SECRET_FILE, secret + b"\n")

    tls_key = crypto.generate_signing_key()
    hostnames = sorted({host, "localhost", "127.0.0.1", "::1"} - {"0.0.0.0", "::"})  # noqa: S104 - filtering
    certificate = crypto.make_self_signed_certificate(
        tls_key, node_id=node_id, hostnames=hostnames, now=now, valid_days=CERT_VALID_DAYS
    )
    _write_private(home / IDENTITY_KEY_FILE, crypto.encrypt_private_key(signing_key, secret))
    _write_private(home / TLS_KEY_FILE, crypto.encrypt_private_key(tls_key, secret))
    _write_private(home / TLS_CERT_FILE, certificate.public_bytes(serialization.Encoding.PEM))
    # The config goes last: its presence is what marks the home as initialised.
    _write_private(home / CONFIG_FILE, tomli_w.dumps(config.to_toml()).encode("utf-8"))
    identity = NodeIdentity(home=home, config=config, signing_key=signing_key, tls_key=tls_key, certificate=certificate)
    return InitResult(identity=identity, secret_generated=secret_generated, archived_to=archived_to)
