from __future__ import annotations

import re
from typing import Any

import pytest

from compliance.models import AuditEvent
from compliance.services import record_event
from federation import services
from federation.models import ApiToken, SignedManifest

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Any, superuser: Any) -> Any:
    client.force_login(superuser)
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/federation/localnode/",
        "/admin/federation/signedmanifest/",
        "/admin/federation/apitoken/",
        "/admin/federation/apitoken/add/",
        "/admin/federation/workerheartbeat/",
        "/admin/compliance/auditevent/",
        "/admin/compliance/auditevent/verify/",
        "/admin/compliance/auditevent/?category=auth&outcome=denied",
    ],
)
def test_admin_pages_render(admin_client: Any, url: str) -> None:
    services.current_manifest()
    assert admin_client.get(url).status_code == 200


def test_manifest_admin_shows_verification(admin_client: Any) -> None:
    services.current_manifest()
    signed = SignedManifest.objects.get()
    page = admin_client.get(f"/admin/federation/signedmanifest/{signed.pk}/change/").content.decode()
    assert "valid: signature, node id and validity window verified" in page


def test_audit_events_are_read_only_in_admin(admin_client: Any) -> None:
    event = record_event(action="test.shown")
    assert admin_client.post(f"/admin/compliance/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.get("/admin/compliance/auditevent/add/").status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_audit_changelist_query_count_does_not_grow_with_rows(
    admin_client: Any, django_assert_max_num_queries: Any
) -> None:
    for i in range(5):
        record_event(action="test.row", subject=str(i))
    admin_client.get("/admin/compliance/auditevent/")
    with django_assert_max_num_queries(8) as few:
        admin_client.get("/admin/compliance/auditevent/")
    for i in range(60):
        record_event(action="test.row", subject=str(i))
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert admin_client.get("/admin/compliance/auditevent/").status_code == 200


def test_verify_view_reports_an_intact_chain(admin_client: Any) -> None:
    record_event(action="test.one")
    page = admin_client.get("/admin/compliance/auditevent/verify/").content.decode()
    assert "Chain intact" in page


def test_token_created_in_admin_is_shown_once_and_stored_hashed(admin_client: Any, superuser: Any) -> None:
    response = admin_client.post("/admin/federation/apitoken/add/", {"user": superuser.pk, "name": "automation"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = re.search(r'id="api-token"[^>]*>(acc_[^<]+)<', response.content.decode()).group(1)
    row = ApiToken.objects.get(name="automation")
    assert row.digest == services.token_digest(token)
    assert token not in admin_client.get(f"/admin/federation/apitoken/{row.pk}/change/").content.decode()
    assert admin_client.get("/api/v1/status", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


def test_admin_changes_reach_the_audit_trail_without_values(admin_client: Any) -> None:
    node = services.current_node()
    response = admin_client.post(f"/admin/federation/localnode/{node.pk}/change/", {"display_name": "Renamed"})
    assert response.status_code == 302
    event = AuditEvent.objects.filter(action="admin.change").latest("seq")
    assert event.actor == "root"
    assert event.details["fields"] == ["display_name"]
    assert "Renamed" not in str(event.details)


def test_login_and_failed_login_are_audited(client: Any, superuser: Any) -> None:
    client.post("/admin/login/", {"username": "root", "password": "wrong-password"})
    client.post("/admin/login/", {"username": "root", "password": "a-long-test-password"})
    failed = AuditEvent.objects.get(action="auth.login_failed")
    assert failed.actor == "root" and failed.outcome == "denied"
    assert "wrong-password" not in str(failed.details)
    assert AuditEvent.objects.filter(action="auth.login", actor="root").exists()


def test_admin_requires_login(client: Any) -> None:
    response = client.get("/admin/compliance/auditevent/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_admin_home_shows_this_node_and_its_health(admin_client: Any) -> None:
    page = admin_client.get("/admin/").content.decode()
    assert 'id="node-summary"' in page
    assert services.get_identity().node_id in page
    assert "federation/admin.css" in page
    assert admin_client.get("/static/federation/admin.css").status_code == 200
