"""This node's registration, manifest serving and first admin, through services and HTTP."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from compliance.models import AuditEvent
from federation import manifest, services, tasks
from federation.models import LocalNode, SignedManifest, WorkerHeartbeat

pytestmark = pytest.mark.django_db


def test_manifest_endpoint_serves_a_verifiable_manifest(client: Any) -> None:
    response = client.get("/.well-known/federation/manifest.json")
    assert response.status_code == 200
    document = response.json()
    identity = services.get_identity()
    verified = manifest.verify_manifest(document, now=dt.datetime.now(dt.UTC), expected_node_id=identity.node_id)
    assert verified.public_key == identity.public_key_raw
    assert document["tls_cert_fingerprint"] == identity.tls_fingerprint
    assert document["compliance_modes"] == ["gdpr"]
    assert document["endpoints"]["manifest"].endswith("/.well-known/federation/manifest.json")


def test_manifest_is_reused_until_half_life_then_renewed() -> None:
    first = services.current_manifest()
    assert services.current_manifest() == first
    assert SignedManifest.objects.count() == 1
    later = timezone.now() + dt.timedelta(hours=13)
    renewed = services.current_manifest(now=later)
    assert renewed["issued_at"] != first["issued_at"]
    assert SignedManifest.objects.count() == 2
    reasons = list(AuditEvent.objects.filter(action="manifest.issued").values_list("details__reason", flat=True))
    assert sorted(reasons) == ["first_issue", "renewal"]


def test_manifest_is_reissued_when_what_it_states_changes(settings: Any) -> None:
    services.current_manifest()
    settings.FEDERATION_PUBLIC_URL = "https://node.example:9443"
    document = services.current_manifest()
    assert document["endpoints"]["base_url"] == "https://node.example:9443"
    assert AuditEvent.objects.filter(action="manifest.issued", details__reason="configuration_changed").exists()


def test_manifest_only_accepts_get(client: Any) -> None:
    assert client.post("/.well-known/federation/manifest.json").status_code == 405


def test_register_node_is_idempotent_and_audited_once() -> None:
    identity = services.get_identity()
    first = services.register_node(identity)
    second = services.register_node(identity)
    assert first.pk == second.pk
    assert LocalNode.objects.count() == 1
    assert AuditEvent.objects.filter(action="node.registered", subject=identity.node_id).count() == 1


def test_first_admin_is_created_once_with_a_generated_password() -> None:
    username, password = services.ensure_admin_user({})
    assert username == "admin" and password and len(password) >= 16
    user = User.objects.get(username="admin")
    assert user.is_superuser and user.check_password(password)
    assert password not in user.password  # only the hash is stored
    assert services.ensure_admin_user({}) is None


def test_first_admin_from_environment(tmp_path: Any) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text("a-password-from-a-file\n")
    created = services.ensure_admin_user(
        {"FEDERATION_ADMIN_USER": "sec", "FEDERATION_ADMIN_PASSWORD_FILE": str(secret_file)}
    )
    assert created == ("sec", None)
    assert User.objects.get(username="sec").check_password("a-password-from-a-file")
    event = AuditEvent.objects.get(action="auth.admin_created")
    assert "a-password-from-a-file" not in str(event.details)


def test_worker_heartbeat_task_records_liveness() -> None:
    tasks.worker_heartbeat.apply()
    beat = WorkerHeartbeat.objects.get()
    assert beat.via == "beat" and timezone.now() - beat.last_seen < dt.timedelta(seconds=5)


def test_refresh_manifest_task_issues_when_missing() -> None:
    tasks.refresh_manifest.apply()
    assert SignedManifest.objects.count() == 1
