"""Shared helpers for the benchmarks: timing, and a throwaway node with a real database."""

from __future__ import annotations

import contextlib
import os
import platform
import secrets
import statistics
import time
from collections.abc import Callable, Iterator


def rate(label: str, count: int, run: Callable[[], None], repeats: int = 3) -> float:
    """Best-of-`repeats` throughput of `run`, which performs `count` operations."""
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    best = min(timings)
    per_second = count / best
    median = statistics.median(timings)
    print(f"{label:<44} {per_second:>12,.0f} /s   ({count} ops, best of {repeats}, median {median:.3f}s)")
    return per_second


def header(title: str) -> None:
    print(f"# {title}")
    print(f"# python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpu(s)")


@contextlib.contextmanager
def django_node() -> Iterator[str]:
    """A throwaway initialised node; PostgreSQL if FEDERATION_DATABASE_URL points there."""
    url = os.environ.get("FEDERATION_DATABASE_URL", "")
    database = None
    if url.startswith("postgres"):
        import psycopg

        database = f"accord_bench_{secrets.token_hex(4)}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        os.environ["FEDERATION_DATABASE_URL"] = url.rsplit("/", 1)[0] + "/" + database
    import federation.testing  # noqa: F401 - creates and selects a temporary node home

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "federation.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from django.db import connection

    try:
        yield connection.vendor
    finally:
        connection.close()
        if database:
            import psycopg

            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
