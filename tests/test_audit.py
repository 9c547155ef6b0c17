from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from compliance import chain
from compliance.models import AuditEvent, AuditTrailIsAppendOnly
from compliance.services import InvalidAuditEvent, record_event, verify_audit_chain

pytestmark = pytest.mark.django_db


def fill(count: int) -> list[AuditEvent]:
    return [
        record_event(action="test.event", actor="tester", subject=f"s{i}", details={"i": i, "f": 0.5})
        for i in range(count)
    ]


def raw_sql(sql: str, params: list[Any]) -> None:
    """Tamper the way an attacker with database access would, bypassing the guard triggers."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE compliance_auditevent DISABLE TRIGGER compliance_auditevent_append_only")
        else:
            cursor.execute("DROP TRIGGER compliance_auditevent_no_update")
        cursor.execute(sql, params)


def test_events_form_a_sequence_linked_by_hashes() -> None:
    events = fill(5)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == chain.GENESIS_HASH
    for previous, current in itertools.pairwise(events):
        assert current.prev_hash == previous.hash
    report = verify_audit_chain()
    assert report.ok and report.checked == 5 and report.last_seq == 5


def test_hash_survives_the_database_round_trip() -> None:
    event = fill(1)[0]
    stored = AuditEvent.objects.get(pk=event.pk)
    assert chain.record_hash(stored.chain_fields(), stored.prev_hash) == stored.hash == event.hash


def test_orm_refuses_every_kind_of_change() -> None:
    event = fill(1)[0]
    event.action = "test.changed"
    with pytest.raises(AuditTrailIsAppendOnly):
        event.save()
    with pytest.raises(AuditTrailIsAppendOnly):
        event.delete()
    with pytest.raises(AuditTrailIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(action="x.y")
    with pytest.raises(AuditTrailIsAppendOnly):
        AuditEvent.objects.all().delete()
    with pytest.raises(AuditTrailIsAppendOnly):
        AuditEvent.objects.bulk_create([AuditEvent(seq=99)])
    assert AuditEvent.objects.get(pk=event.pk).action == "test.event"


def test_database_refuses_raw_updates() -> None:
    event = fill(1)[0]
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE compliance_auditevent SET actor = %s WHERE id = %s", ["mallory", event.pk])
    assert AuditEvent.objects.get(pk=event.pk).actor == "tester"


@pytest.mark.parametrize(
    ("tamper", "bad_seq", "reason"),
    [
        ("UPDATE compliance_auditevent SET actor = 'mallory' WHERE seq = 3", 3, "content"),
        ("UPDATE compliance_auditevent SET details = '{\"i\": 99}' WHERE seq = 2", 2, "content"),
        ("DELETE FROM compliance_auditevent WHERE seq = 4", 4, "sequence gap"),
        ("UPDATE compliance_auditevent SET prev_hash = hash WHERE seq = 5", 5, "prev_hash"),
    ],
)
def test_verify_names_the_first_tampered_record(tamper: str, bad_seq: int, reason: str) -> None:
    fill(6)
    raw_sql(tamper, [])
    report = verify_audit_chain()
    assert not report.ok
    assert report.first_bad_seq == bad_seq
    assert reason in report.reason


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action": "nodot"}, "category.verb"),
        ({"action": "Bad.Case"}, "category.verb"),
        ({"action": "a.b", "outcome": "maybe"}, "outcome"),
        ({"action": "a.b", "details": {"x": float("nan")}}, "canonical"),
        ({"action": "a.b", "details": {"x": "y" * 20000}}, "exceed"),
        ({"action": "a.b", "details": {"x": "nul\x00byte"}}, "NUL"),
    ],
)
def test_invalid_events_are_refused_and_leave_the_chain_intact(kwargs: dict[str, Any], message: str) -> None:
    fill(2)
    with pytest.raises(InvalidAuditEvent, match=message):
        record_event(**kwargs)
    report = verify_audit_chain()
    assert report.ok and report.last_seq == 2


def test_event_rolls_back_with_the_change_it_describes() -> None:
    fill(1)

    def failing_change() -> None:
        with transaction.atomic():
            record_event(action="test.inside")
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    assert not AuditEvent.objects.filter(action="test.inside").exists()
    assert record_event(action="test.after").seq == 2
    assert verify_audit_chain().ok


def test_empty_trail_verifies() -> None:
    report = verify_audit_chain()
    assert report.ok and report.checked == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_appenders_never_share_a_sequence_number() -> None:
    def append(worker: int) -> None:
        try:
            for i in range(15):
                record_event(action="test.concurrent", actor=f"w{worker}", details={"i": i})
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(append, range(4)))
    report = verify_audit_chain()
    assert report.ok, report
    assert report.checked == 60
