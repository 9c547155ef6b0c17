from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from compliance.models import AuditEvent
from compliance.services import record_event
from federation import services
from federation.models import ApiToken, WorkerHeartbeat

pytestmark = pytest.mark.django_db


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_status_requires_authentication(api: Any) -> None:
    response = api.get("/api/v1/status")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_status_with_token_reports_node_versions_and_health(api: Any, auditor: Any, token_for: Any) -> None:
    services.record_worker_heartbeat(worker="w1", via="beat")
    response = api.get("/api/v1/status", **bearer(token_for(auditor)))
    assert response.status_code == 200
    body = response.json()
    assert body["node_id"] == services.get_identity().node_id
    assert body["versions"]["protocol"] == ["accord/1"]
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["worker"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is (body["topology"] == "production")  # embedded: no broker dir yet
    assert body["uptime_seconds"] >= 0


def test_stale_worker_heartbeat_is_reported(api: Any, auditor: Any, token_for: Any) -> None:
    WorkerHeartbeat.objects.create(worker="w1", via="beat", last_seen=timezone.now() - dt.timedelta(minutes=5))
    body = api.get("/api/v1/status", **bearer(token_for(auditor))).json()
    assert body["checks"]["worker"] == {**body["checks"]["worker"], "ok": False, "detail": "heartbeat overdue"}
    assert body["healthy"] is False


def test_authenticated_user_without_permission_is_forbidden(api: Any, stranger: Any, token_for: Any) -> None:
    assert api.get("/api/v1/status", **bearer(token_for(stranger))).status_code == 403
    assert api.get("/api/v1/audit/events", **bearer(token_for(stranger))).status_code == 403


def test_tokens_are_stored_as_keyed_hashes_only(superuser: Any) -> None:
    row, token = services.create_api_token(user=superuser, name="ci")
    stored = ApiToken.objects.values().get(pk=row.pk)
    assert token not in str(stored)
    assert token.split("_", 2)[2] not in str(stored)  # the secret part (it may contain "_")
    assert stored["digest"] == services.token_digest(token) and len(stored["digest"]) == 64
    assert AuditEvent.objects.filter(action="auth.token_created", subject=row.prefix).exists()


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Bearer acc_nope_nope", "unknown_token"),
        ("Bearer not-a-token", "malformed"),
        ("Token acc_{prefix}_wrongsecret", "unknown_token"),
    ],
)
def test_bad_tokens_are_refused_and_audited(api: Any, superuser: Any, header: str, reason: str) -> None:
    row, _ = services.create_api_token(user=superuser, name="real")
    response = api.get("/api/v1/status", HTTP_AUTHORIZATION=header.format(prefix=row.prefix))
    assert response.status_code == 401
    assert reason in response.json()["error"]["message"]
    assert AuditEvent.objects.filter(action="auth.token_refused", details__reason=reason).exists()


def test_revoked_and_expired_tokens_stop_working(api: Any, superuser: Any) -> None:
    row, token = services.create_api_token(user=superuser, name="soon")
    assert api.get("/api/v1/status", **bearer(token)).status_code == 200
    services.revoke_api_token(prefix=row.prefix, actor="test")
    assert "revoked" in api.get("/api/v1/status", **bearer(token)).json()["error"]["message"]
    _, old = services.create_api_token(user=superuser, name="old", expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert "expired" in api.get("/api/v1/status", **bearer(old)).json()["error"]["message"]


def test_audit_events_list_is_paginated_filtered_and_free_of_n_plus_one(
    api: Any, auditor: Any, token_for: Any, django_assert_num_queries: Any
) -> None:
    token = token_for(auditor)
    for i in range(30):
        record_event(action="test.listed", subject=f"s{i}", outcome="denied" if i % 3 == 0 else "success")
    api.get("/api/v1/audit/events?limit=1", **bearer(token))  # first use writes last_used_at
    # token + user, user and group permissions, count, page: the same for 1 row or 25
    with django_assert_num_queries(5):
        api.get("/api/v1/audit/events?limit=1", **bearer(token))
    with django_assert_num_queries(5):
        response = api.get("/api/v1/audit/events?limit=25&outcome=denied", **bearer(token))
    body = response.json()
    assert body["count"] == 10
    assert all(item["outcome"] == "denied" for item in body["results"])
    assert [item["seq"] for item in body["results"]] == sorted((i["seq"] for i in body["results"]), reverse=True)


def test_audit_filter_with_bad_date_is_a_400(api: Any, auditor: Any, token_for: Any) -> None:
    response = api.get("/api/v1/audit/events?since=yesterday", **bearer(token_for(auditor)))
    assert response.status_code == 400
    assert "since must be an ISO 8601" in str(response.json())


def test_audit_api_is_read_only(api: Any, superuser: Any, token_for: Any) -> None:
    event = record_event(action="test.kept")
    token = token_for(superuser)
    assert api.delete(f"/api/v1/audit/events/{event.seq}", **bearer(token)).status_code == 405
    assert api.post("/api/v1/audit/events", {"action": "x.y"}, format="json", **bearer(token)).status_code == 405
    assert api.get("/api/v1/audit/verify", **bearer(token)).json()["ok"] is True


def test_malformed_json_body_gets_a_precise_error(api: Any, superuser: Any, token_for: Any) -> None:
    response = api.generic(
        "POST", "/api/v1/audit/events", "{not json", content_type="application/json", **bearer(token_for(superuser))
    )
    assert response.status_code in (400, 405)
    assert "error" in response.json()


def test_openapi_schema_and_offline_docs(client: Any) -> None:
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/status" in paths and "/api/v1/audit/events" in paths
    docs = client.get("/api/docs/").content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist" in docs
    assert "cdn." not in docs and "unpkg" not in docs


def test_healthz_is_public_and_reports_checks(client: Any) -> None:
    response = client.get("/healthz")
    body = response.json()
    assert set(body["checks"]) == {"database", "broker", "worker"}
    assert response.status_code == (200 if body["healthy"] else 503)
    assert body["checks"]["worker"]["ok"] is False  # no worker in unit tests
