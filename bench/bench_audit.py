"""Audit trail append and chain-verify rates against a real database.

    .venv/bin/python -m bench.bench_audit [N]                      # SQLite (embedded)
    FEDERATION_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
        .venv/bin/python -m bench.bench_audit [N]                  # PostgreSQL (own temp database)
"""

from __future__ import annotations

import sys

from bench.common import django_node, header, rate


def main(count: int = 2000) -> None:
    with django_node() as vendor:
        from django.db import transaction

        from compliance.services import record_event, verify_audit_chain

        header(f"audit trail on {vendor}")

        def append_each_committed() -> None:
            for i in range(count):
                record_event(action="bench.append", actor="bench", subject=f"s{i}", details={"i": i, "peer": "x"})

        def append_in_one_transaction() -> None:
            with transaction.atomic():
                append_each_committed()

        rate("audit append, one commit per event", count, append_each_committed)
        rate("audit append, batched in one transaction", count, append_in_one_transaction)
        total = verify_audit_chain().checked
        rate(f"chain verify ({total} events)", total, lambda: _verify_ok(verify_audit_chain))


def _verify_ok(verify: object) -> None:
    report = verify()  # type: ignore[operator]
    assert report.ok, report


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
