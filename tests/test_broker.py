"""The embedded broker never lets a consumer see half a message (federation/broker.py)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Queue

TRANSPORT = "federation.broker:Transport"


def _options(tmp_path: Path) -> dict[str, Any]:
    folder = tmp_path / "queue"
    folder.mkdir(exist_ok=True)
    return {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(tmp_path / "control"),
        "store_processed": False,
        "polling_interval": 0.001,
    }


def _publish(transport: str, options: dict[str, Any], first: int, count: int) -> None:
    with Connection(transport=transport, transport_options=options) as conn:
        simple = conn.SimpleQueue(Queue("q", routing_key="q"))
        for number in range(first, first + count):
            simple.put({"n": number, "pad": "x" * 20000})  # big enough to take more than one write


@pytest.mark.parametrize("transport", [TRANSPORT])
def test_messages_published_by_other_processes_while_draining_arrive_whole(tmp_path: Path, transport: str) -> None:
    options, per_process, publishers = _options(tmp_path), 600, 3
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_publish, args=(transport, options, i * per_process, per_process))
        for i in range(publishers)
    ]
    for process in processes:
        process.start()
    received = []
    with Connection(transport=transport, transport_options=options) as conn:
        simple = conn.SimpleQueue(Queue("q", routing_key="q"))
        while len(received) < per_process * publishers:
            message = simple.get(timeout=20)  # a torn read raises here (JSONDecodeError)
            received.append(message.payload["n"])
            message.ack()
    for process in processes:
        process.join(timeout=30)
    assert sorted(received) == list(range(per_process * publishers))
    assert not list((tmp_path / "queue").glob(".*.partial"))
