"""The admin in a real browser (Debian's Chromium driven by Playwright) against a real node."""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_node_port
from tests.test_e2e_node import federation, read_json_line, start_node

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def running_node(node_env: dict[str, str]) -> Iterator[dict[str, Any]]:
    assert federation("init", "--display-name", "Browser node", env=node_env).returncode == 0
    port = free_node_port()
    proc = start_node(node_env, port)
    try:
        ready = read_json_line(proc, timeout=90)
        yield {**ready, "base": f"http://127.0.0.1:{port}"}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=40)


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (installed by .ci/run)")
def test_security_team_logs_in_sees_the_node_and_verifies_the_audit_chain(
    running_node: dict[str, Any], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{running_node['base']}/admin/")
        page.fill("#id_username", running_node["admin_user"])
        page.fill("#id_password", running_node["admin_password"])
        page.click("input[type=submit]")

        summary = page.locator("#node-summary")
        expect(summary).to_contain_text(running_node["node_id"])
        expect(summary).to_contain_text("Browser node")
        deadline = time.monotonic() + 30
        while summary.locator("td.accord-ok").count() < 3 and time.monotonic() < deadline:
            page.wait_for_timeout(1000)  # the worker's first heartbeat may still be on its way
            page.reload()
        expect(summary.locator("td.accord-ok")).to_have_count(3)  # database, broker, worker
        page.screenshot(path=str(tmp_path / "admin-home.png"), full_page=True)

        page.click("text=Audit events")
        expect(page.locator("#result_list")).to_contain_text("auth.login")
        page.click("text=Verify chain")
        expect(page.locator("#chain-result")).to_contain_text("Chain intact")

        page.goto(f"{running_node['base']}/admin/federation/signedmanifest/")
        page.locator("#result_list tbody th a").first.click()
        expect(page.locator("body")).to_contain_text("valid: signature, node id and validity window verified")

        # Memory that peers may query, written by hand; the outbox shows delivery states to filter by.
        page.goto(f"{running_node['base']}/admin/messaging/memoryentry/add/")
        page.fill("#id_namespace", "ops")
        page.fill("#id_key", "runbook")
        page.fill("#id_value", '"rotate keys monthly"')
        page.select_option("#id_classification", "internal")
        page.click("input[name=_save]")
        expect(page.locator("#result_list")).to_contain_text("runbook")
        expect(page.locator("#changelist-filter")).to_contain_text("internal")
        page.goto(f"{running_node['base']}/admin/messaging/outboxmessage/")
        expect(page.locator("#changelist-filter")).to_contain_text("dead-lettered")
        browser.close()
