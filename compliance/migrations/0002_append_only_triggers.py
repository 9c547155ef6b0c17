"""Database-level guard for the audit trail, under the ORM-level one in compliance.models.

PostgreSQL refuses UPDATE and DELETE on audit rows. SQLite refuses UPDATE only: Django's test
flush empties tables with DELETE there, and the hash chain still exposes any removed record.
"""

from django.db import migrations

PG_UP = """
CREATE OR REPLACE FUNCTION compliance_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit trail is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER compliance_auditevent_append_only
    BEFORE UPDATE OR DELETE ON compliance_auditevent
    FOR EACH ROW EXECUTE FUNCTION compliance_audit_append_only();
"""
PG_DOWN = """
DROP TRIGGER IF EXISTS compliance_auditevent_append_only ON compliance_auditevent;
DROP FUNCTION IF EXISTS compliance_audit_append_only();
"""
SQLITE_UP = """
CREATE TRIGGER compliance_auditevent_no_update BEFORE UPDATE ON compliance_auditevent
BEGIN SELECT RAISE(ABORT, 'audit trail is append-only (UPDATE refused)'); END;
"""
SQLITE_DOWN = "DROP TRIGGER IF EXISTS compliance_auditevent_no_update;"


def _run(sql_by_vendor):
    def apply(apps, schema_editor):
        sql = sql_by_vendor.get(schema_editor.connection.vendor)
        if sql:
            schema_editor.execute(sql, params=None)  # PL/pgSQL uses % itself
    return apply


class Migration(migrations.Migration):
    dependencies = [("compliance", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": PG_UP, "sqlite": SQLITE_UP}),
            _run({"postgresql": PG_DOWN, "sqlite": SQLITE_DOWN}),
        )
    ]
