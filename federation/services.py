"""Writes about this node: registration, manifests, API tokens, the first admin, liveness."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from compliance.services import record_event
from federation import crypto, env, home, manifest
from federation.models import ApiToken, LocalNode, SignedManifest, WorkerHeartbeat

# What this node implements today; grows as capabilities land (advertised, never trusted).
NODE_CAPABILITIES = ("discovery.manifest", "discovery.registry", "handshake.mtls", "session.heartbeat")
TOKEN_PREFIX = "acc"  # noqa: S105 - the public token prefix


class NodeNotInitialised(RuntimeError):
    pass


@lru_cache(maxsize=4)
def _load_identity(home_dir: Path) -> home.NodeIdentity:
    return home.load_identity(home_dir)


def get_identity() -> home.NodeIdentity:
    """This node's keys, decrypted once per process."""
    if not settings.FEDERATION_INITIALISED:
        raise NodeNotInitialised(f"{settings.FEDERATION_HOME} is not initialised; run `federation init`")
    return _load_identity(Path(settings.FEDERATION_HOME))


def forget_identity() -> None:
    _load_identity.cache_clear()


@transaction.atomic
def register_node(identity: home.NodeIdentity) -> LocalNode:
    """Make the database agree with the identity in the node home (idempotent)."""
    node, created = LocalNode.objects.get_or_create(
        node_id=identity.node_id,
        defaults={
            "public_key": crypto.b64encode(identity.public_key_raw),
            "display_name": identity.config.display_name,
            "tls_fingerprint": identity.tls_fingerprint,
            "created_at": dt.datetime.fromisoformat(identity.config.created_at.replace("Z", "+00:00")),
        },
    )
    stale = LocalNode.objects.filter(is_current=True).exclude(pk=node.pk)
    for previous in stale:
        record_event(action="node.identity_retired", actor="system", subject=previous.node_id)
    stale.update(is_current=False)
    changed = []
    if node.tls_fingerprint != identity.tls_fingerprint:
        node.tls_fingerprint, changed = identity.tls_fingerprint, [*changed, "tls_fingerprint"]
    if not node.is_current:
        node.is_current, changed = True, [*changed, "is_current"]
    if changed:
        LocalNode.objects.filter(pk=node.pk).update(**{name: getattr(node, name) for name in changed})
    if created:
        record_event(
            action="node.registered",
            actor="system",
            subject=node.node_id,
            details={"public_key": node.public_key, "tls_fingerprint": node.tls_fingerprint},
        )
    return node


def current_node() -> LocalNode:
    node = LocalNode.objects.filter(is_current=True).first()
    if node is None:
        node = register_node(get_identity())
    return node


def _manifest_inputs(identity: home.NodeIdentity, node: LocalNode) -> dict[str, Any]:
    base = settings.FEDERATION_PUBLIC_URL
    return {
        "display_name": node.display_name,
        "endpoints": {
            "base_url": base,
            "api": f"{base}/api/v1/",
            "manifest": f"{base}/.well-known/federation/manifest.json",
            "federation": settings.FEDERATION_FEDERATION_URL,
            "registry": f"{base}/api/v1/registry/manifests",
        },
        "capabilities": sorted(NODE_CAPABILITIES),
        "compliance_modes": sorted(identity.config.compliance_modes),
        "tls_cert_fingerprint": identity.tls_fingerprint,
    }


@transaction.atomic
def issue_manifest(*, now: dt.datetime | None = None, reason: str = "requested") -> SignedManifest:
    identity = get_identity()
    node = current_node()
    now = now or timezone.now()
    document = manifest.build_manifest(
        key=identity.signing_key,
        issued_at=now,
        ttl=dt.timedelta(seconds=identity.config.manifest_ttl_seconds),
        **_manifest_inputs(identity, node),
    )
    signed = SignedManifest.objects.create(
        node=node,
        issued_at=manifest.parse_time(document["issued_at"]),
        expires_at=manifest.parse_time(document["expires_at"]),
        document=document,
    )
    record_event(
        action="manifest.issued",
        actor="system",
        subject=node.node_id,
        details={"manifest_id": signed.pk, "expires_at": document["expires_at"], "reason": reason},
    )
    return signed


def current_manifest(*, now: dt.datetime | None = None) -> dict[str, Any]:
    """The manifest to serve: the latest one, re-issued past half its lifetime or when stale."""
    identity = get_identity()
    node = current_node()
    now = now or timezone.now()
    latest = SignedManifest.objects.filter(node=node).order_by("-issued_at").first()
    if latest is not None:
        half_life = latest.issued_at + (latest.expires_at - latest.issued_at) / 2
        inputs = _manifest_inputs(identity, node)
        unchanged = all(latest.document.get(key) == value for key, value in inputs.items())
        if now < half_life and unchanged:
            return latest.document
        return issue_manifest(now=now, reason="renewal" if unchanged else "configuration_changed").document
    return issue_manifest(now=now, reason="first_issue").document


# --- the first administrator -----------------------------------------------------------------


def ensure_admin_user(environ: Mapping[str, str]) -> tuple[str, str | None] | None:
    """Create the initial superuser if there is none.

    Returns (username, generated_password) when one was created; the generated password is
    shown to the operator once and only its hash is stored. Returns None if a superuser exists.
    """
    user_model = get_user_model()
    if user_model.objects.filter(is_superuser=True).exists():
        return None
    username = env.get_str(environ, "FEDERATION_ADMIN_USER", "admin")
    password = env.get_secret(environ, "FEDERATION_ADMIN_PASSWORD")
    generated = None
    if not password:
        password = generated = secrets.token_urlsafe(15)
    email = env.get_str(environ, "FEDERATION_ADMIN_EMAIL", "")
    with transaction.atomic():
        user_model.objects.create_superuser(username=username, email=email, password=password)
        record_event(
            action="auth.admin_created",
            actor="system",
            subject=username,
            details={"password": "generated" if generated else "from environment"},
        )
    return username, generated


# --- API tokens ------------------------------------------------------------------------------


def token_digest(token: str) -> str:
    return hmac.new(settings.FEDERATION_TOKEN_HMAC_KEY, token.encode(), hashlib.sha256).hexdigest()


@transaction.atomic
def create_api_token(
    *, user: AbstractBaseUser, name: str, expires_at: dt.datetime | None = None
) -> tuple[ApiToken, str]:
    """Returns the row and the token itself, which exists nowhere else after this call."""
    prefix = secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiToken.objects.create(
        user=user, name=name, prefix=prefix, digest=token_digest(token), expires_at=expires_at
    )
    record_event(
        action="auth.token_created",
        actor=user.get_username(),
        subject=prefix,
        details={"name": name, "expires_at": expires_at.isoformat() if expires_at else None},
    )
    return row, token


@transaction.atomic
def revoke_api_token(*, prefix: str, actor: str) -> ApiToken:
    row = ApiToken.objects.select_for_update().get(prefix=prefix)
    if row.revoked_at is None:
        row.revoked_at = timezone.now()
        row.save(update_fields=["revoked_at"])
        record_event(action="auth.token_revoked", actor=actor, subject=prefix)
    return row


# --- liveness --------------------------------------------------------------------------------


def checkpoint_database() -> None:
    """SQLite only: copy the write-ahead log into the database file (PASSIVE: never waits for,
    nor blocks, readers and writers), so the log stays short and no commit pays for it."""
    from django.db import connection

    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")


def record_worker_heartbeat(*, worker: str, via: str) -> None:
    WorkerHeartbeat.objects.update_or_create(worker=worker, defaults={"last_seen": timezone.now(), "via": via})
