"""End-to-end delivery between two real nodes on loopback: messages/s and latency.

    .venv/bin/python -m bench.bench_delivery [RATE] [SECONDS]
    FEDERATION_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
    FEDERATION_REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python -m bench.bench_delivery

Starts two nodes with `federation run` (embedded topology, or PostgreSQL + Redis when the
variables above are set: each node gets its own temporary database), joins them, pins each
other ATTESTED with the write claim tasks need, then queues task-assignments on the sender at RATE
per second for 2 s of warm-up (not measured) and then SECONDS with
the same service the REST API calls (`messaging.services.send`, in this process, against the
sender's database), and waits until every message is delivered. Latency is from the outbox
row's commit to the receiver's inbox row (same machine clock), and to the sender's ack.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import header

REPO = Path(__file__).resolve().parent.parent
SERVER_URL = os.environ.get("FEDERATION_DATABASE_URL", "")  # before this process adopts the sender's
WARMUP_SECONDS = 2
TICK = 0.01  # the producer queues what is due every 10 ms (an agent runtime flushing its sends)


def _free_port_pair() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        with socket.socket() as other:
            try:
                other.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def _database(name: str) -> str | None:
    url = SERVER_URL
    if not url.startswith("postgres"):
        return None
    import psycopg

    database = f"accord_bench_{name}_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    return url.rsplit("/", 1)[0] + "/" + database


def _cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "federation.cli", *args, "--json"], env=env, capture_output=True, text=True, cwd=REPO
    )
    if done.returncode != 0:
        raise SystemExit(f"federation {' '.join(args)} failed: {done.stdout} {done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


class Node:
    def __init__(self, workdir: Path, name: str) -> None:
        self.port = _free_port_pair()
        self.database = _database(name)
        self.env = {
            **os.environ,
            "FEDERATION_HOME": str(workdir / name),
            "FEDERATION_SECRET_KEY": secrets.token_urlsafe(32),
            "FEDERATION_ADMIN_PASSWORD": "bench-admin-password",
        }
        if self.database:
            self.env["FEDERATION_DATABASE_URL"] = self.database
        self.node_id = _cli(self.env, "init", "--display-name", name, "--port", str(self.port))["node_id"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "federation.cli", "run", "--json", "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=REPO,
        )
        assert self.proc.stdout is not None
        ready = json.loads(self.proc.stdout.readline())
        if ready.get("event") != "ready":
            raise SystemExit(f"node {name} did not start: {ready}")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        if self.database:
            import psycopg
            from django.db import connections

            connections.close_all()
            with psycopg.connect(SERVER_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database.rsplit("/", 1)[1]}" WITH (FORCE)')


def _received_at(node: Node) -> dict[str, dt.datetime]:
    """The receiver's inbox, read straight from its database."""
    query = "SELECT message_id, received_at FROM messaging_inboxmessage"
    if node.database:
        import psycopg

        with psycopg.connect(node.database) as conn:
            return dict(conn.execute(query).fetchall())
    import sqlite3

    with sqlite3.connect(Path(node.env["FEDERATION_HOME"]) / "db.sqlite3") as conn:
        return {
            message_id: dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
            for message_id, value in conn.execute(query)
        }


def _quantiles(values: list[float]) -> str:
    cuts = statistics.quantiles(values, n=100)
    return f"p50 {cuts[49]:7.1f} ms   p99 {cuts[98]:7.1f} ms   max {max(values):7.1f} ms"


def main(per_second: int = 500, seconds: int = 20) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="accord-bench-"))
    topology = "PostgreSQL + Redis" if os.environ.get("FEDERATION_DATABASE_URL") else "embedded (SQLite)"
    header(f"end-to-end delivery, {topology}: {per_second} msg/s offered for {seconds} s")
    sender, receiver = Node(workdir, "sender"), Node(workdir, "receiver")
    try:
        _cli(sender.env, "join", receiver.base)
        tasks = ("--pin", "ATTESTED", "--reason", "bench", "--grant", "federation:write")  # tier AND claim
        _cli(sender.env, "trust", receiver.node_id, *tasks)
        _cli(receiver.env, "trust", sender.node_id, *tasks)

        os.environ.update({k: v for k, v in sender.env.items() if k.startswith("FEDERATION_")})
        os.environ["DJANGO_SETTINGS_MODULE"] = "federation.settings"
        import django

        django.setup()
        from messaging import services
        from messaging.models import DeliveryState, OutboxMessage
        from messaging.warmup import warm_up

        warm_up()  # this process stands in for the web process, which warms up before it listens

        warmup = per_second * WARMUP_SECONDS
        total = warmup + per_second * seconds
        started = time.perf_counter()
        queued = 0
        while queued < total:  # every TICK, queue what is due since the last tick, in one transaction
            due = min(total, int((time.perf_counter() - started) * per_second) + 1, queued + 500)
            if due > queued:
                drafts = [
                    (
                        receiver.node_id,
                        services.make_draft(message_type="task-assignment", payload={"n": n, "task": "bench"}),
                    )
                    for n in range(queued, due)
                ]
                services.send_many(items=drafts, actor="bench")
                queued = due
            time.sleep(TICK)
        offered = total / (time.perf_counter() - started)
        deadline = time.monotonic() + 120
        while OutboxMessage.objects.filter(state=DeliveryState.DELIVERED).count() < total:
            if time.monotonic() > deadline:
                raise SystemExit("not everything was delivered within 120 s")
            time.sleep(0.2)

        # The first WARMUP_SECONDS (connections opening, first task pick-up) are not measured.
        rows = list(OutboxMessage.objects.order_by("id").values_list("message_id", "created_at", "delivered_at"))
        rows = rows[warmup:]
        received = _received_at(receiver)
        to_inbox = [(received[m] - created).total_seconds() * 1000 for m, created, _ in rows]
        to_ack = [(delivered - created).total_seconds() * 1000 for _, created, delivered in rows]
        first = min(created for _, created, _ in rows)
        last = max(received[m] for m, _, _ in rows)
        print(f"{'queued by the producer':<34} {offered:8.0f} msg/s")
        print(f"{'delivered end to end (sustained)':<34} {len(rows) / (last - first).total_seconds():8.0f} msg/s")
        print(f"{'send -> stored in the inbox':<34} {_quantiles(to_inbox)}")
        print(f"{'send -> acknowledged to the sender':<34} {_quantiles(to_ack)}")
        retried = Counter(OutboxMessage.objects.filter(attempts__gt=1).values_list("last_error", flat=True))
        print(f"{'messages that needed a retry':<34} {sum(retried.values()):8d}  {dict(retried) or ''}")
    finally:
        sender.stop()
        receiver.stop()


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
