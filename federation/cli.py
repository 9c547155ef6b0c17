"""The `federation` command line (also `python manage.py federation …`).

Every command takes `--home DIR` and `--json`. Exit codes: 0 success, 1 the operation found a
problem (a broken chain, an invalid manifest, a node that stopped), 2 bad input or configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2


class CommandError(Exception):
    def __init__(self, message: str, *, code: str = "error", exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code
        self.exit_code = exit_code


# --- output ----------------------------------------------------------------------------------


class Output:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def result(self, data: dict[str, Any], lines: Sequence[str]) -> None:
        if self.as_json:
            print(json.dumps(data, sort_keys=True, default=str), flush=True)
        else:
            print("\n".join(lines), flush=True)

    def error(self, message: str, code: str) -> None:
        if self.as_json:
            print(json.dumps({"error": {"code": code, "message": message}}), flush=True)
        print(f"error: {message}", file=sys.stderr, flush=True)


# --- environment before Django ----------------------------------------------------------------


def _option_value(argv: Sequence[str], name: str) -> str | None:
    for index, arg in enumerate(argv):
        if arg == name and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def bootstrap_env(argv: Sequence[str]) -> None:
    """Options that decide which settings load must reach the environment before Django does."""
    home = _option_value(argv, "--home")
    if home:
        os.environ["FEDERATION_HOME"] = str(Path(home).expanduser().resolve())
    if any(arg in ("run", "web", "setup") for arg in argv[:3]):
        for option, variable in (
            ("--port", "FEDERATION_PORT"),
            ("--host", "FEDERATION_HOST"),
            ("--federation-port", "FEDERATION_FEDERATION_PORT"),
        ):
            value = _option_value(argv, option)
            if value:
                os.environ[variable] = value
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "federation.settings")


def _django_setup() -> None:
    import django
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
    except ImproperlyConfigured as exc:
        raise CommandError(str(exc), code="bad_configuration") from exc


# --- commands --------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace, out: Output) -> int:
    from federation import home

    home_dir = home.default_home()
    modes = tuple(sorted({m.strip() for m in args.compliance.split(",") if m.strip()})) if args.compliance else ()
    try:
        if args.exist_ok and (home_dir / home.CONFIG_FILE).exists():
            identity = home.load_identity(home_dir)
            out.result(
                {"node_id": identity.node_id, "home": str(home_dir), "created": False},
                [f"{home_dir} is already node {identity.node_id}; nothing to do."],
            )
            return EXIT_OK
        result = home.init_home(
            home_dir,
            display_name=args.display_name,
            host=args.host,
            port=args.port,
            compliance_modes=modes,
            force=args.force,
        )
    except home.AlreadyInitialisedError as exc:
        raise CommandError(str(exc), code="already_initialised", exit_code=EXIT_PROBLEM) from exc
    except home.HomeError as exc:
        raise CommandError(str(exc), code="bad_home") from exc
    identity = result.identity
    data = {
        "node_id": identity.node_id,
        "home": str(home_dir),
        "created": True,
        "public_key": identity.public_key_raw.hex(),
        "tls_cert_fingerprint": identity.tls_fingerprint,
        "secret": "generated" if result.secret_generated else "provided",
        "archived_to": str(result.archived_to) if result.archived_to else None,
    }
    lines = [f"Initialised node {identity.node_id} in {home_dir}", f"  TLS certificate  {identity.tls_fingerprint}"]
    if result.secret_generated:
        lines.append(f"  key secret       generated in {home_dir / home.SECRET_FILE} (mode 0600) — back it up")
    if result.archived_to:
        lines.append(f"  previous identity archived in {result.archived_to}")
    lines.append(f"Next: federation run --home {home_dir}")
    out.result(data, lines)
    return EXIT_OK


def _require_initialised() -> Any:
    from django.conf import settings

    from federation import home

    try:
        return home.load_identity(Path(settings.FEDERATION_HOME))
    except home.HomeError as exc:
        raise CommandError(str(exc), code="not_ready") from exc


def _ensure_runtime_folders() -> None:
    """Folders under the home that any of web, worker or beat may be the first to need."""
    from django.conf import settings

    folders = [Path(settings.FEDERATION_HOME) / "run"]
    if settings.CELERY_BROKER_URL.startswith("filesystem"):  # the embedded broker is a directory tree
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        folders += [Path(options["data_folder_in"]), Path(options["processed_folder"])]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)


def _setup(verbosity: int = 0) -> dict[str, Any]:
    """Migrate, register this node and make sure someone can log in. Idempotent."""
    from django.conf import settings
    from django.core.management import call_command

    from federation import services

    identity = _require_initialised()
    Path(settings.STATIC_ROOT).mkdir(exist_ok=True)  # WhiteNoise serves collected files from here
    _ensure_runtime_folders()
    call_command("migrate", interactive=False, verbosity=verbosity)
    services.register_node(identity)
    created = services.ensure_admin_user(os.environ)
    _add_static_peers()
    return {"node_id": identity.node_id, "admin_created": created}


def _add_static_peers() -> None:
    """FEDERATION_STATIC_PEERS: best effort at start-up; a peer that is down is retried next time."""
    import logging

    from django.conf import settings

    from peers import services as peer_services

    for endpoint in settings.FEDERATION_STATIC_PEERS:
        try:
            peer_services.add_peer(endpoint=endpoint)
        except peer_services.PeerError as exc:
            logging.getLogger(__name__).warning("static peer %s not added: %s (%s)", endpoint, exc, exc.code)


def cmd_setup(args: argparse.Namespace, out: Output) -> int:
    from federation import services

    info = _setup(verbosity=0)
    services.current_manifest()
    admin = info["admin_created"]
    data = {
        "node_id": info["node_id"],
        "admin_user": admin[0] if admin else None,
        "admin_password": admin[1] if admin else None,
    }
    lines = [f"Node {info['node_id']} is set up (database migrated, node registered, manifest issued)."]
    if admin:
        lines.append(_admin_line(admin))
    out.result(data, lines)
    return EXIT_OK


def _admin_line(admin: tuple[str, str | None]) -> str:
    user, password = admin
    if password:
        return f"  admin login  user {user}  password {password}   (shown once: store it now)"
    return f"  admin login  user {user}  password from FEDERATION_ADMIN_PASSWORD"


def _wait_until_ready(base_url: str, supervisor: Any, timeout: float = 60.0) -> dict[str, Any]:
    """Wait for the web process, then fetch and verify our own manifest the way a peer would."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = next((n for n, p in supervisor.processes.items() if p.poll() is not None), None)
        if dead:
            raise CommandError(
                f"the {dead} process exited during start-up; see {supervisor.log_dir}/{dead}.log",
                code="start_failed",
                exit_code=EXIT_PROBLEM,
            )
        try:
            httpx.get(f"{base_url}/healthz", timeout=2.0)
            return _fetch_and_verify(f"{base_url}/.well-known/federation/manifest.json")
        except httpx.TransportError:
            time.sleep(0.3)
    raise CommandError(
        f"the web server did not answer on {base_url} within {timeout:.0f}s",
        code="start_timeout",
        exit_code=EXIT_PROBLEM,
    )


def cmd_run(args: argparse.Namespace, out: Output) -> int:
    from django.conf import settings
    from django.db import connections
    from django.utils import timezone

    from compliance.services import record_event
    from federation import runner, selectors

    home_dir = Path(settings.FEDERATION_HOME)
    if selectors.runner_state(home_dir):
        raise CommandError(f"a node is already running from {home_dir}", code="already_running", exit_code=EXIT_PROBLEM)
    info = _setup()
    parts = _components(info["node_id"])
    supervisor = runner.Supervisor(home=home_dir, parts=parts, stream_logs=args.logs)
    supervisor.install_signal_handlers()
    started_at = timezone.now()
    connections.close_all()  # children open their own; the supervisor holds no locks meanwhile
    supervisor.start(dict(os.environ))
    runner.write_run_state(
        home_dir,
        {
            "pid": os.getpid(),
            "started_at": started_at.isoformat(),
            "port": settings.FEDERATION_PORT,
            "node_id": info["node_id"],
        },
    )
    try:
        verified = _wait_until_ready(settings.FEDERATION_PUBLIC_URL, supervisor)
        record_event(
            action="node.started",
            actor="federation run",
            subject=info["node_id"],
            details={"port": settings.FEDERATION_PORT, "topology": settings.FEDERATION_TOPOLOGY},
        )
        base = settings.FEDERATION_PUBLIC_URL
        admin = info["admin_created"]
        data = {
            "event": "ready",
            "node_id": info["node_id"],
            "home": str(home_dir),
            "pid": os.getpid(),
            "admin_url": f"{base}/admin/",
            "admin_user": admin[0] if admin else None,
            "admin_password": admin[1] if admin else None,
            "manifest_url": verified["url"],
            "manifest_verified": True,
            "api_docs_url": f"{base}/api/docs/",
            "logs": str(supervisor.log_dir),
            "topology": settings.FEDERATION_TOPOLOGY,
        }
        lines = [
            f"Accord node {info['node_id']} is running ({settings.FEDERATION_TOPOLOGY} topology)",
            f"  admin        {base}/admin/",
            _admin_line(admin)
            if admin
            else "  admin login  the superuser created at first start (reset: python manage.py changepassword)",
            f"  manifest     {verified['url']}  (signature verified)",
            f"  API docs     {base}/api/docs/",
            f"  logs         {supervisor.log_dir}/",
            "Press Ctrl-C to stop.",
        ]
        out.result(data, lines)
        died = supervisor.wait()
    except BaseException:
        supervisor.stop()
        runner.clear_run_state(home_dir)
        raise
    codes = supervisor.stop()
    runner.clear_run_state(home_dir)
    record_event(
        action="node.stopped",
        actor="federation run",
        subject=info["node_id"],
        outcome="success" if died is None else "failure",
        details={"exit_codes": codes, "cause": f"{died} exited" if died else "signal"},
    )
    if died:
        out.error(
            f"the {died} process exited (code {codes[died]}); stopped the node. See {supervisor.log_dir}/{died}.log",
            "component_exited",
        )
        return EXIT_PROBLEM
    if not out.as_json:
        print("Node stopped.", flush=True)
    else:
        out.result({"event": "stopped", "node_id": info["node_id"], "exit_codes": codes}, [])
    return EXIT_OK


def _components(node_id: str) -> list[Any]:
    from django.conf import settings

    from federation import runner

    return runner.components(
        home=Path(settings.FEDERATION_HOME),
        host=settings.FEDERATION_HOST,
        port=settings.FEDERATION_PORT,
        federation_port=settings.FEDERATION_FEDERATION_PORT,
        queue=settings.FEDERATION_QUEUE,
        node_id=node_id,
        concurrency=settings.FEDERATION_WORKER_CONCURRENCY,
        embedded_broker=settings.CELERY_BROKER_URL.startswith("filesystem"),
        dnssd=settings.FEDERATION_DNSSD,
    )


def cmd_discovery(args: argparse.Namespace, out: Output) -> int:
    """Announce this node with DNS-SD and record the nodes announced nearby, until stopped."""
    import signal
    import threading

    from django.conf import settings

    from peers import dnssd

    identity = _require_initialised()
    agent = dnssd.Agent(
        info=dnssd.announcement(
            node_id=identity.node_id,
            host=settings.FEDERATION_HOST,
            port=settings.FEDERATION_PORT,
            federation_port=settings.FEDERATION_FEDERATION_PORT,
        ),
        interfaces=settings.FEDERATION_DNSSD_INTERFACES or None,
        on_found=dnssd.found_callback(),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    agent.start()
    out.result(
        {"event": "announcing", "service": dnssd.SERVICE_TYPE, "node_id": identity.node_id},
        [f"announcing {identity.node_id} as {dnssd.SERVICE_TYPE}; Ctrl-C stops"],
    )
    stop.wait()
    agent.close()
    return EXIT_OK


def _exec_component(name: str) -> int:
    identity = _require_initialised()
    _ensure_runtime_folders()
    parts = {part.name: part for part in _components(identity.node_id)}
    argv = parts[name].argv
    os.execv(argv[0], argv)  # noqa: S606 - replaces this process, as a container entry point should
    return EXIT_OK  # pragma: no cover


def cmd_web(args: argparse.Namespace, out: Output) -> int:
    _setup()
    return _exec_component("web")


def cmd_worker(args: argparse.Namespace, out: Output) -> int:
    return _exec_component("worker")


def cmd_beat(args: argparse.Namespace, out: Output) -> int:
    return _exec_component("beat")


def cmd_status(args: argparse.Namespace, out: Output) -> int:
    from federation import selectors

    _require_initialised()
    status = selectors.node_status(serving=False)
    checks = status["checks"]
    mark = {True: "ok", False: "FAIL"}
    uptime = f"{status['uptime_seconds']:.0f}s" if status["uptime_seconds"] is not None else "-"
    lines = [
        f"node        {status['node_id'] or '(not initialised)'}  {status['display_name'] or ''}",
        f"home        {status['home']}",
        f"running     {'yes' if status['running'] else 'no'}   uptime {uptime}   topology {status['topology']}",
        f"versions    accord {status['versions']['accord']}, protocol {', '.join(status['versions']['protocol'])}, "
        f"django {status['versions']['django']}, celery {status['versions']['celery']}",
    ]
    if status["sessions"] is not None:
        sessions = ", ".join(f"{count} {state}" for state, count in status["sessions"].items() if count) or "none"
        lines.append(f"peers       {status['peers']} known; sessions: {sessions}")
    for name, check in checks.items():
        detail = check.get("detail") or check.get("vendor") or check.get("transport") or ""
        lines.append(f"{name:<11} {mark[check['ok']]}  {detail}".rstrip())
    out.result(status, lines)
    return EXIT_PROBLEM if args.check and not status["healthy"] else EXIT_OK


def _peer_error(exc: Exception) -> CommandError:
    return CommandError(str(exc), code=getattr(exc, "code", "error"), exit_code=EXIT_PROBLEM)


def cmd_join(args: argparse.Namespace, out: Output) -> int:
    from peers import selectors, services

    _require_initialised()
    try:
        session = services.join_peer(endpoint=args.endpoint)
    except services.PeerError as exc:
        raise _peer_error(exc) from exc
    peer = selectors.describe_peer(session.peer)
    out.result(
        {"peer": peer, "session": selectors.describe_session(session)},
        [
            f"joined {peer['display_name'] or 'peer'} {peer['node_id']} — now {peer['trust_tier']}",
            f"  session {session.session_id} ({session.protocol_version}) until {session.expires_at:%Y-%m-%d %H:%M}Z",
        ],
    )
    return EXIT_OK


def cmd_leave(args: argparse.Namespace, out: Output) -> int:
    from peers import services

    _require_initialised()
    results = services.leave_federation(actor="cli")
    lines = [f"session with {r['peer']} ended ({r['notice']})" for r in results] or ["no live sessions"]
    out.result({"ended": results}, lines)
    return EXIT_OK


def cmd_peers_list(args: argparse.Namespace, out: Output) -> int:
    from peers import selectors

    peers = [selectors.describe_peer(p) for p in selectors.peers_with_live_sessions()]
    lines = []
    for peer in peers:
        session = peer["sessions"][0] if peer["sessions"] else None
        state = f"session {session['state']}" if session else "no session"
        flag = "" if peer["state"] == "active" else f" [{peer['state']}]"
        lines.append(f"{peer['node_id']}  {peer['trust_tier']:<10} {state:<18} {peer['display_name']}{flag}")
    out.result({"peers": peers}, lines or ["no peers"])
    return EXIT_OK


def cmd_peers_add(args: argparse.Namespace, out: Output) -> int:
    from peers import selectors, services

    _require_initialised()
    try:
        peer = services.add_peer(endpoint=args.endpoint)
    except services.PeerError as exc:
        raise _peer_error(exc) from exc
    described = selectors.describe_peer(peer)
    out.result(described, [f"added {described['node_id']} ({described['display_name']}) as {described['trust_tier']}"])
    return EXIT_OK


def cmd_peers_remove(args: argparse.Namespace, out: Output) -> int:
    from peers import services

    try:
        services.remove_peer(node_id=args.node_id, actor="cli")
    except services.PeerError as exc:
        raise CommandError(str(exc), code=exc.code) from exc
    out.result({"removed": args.node_id}, [f"removed {args.node_id}"])
    return EXIT_OK


def cmd_peers_discover(args: argparse.Namespace, out: Output) -> int:
    from peers import selectors, services

    _require_initialised()
    try:
        found = services.discover_from_registry(registry_url=args.registry)
    except services.PeerError as exc:
        raise _peer_error(exc) from exc
    peers = [selectors.describe_peer(p) for p in found]
    out.result(
        {"peers": peers},
        [f"{p['node_id']}  {p['trust_tier']}  {p['display_name']}" for p in peers]
        or ["the registry lists no valid manifests"],
    )
    return EXIT_OK


def cmd_manifest_publish(args: argparse.Namespace, out: Output) -> int:
    import httpx

    from federation import services

    _require_initialised()
    url = args.registry.rstrip("/")
    if not url.endswith("/api/v1/registry/manifests"):
        url += "/api/v1/registry/manifests"
    try:
        response = httpx.post(url, json=services.current_manifest(), timeout=10.0)
    except httpx.HTTPError as exc:
        raise CommandError(f"cannot reach {url}: {exc}", code="unreachable", exit_code=EXIT_PROBLEM) from exc
    if response.status_code != 201:
        raise CommandError(f"{url} refused the manifest: {response.text[:300]}", code="refused", exit_code=EXIT_PROBLEM)
    out.result(response.json(), [f"published to {url}"])
    return EXIT_OK


def cmd_audit_verify(args: argparse.Namespace, out: Output) -> int:
    import dataclasses

    from compliance.services import verify_audit_chain

    report = verify_audit_chain()
    if report.ok:
        lines = [f"audit chain intact: {report.checked} records, last #{report.last_seq}"]
    else:
        lines = [
            f"audit chain BROKEN at record #{report.first_bad_seq}: {report.reason}",
            f"({report.checked} records verified before it)",
        ]
    out.result(dataclasses.asdict(report), lines)
    return EXIT_OK if report.ok else EXIT_PROBLEM


def _fetch_limited(url: str) -> bytes:
    import httpx

    from federation import manifest

    with httpx.stream("GET", url, timeout=10.0, follow_redirects=False) as response:
        if response.status_code != 200:
            raise CommandError(
                f"{url} answered HTTP {response.status_code}", code="fetch_failed", exit_code=EXIT_PROBLEM
            )
        body = b""
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > manifest.MAX_MANIFEST_BYTES:
                raise CommandError(
                    f"{url} sent more than {manifest.MAX_MANIFEST_BYTES} bytes",
                    code="too_large",
                    exit_code=EXIT_PROBLEM,
                )
    return body


def _fetch_and_verify(target: str) -> dict[str, Any]:
    """Fetch (URL) or read (file, '-') a manifest and verify it. Raises CommandError(code=reason)."""
    import httpx

    from federation import manifest

    if target.startswith(("http://", "https://")):
        url = target if target.endswith(".json") else target.rstrip("/") + "/.well-known/federation/manifest.json"
        try:
            body = _fetch_limited(url)
        except httpx.HTTPError as exc:
            raise CommandError(f"cannot fetch {url}: {exc}", code="fetch_failed", exit_code=EXIT_PROBLEM) from exc
        source = url
    else:
        source = target
        try:
            if target == "-":
                body = sys.stdin.buffer.read(manifest.MAX_MANIFEST_BYTES + 1)
            else:
                with open(target, "rb") as handle:
                    body = handle.read(manifest.MAX_MANIFEST_BYTES + 1)
        except OSError as exc:
            raise CommandError(f"cannot read {target}: {exc.strerror}", code="unreadable") from exc
        if len(body) > manifest.MAX_MANIFEST_BYTES:
            raise CommandError(f"{target} is larger than {manifest.MAX_MANIFEST_BYTES} bytes", code="too_large")
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CommandError(f"{source} is not JSON: {exc}", code="malformed", exit_code=EXIT_PROBLEM) from exc
    try:
        verified = manifest.verify_manifest(document, now=dt.datetime.now(dt.UTC))
    except manifest.ManifestError as exc:
        raise CommandError(f"{source}: {exc}", code=exc.code, exit_code=EXIT_PROBLEM) from exc
    return {
        "url": source,
        "valid": True,
        "node_id": verified.node_id,
        "expires_at": document["expires_at"],
        "tls_cert_fingerprint": document["tls_cert_fingerprint"],
    }


def cmd_manifest_verify(args: argparse.Namespace, out: Output) -> int:
    result = _fetch_and_verify(args.target)
    out.result(result, [f"valid manifest of node {result['node_id']} (expires {result['expires_at']})"])
    return EXIT_OK


def cmd_manifest_show(args: argparse.Namespace, out: Output) -> int:
    from federation import services

    _require_initialised()
    document = services.current_manifest()
    out.result(document, [json.dumps(document, indent=2, sort_keys=True)])
    return EXIT_OK


def _user(username: str) -> Any:
    from django.contrib.auth import get_user_model

    try:
        return get_user_model().objects.get(username=username)
    except get_user_model().DoesNotExist as exc:
        raise CommandError(f"no user {username!r}", code="unknown_user") from exc


def cmd_token_create(args: argparse.Namespace, out: Output) -> int:
    from django.utils import timezone

    from federation import services

    user = _user(args.user)
    expires = timezone.now() + dt.timedelta(days=args.expires_days) if args.expires_days else None
    row, token = services.create_api_token(user=user, name=args.name, expires_at=expires)
    out.result(
        {
            "token": token,
            "prefix": row.prefix,
            "user": args.user,
            "name": row.name,
            "expires_at": expires.isoformat() if expires else None,
        },
        [token, f"(token {row.prefix} for {args.user}; shown once — only a keyed hash is stored)"],
    )
    return EXIT_OK


def cmd_token_list(args: argparse.Namespace, out: Output) -> int:
    from federation.models import ApiToken

    rows = list(ApiToken.objects.select_related("user").order_by("-created_at"))
    data = [
        {
            "prefix": r.prefix,
            "name": r.name,
            "user": r.user.get_username(),
            "active": r.is_active,
            "created_at": r.created_at.isoformat(),
            "expires_at": r.expires_at.isoformat() if r.expires_at else None,
            "last_used_at": r.last_used_at.isoformat() if r.last_used_at else None,
        }
        for r in rows
    ]
    lines = [
        f"{r['prefix']}  {r['name']:<20} {r['user']:<15} {'active' if r['active'] else 'inactive'}" for r in data
    ] or ["no API tokens"]
    out.result({"tokens": data}, lines)
    return EXIT_OK


def cmd_token_revoke(args: argparse.Namespace, out: Output) -> int:
    from federation import services
    from federation.models import ApiToken

    try:
        row = services.revoke_api_token(prefix=args.prefix, actor="cli")
    except ApiToken.DoesNotExist as exc:
        raise CommandError(f"no token with prefix {args.prefix!r}", code="unknown_token") from exc
    out.result(
        {"prefix": row.prefix, "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None},
        [f"token {row.prefix} revoked"],
    )
    return EXIT_OK


# --- parser ----------------------------------------------------------------------------------


# --- trust pins and messages --------------------------------------------------------------------


def cmd_trust(args: argparse.Namespace, out: Output) -> int:
    """Show why a peer has its score and tier; grant or revoke claims, pin, cap, approve."""
    from django.db import transaction

    from federation.capabilities import parse_tier
    from peers.models import Peer
    from trust import selectors, services

    if args.pin is not None and args.unpin:
        raise CommandError("--pin and --unpin exclude each other", code="bad_arguments")
    if args.cap is not None and args.uncap:
        raise CommandError("--cap and --uncap exclude each other", code="bad_arguments")
    if args.expires and not args.grant:
        raise CommandError("--expires goes with --grant", code="bad_arguments")
    if Peer.objects.filter(node_id=args.node_id).first() is None:
        raise CommandError(f"no peer {args.node_id}", code="unknown_peer", exit_code=EXIT_PROBLEM)
    # Every argument is checked before anything changes, and the changes are one transaction: a
    # command that fails leaves no claim granted, no pin set and no notice queued.
    try:
        pin = parse_tier(args.pin) if args.pin is not None else None
        cap = parse_tier(args.cap) if args.cap is not None else None
    except ValueError as exc:
        raise CommandError(str(exc), code="bad_tier") from exc
    if (pin is not None or cap is not None) and not (args.reason or "").strip():
        raise CommandError("--pin and --cap need --reason", code="reason_required")
    expires = _parse_expiry(args.expires) if args.expires else None
    try:
        with transaction.atomic():
            for claim in args.grant or []:
                services.issue_claim(node_id=args.node_id, claim_type=claim, expires_at=expires, actor="cli")
            for claim in args.revoke or []:
                services.revoke_claim(node_id=args.node_id, claim_type=claim, actor="cli")
            if args.pin is not None or args.unpin:
                services.pin(node_id=args.node_id, tier=pin, reason=args.reason or "", actor="cli")
            if args.cap is not None or args.uncap:
                services.set_cap(node_id=args.node_id, tier=cap, reason=args.reason or "", actor="cli")
            if args.approve:
                services.approve_privileged(node_id=args.node_id, actor="cli")
            if args.recompute:
                services.evaluate_one(args.node_id, trigger="operator")
    except services.TrustError as exc:
        raise CommandError(str(exc), code=exc.code) from exc
    described = selectors.describe_trust(Peer.objects.get(node_id=args.node_id))
    out.result(described, _trust_lines(described))
    return EXIT_OK


def _parse_expiry(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CommandError(f"--expires needs an ISO 8601 time, got {text!r}", code="bad_expiry") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _trust_lines(d: dict[str, Any]) -> list[str]:
    extra = [
        f"pinned ({d['pin_reason']})" if d["pinned_tier"] else "",
        f"capped at {d['tier_cap']}" if d["tier_cap"] else "",
    ]
    extra += [f"held: {d['held_for']}" if d["held_for"] else "", d["state"] if d["state"] != "active" else ""]
    score = "not evaluated" if d["score"] is None else f"score {d['score']:.3f}"
    lines = [
        f"{d['node_id']}  {d['trust_tier']} (earned {d['earned_tier']})  {score}  {d['interactions']} interactions"
        + "".join(f"  [{e}]" for e in extra if e)
    ]
    for name in ("success_rate", "uptime", "threat_penalty", "data_integrity"):
        entry = d["inputs"].get(name)
        if entry:
            evidence = ", ".join(f"{k} {v}" for k, v in entry.items() if k != "value")
            lines.append(f"  {name:<15} {entry['value']:.3f}  ({evidence})")
    lines.append(f"  reasons: {', '.join(d['reasons']) or 'none'}")
    for claim in d["claims"]:
        until = claim["expires_at"] or "until revoked"
        lines.append(f"  claim {claim['type']:<20} {claim['status']:<9} {until}")
    for entry in d["history"][:5]:
        change = f"{entry['tier_before']} → {entry['tier_after']}"
        lines.append(f"  {entry['at'][:19]}  {entry['score']:.3f}  {change}  {', '.join(entry['reasons'])}")
    return lines


def cmd_peers_state(args: argparse.Namespace, out: Output) -> int:
    """`peers suspend|evict|reactivate NODE_ID`: explicit, audited circuit-breaker actions."""
    from peers.models import Peer
    from trust import selectors, services

    action = args.peers_command
    try:
        if action == "evict":
            services.evict(node_id=args.node_id, reason=args.reason or "", actor="cli")
        elif action == "suspend":
            services.suspend(
                node_id=args.node_id,
                reason=args.reason or "suspended by an operator",
                actor="cli",
                minutes=args.minutes,
            )
        else:
            services.reactivate(node_id=args.node_id, reason=args.reason or "", actor="cli")
    except services.TrustError as exc:
        code = EXIT_PROBLEM if exc.code == "unknown_peer" else EXIT_USAGE
        raise CommandError(str(exc), code=exc.code, exit_code=code) from exc
    described = selectors.describe_trust(Peer.objects.get(node_id=args.node_id))
    out.result(
        described, [f"{args.node_id}  {described['state']}  {described['trust_tier']}  {described['state_reason']}"]
    )
    return EXIT_OK


def _payload(text: str) -> Any:
    """JSON given inline, or @file, or @- for stdin."""
    if text.startswith("@"):
        source = text[1:]
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {source}: {exc}", code="bad_payload") from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CommandError(f"the payload is not JSON: {exc}", code="bad_payload") from exc


def _messaging_error(exc: Exception) -> CommandError:
    code = getattr(exc, "code", "error")
    return CommandError(str(exc), code=code, exit_code=EXIT_PROBLEM if code != "INVALID_BUDGET" else EXIT_USAGE)


def _wait_final(message_ids: list[str], timeout: float) -> list[Any]:
    from messaging import services
    from messaging.models import DeliveryState, OutboxMessage

    def finished() -> list[Any] | None:
        rows = list(OutboxMessage.objects.select_related("peer").filter(message_id__in=message_ids))
        return rows if all(r.state != DeliveryState.QUEUED for r in rows) else None

    return services.wait_for(finished, timeout=timeout) or list(
        OutboxMessage.objects.select_related("peer").filter(message_id__in=message_ids)
    )


def cmd_send(args: argparse.Namespace, out: Output) -> int:
    from federation import envelope
    from messaging import selectors, services

    _require_initialised()
    if bool(args.node_id) == bool(args.broadcast):
        raise CommandError("give a peer's node id, or --broadcast (not both)", code="bad_arguments")
    try:
        draft = services.make_draft(
            message_type=args.type,
            payload=_payload(args.payload),
            max_hops=args.max_hops,
            max_tokens=args.max_tokens,
            max_usd=args.max_usd,
        )
        if args.broadcast:
            broadcast_id, results = services.broadcast(draft=draft, actor="cli")
            ids = [r.message.message_id for r in results if r.message]
        else:
            ids = [services.send(node_id=args.node_id, draft=draft, actor="cli").message_id]
    except (envelope.EnvelopeError, services.MessagingError) as exc:
        raise _messaging_error(exc) from exc
    if args.wait:
        rows = _wait_final(ids, args.timeout)
    else:
        from messaging.models import OutboxMessage

        rows = list(OutboxMessage.objects.select_related("peer").filter(message_id__in=ids))
    messages = [selectors.describe_outbox(row) for row in rows]
    data: dict[str, Any] = {"messages": messages}
    if args.broadcast:
        data["broadcast_id"] = broadcast_id
        data["skipped"] = [{"peer": r.node_id, "code": r.code, "reason": r.reason} for r in results if not r.message]
    lines = [f"{m['id']}  {m['type']} → {m['peer']}  {m['state']}" for m in messages]
    lines += [f"skipped {s['peer']}: {s['code']}" for s in data.get("skipped", [])]
    out.result(data, lines or ["no eligible peer"])
    # Waiting means "tell me it arrived": held for review, refused, dead-lettered or still queued is not.
    return EXIT_PROBLEM if args.wait and any(m["state"] != "delivered" for m in messages) else EXIT_OK


def cmd_query(args: argparse.Namespace, out: Output) -> int:
    from federation import envelope
    from messaging import selectors, services
    from messaging.models import InboxMessage

    _require_initialised()
    try:
        draft = services.make_draft(
            message_type="memory-query", payload={"query": args.query, "namespace": args.namespace or None}
        )
        sent = services.send(node_id=args.node_id, draft=draft, actor="cli")
    except (envelope.EnvelopeError, services.MessagingError) as exc:
        raise _messaging_error(exc) from exc
    from messaging.models import DeliveryState, OutboxMessage

    def answered_or_failed() -> Any:
        answer = selectors.reply_to(sent.message_id)
        failed = OutboxMessage.objects.filter(
            pk=sent.pk, state__in=(DeliveryState.REFUSED, DeliveryState.DEAD_LETTERED)
        ).exists()
        return answer or failed

    answer = services.wait_for(answered_or_failed, timeout=args.timeout)
    if not isinstance(answer, InboxMessage):
        final = _wait_final([sent.message_id], 0)[0]
        raise CommandError(
            f"no answer (query {sent.message_id} is {final.state}"
            f"{', ' + final.refusal_code if final.refusal_code else ''})",
            code=final.refusal_code or "no_answer",
            exit_code=EXIT_PROBLEM,
        )
    described = selectors.describe_inbox(answer)
    matches = described["payload"].get("matches", []) if isinstance(described["payload"], dict) else []
    lines = [f"{m['namespace']}/{m['key']} [{m['classification']}]: {json.dumps(m['value'])}" for m in matches]
    out.result({"query": sent.message_id, "answer": described}, lines or ["no matches"])
    return EXIT_OK


def cmd_inbox(args: argparse.Namespace, out: Output) -> int:
    from messaging import selectors
    from messaging.models import InboxMessage

    rows = InboxMessage.objects.select_related("peer")
    if args.type:
        rows = rows.filter(message_type=args.type)
    if args.status:
        rows = rows.filter(status=args.status)
    messages = [selectors.describe_inbox(m) for m in rows[: args.limit]]
    lines = [f"{m['id']}  {m['type']:<16} from {m['peer']}  {m['status']}  {m['received_at']}" for m in messages]
    out.result({"messages": messages, "count": rows.count()}, lines or ["the inbox is empty"])
    return EXIT_OK


def cmd_outbox(args: argparse.Namespace, out: Output) -> int:
    from messaging import selectors
    from messaging.models import OutboxMessage

    rows = OutboxMessage.objects.select_related("peer")
    if args.state:
        rows = rows.filter(state=args.state)
    if args.type:
        rows = rows.filter(message_type=args.type)
    messages = [selectors.describe_outbox(m) for m in rows[: args.limit]]
    lines = [
        f"{m['id']}  {m['type']:<16} to {m['peer']}  {m['state']}"
        + (f" ({m['refusal']['code']})" if m["refusal"] else f" {m['last_error']}" if m["last_error"] else "")
        for m in messages
    ]
    out.result({"messages": messages, "count": rows.count()}, lines or ["the outbox is empty"])
    return EXIT_OK


def cmd_outbox_requeue(args: argparse.Namespace, out: Output) -> int:
    from messaging import services

    count = services.requeue(message_ids=args.ids, actor="cli")
    out.result({"requeued": count}, [f"requeued {count} dead-lettered message(s)"])
    return EXIT_OK if count == len(args.ids) else EXIT_PROBLEM


def cmd_reply_or_forward(args: argparse.Namespace, out: Output) -> int:
    """`reply` answers a received message; `forward` passes it on. Both spend its budget."""
    from federation import envelope
    from messaging import selectors, services

    _require_initialised()
    spend = {"inbox_id": args.inbox_id, "actor": "cli", "spent_tokens": args.spent_tokens, "spent_usd": args.spent_usd}
    try:
        if args.command == "forward":
            sent = services.forward(node_id=args.node_id, **spend)
        else:
            sent = services.reply(payload=_payload(args.payload), **spend)
    except (envelope.EnvelopeError, services.MessagingError) as exc:
        raise _messaging_error(exc) from exc
    described = selectors.describe_outbox(sent)
    out.result(described, [f"{described['id']}  {described['type']} → {described['peer']}  {described['state']}"])
    return EXIT_OK


def cmd_pii_scan(args: argparse.Namespace, out: Output) -> int:
    """JSON lines in, JSON lines out (whatever --json says: the format is the contract)."""
    from compliance.services import record_event
    from federation.capabilities import parse_tier
    from pii import lines, services

    tier, hasher = None, None
    if args.redact:
        if args.tier is None:
            raise CommandError("--redact needs --tier (the policy of which tier to apply)", code="usage")
        try:
            tier = parse_tier(args.tier)
        except ValueError as exc:
            raise CommandError(str(exc), code="usage") from exc
        with contextlib.suppress(Exception):  # not initialised: HASH falls back to REDACT
            hasher = services.local_hasher()
    elif args.tier is not None:
        raise CommandError("--tier applies with --redact", code="usage")
    tally = lines.Tally()
    for result in lines.handle_lines(sys.stdin.buffer, tier=tier, hasher=hasher):
        sys.stdout.write(json.dumps(tally.add(result)) + "\n")
        sys.stdout.flush()
    record_event(action="pii.scanned", actor="cli", details={"redact": tier is not None, **tally.as_json()})
    return EXIT_OK


def _tier_actions(items: list[str], case: Callable[[str], str]) -> dict[int, str]:
    """``--set TIER=ACTION`` options as {tier number: action}; ValueError on a bad tier."""
    from federation.capabilities import parse_tier

    actions = {}
    for item in items:
        tier, _, action = item.partition("=")
        actions[parse_tier(tier)] = case(action.strip())
    return actions


def cmd_pii_policy(args: argparse.Namespace, out: Output) -> int:
    """List the policies, or change one type's threshold and actions (audited)."""
    from pii import services
    from pii.models import PiiPolicy

    if args.pii_type is None:
        if args.threshold is not None or args.set:
            raise CommandError("name the PII type to change", code="usage")
        policies = [services.describe_policy(p) for p in PiiPolicy.objects.all()]
        lines = [
            f"{p['type']:<15} {p['threshold']:.2f}  " + "  ".join(f"{t}={a}" for t, a in p["actions"].items())
            for p in policies
        ]
        out.result({"policies": policies}, lines)
        return EXIT_OK
    try:
        actions = _tier_actions(args.set, str.upper)
        policy = services.set_policy(pii_type=args.pii_type, threshold=args.threshold, actions=actions, actor="cli")
    except ValueError as exc:
        raise CommandError(str(exc), code="usage") from exc
    described = services.describe_policy(policy)
    out.result(described, [f"{k}: {v}" for k, v in described.items()])
    return EXIT_OK


def cmd_defence_scan(args: argparse.Namespace, out: Output) -> int:
    """JSON lines in, JSON lines out (whatever --json says: the format is the contract)."""
    from compliance.services import record_event
    from defence import lines, services
    from federation.capabilities import parse_tier

    try:
        tier = parse_tier(args.tier) if args.tier is not None else None
    except ValueError as exc:
        raise CommandError(str(exc), code="usage") from exc
    tally = lines.Tally()
    cfg = services.config()
    for result in lines.handle_lines(sys.stdin.buffer, cfg=cfg, tier=tier, explain=args.explain):
        sys.stdout.write(json.dumps(tally.add(result)) + "\n")
        sys.stdout.flush()
    details = {**({"tier": tier} if tier is not None else {}), **tally.as_json()}
    record_event(action="defence.scanned", actor="cli", details=details)
    return EXIT_OK


def cmd_defence_policy(args: argparse.Namespace, out: Output) -> int:
    """List the gate policies (threshold in force, action per tier), or change one category's."""
    from defence import services
    from defence.models import ThreatPolicy

    if args.category is not None:
        try:
            actions = _tier_actions(args.set, str.lower)
            services.set_policy(category=args.category, threshold=args.threshold, actions=actions, actor="cli")
        except ValueError as exc:
            raise CommandError(str(exc), code="usage") from exc
    elif args.threshold is not None or args.set:
        raise CommandError("name the category to change", code="usage")
    cfg = services.config()
    rows = ThreatPolicy.objects.all()
    policies = [services.describe_policy(p, cfg) for p in rows if args.category in (None, p.category)]
    text = [
        f"{p['category']:<20} {p['in_force']:.2f}  " + "  ".join(f"{t}={a}" for t, a in p["actions"].items())
        for p in policies
    ]
    out.result(policies[0] if args.category else {"policies": policies}, text)
    return EXIT_OK


def cmd_defence_held(args: argparse.Namespace, out: Output) -> int:
    """The quarantine queue: messages a gate held for an analyst."""
    from defence.models import HeldMessage, HoldStatus

    rows = HeldMessage.objects.select_related("detection").order_by("-held_at")
    if not args.all:
        rows = rows.filter(status=HoldStatus.HELD)
    held = [
        {
            "hold": h.pk,
            "direction": h.direction,
            "id": h.message_id,
            "type": h.message_type,
            "peer": h.node_id,
            "categories": h.detection.category_list,
            "score": h.detection.score,
            "status": h.status,
            "held_at": h.held_at.isoformat(),
        }
        for h in rows[: args.limit]
    ]
    text = [
        f"{h['hold']:>6}  {h['direction']:<8} {h['type']:<16} {h['peer'][:16]}  {' '.join(h['categories'])}"
        f"  {h['score']:.2f}  {h['status']}"
        for h in held
    ] or ["the quarantine is empty"]
    out.result({"held": held}, text)
    return EXIT_OK


def cmd_defence_decide(args: argparse.Namespace, out: Output) -> int:
    """Release or reject held messages (each decision audited)."""
    from defence import services

    release = args.defence_command == "release"
    decided = services.decide_held(held_ids=args.hold, release=release, actor="cli", note=args.note)
    out.result(
        {"decided": decided, "release": release}, [f"{'released' if release else 'rejected'} {decided} message(s)"]
    )
    return EXIT_OK if decided == len(set(args.hold)) else EXIT_PROBLEM  # some were not held


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", help="node home directory (default: $FEDERATION_HOME or ~/.accord)")
    common.add_argument("--json", action="store_true", help="machine-readable output")

    parser = argparse.ArgumentParser(
        prog="federation", parents=[common], description="Operate an Accord federation node."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, handler: Callable[[argparse.Namespace, Output], int], help_text: str, parent: Any = sub
    ) -> argparse.ArgumentParser:
        command = parent.add_parser(name, parents=[common], help=help_text, description=help_text)
        command.set_defaults(handler=handler)
        return command

    init = add("init", cmd_init, "create this node's identity, keys, certificate and config")
    init.add_argument("--display-name", default="", help="human name shown to peers")
    init.add_argument("--host", default="127.0.0.1", help="listen address recorded in config.toml")
    init.add_argument("--port", type=int, default=8000, help="web port recorded in config.toml")
    init.add_argument("--compliance", default="", help="comma-separated modes: gdpr, hipaa, soc2")
    init.add_argument("--force", action="store_true", help="replace an existing identity (the old one is archived)")
    init.add_argument("--exist-ok", action="store_true", help="succeed without change if already initialised")

    run = add("run", cmd_run, "run web, worker and beat for this node in the foreground (Ctrl-C stops)")
    run.add_argument("--port", type=int, help="web port (default from config.toml)")
    run.add_argument("--host", help="listen address (default from config.toml)")
    run.add_argument("--federation-port", type=int, help="mutual-TLS federation port (default: web port + 1)")
    run.add_argument("--logs", action="store_true", help="stream component logs here instead of HOME/logs/")

    setup = add("setup", cmd_setup, "migrate the database, register the node, create the first admin")
    setup.add_argument("--port", type=int, help=argparse.SUPPRESS)
    setup.add_argument("--host", help=argparse.SUPPRESS)
    web = add("web", cmd_web, "set up, then serve web + WebSockets with Daphne (one container's job)")
    web.add_argument("--port", type=int, help="web port (default from config.toml)")
    web.add_argument("--host", help="listen address (default from config.toml)")
    web.add_argument("--federation-port", type=int, help="mutual-TLS federation port (default: web port + 1)")
    add("worker", cmd_worker, "run the Celery worker in the foreground")
    add("beat", cmd_beat, "run Celery beat in the foreground")
    add("discovery", cmd_discovery, "announce this node with DNS-SD and record nodes announced nearby")
    status = add("status", cmd_status, "node id, versions, uptime and health of database, broker and worker")
    status.add_argument("--check", action="store_true", help="exit 1 unless every check passes (health probes)")

    join = add("join", cmd_join, "verify a peer's manifest, hand-shake over mutual TLS, hold a session")
    join.add_argument("endpoint", help="peer base URL (https://host:port) or its wss:// federation endpoint")
    add("leave", cmd_leave, "end every session gracefully (session-terminate to each peer)")
    peers = sub.add_parser("peers", parents=[common], help="known peers (lists them without an action)")
    peers.set_defaults(handler=cmd_peers_list)
    peers_sub = peers.add_subparsers(dest="peers_command", metavar="ACTION")
    add("list", cmd_peers_list, "list peers with trust tier and session", peers_sub)
    peers_add = add(
        "add", cmd_peers_add, "add a static peer from its base URL (UNTRUSTED until a handshake)", peers_sub
    )
    peers_add.add_argument("endpoint")
    peers_remove = add("remove", cmd_peers_remove, "forget a peer and its sessions", peers_sub)
    peers_remove.add_argument("node_id")
    discover = add("discover", cmd_peers_discover, "add every valid manifest listed by a registry", peers_sub)
    discover.add_argument("registry", help="base URL of a node hosting a registry")

    for action, text in (
        ("suspend", "suspend a peer: its traffic is refused until the cooldown ends or it is reactivated"),
        ("evict", "evict a peer: end its sessions, dead-letter what waits for it, refuse it until reactivated"),
        ("reactivate", "end a suspension, an eviction or a safety demotion (back to VERIFIED)"),
    ):
        state = add(action, cmd_peers_state, text, peers_sub)
        state.add_argument("node_id")
        state.add_argument("--reason", help="why (required to evict; audited)")
        if action == "suspend":
            state.add_argument("--minutes", type=int, help="cooldown (default FEDERATION_BREAKER_COOLDOWN_MINUTES)")

    trust = add("trust", cmd_trust, "why a peer has its score and tier; grant/revoke claims, pin, cap, approve")
    trust.add_argument("node_id")
    trust.add_argument(
        "--grant", action="append", metavar="CLAIM", help="issue a claim, e.g. federation:read (repeatable)"
    )
    trust.add_argument("--expires", metavar="ISO", help="expiry of the granted claims (default: until revoked)")
    trust.add_argument(
        "--revoke", action="append", metavar="CLAIM", help="revoke the peer's claims of this type (repeatable)"
    )
    trust.add_argument("--pin", metavar="TIER", help="UNTRUSTED, VERIFIED, ATTESTED, TRUSTED, PRIVILEGED or 0-4")
    trust.add_argument("--unpin", action="store_true", help="return to the earned tier")
    trust.add_argument("--cap", metavar="TIER", help="the earned tier never exceeds this one")
    trust.add_argument("--uncap", action="store_true", help="remove the cap")
    trust.add_argument("--reason", help="why (required with --pin and --cap; audited)")
    trust.add_argument("--approve", action="store_true", help="the human approval PRIVILEGED needs")
    trust.add_argument("--recompute", action="store_true", help="evaluate the peer now instead of at the next beat")

    send = add("send", cmd_send, "queue a message for a peer (or every eligible peer) and print its id")
    send.add_argument("node_id", nargs="?", help="the peer's node id (omit with --broadcast)")
    send.add_argument("--type", default="task-assignment", help="message type (default task-assignment)")
    send.add_argument("--payload", required=True, help="JSON, @file, or @- for stdin")
    send.add_argument("--max-hops", type=int, default=8, help="forwards allowed (0-64, default 8)")
    send.add_argument("--max-tokens", type=int, help="token budget over the whole hop chain")
    send.add_argument("--max-usd", type=float, help="spend budget in USD over the whole hop chain")
    send.add_argument("--broadcast", action="store_true", help="one envelope per eligible peer")
    send.add_argument("--wait", action="store_true", help="wait until delivered, refused or dead-lettered")
    send.add_argument("--timeout", type=float, default=30.0, help="seconds --wait waits (default 30)")

    query = add("query", cmd_query, "ask a peer's memory; prints what its tier lets us see")
    query.add_argument("node_id")
    query.add_argument("query", help="text to look for in keys and values ('' for everything)")
    query.add_argument("--namespace", help="only this namespace")
    query.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the answer")

    inbox = add("inbox", cmd_inbox, "messages peers delivered to this node, newest first")
    inbox.add_argument("--type", help="only this message type")
    inbox.add_argument("--status", choices=["new", "handled"])
    inbox.add_argument("--limit", type=int, default=50)

    outbox = add("outbox", cmd_outbox, "messages this node sends, with their delivery state")
    outbox.add_argument("--state", choices=["queued", "held", "delivered", "refused", "dead_lettered"])
    outbox.add_argument("--type", help="only this message type")
    outbox.add_argument("--limit", type=int, default=50)
    outbox_sub = outbox.add_subparsers(dest="outbox_command", metavar="ACTION")
    requeue = add("requeue", cmd_outbox_requeue, "give dead-lettered messages a fresh retry budget", outbox_sub)
    requeue.add_argument("ids", nargs="+")

    for name, help_text in (
        ("reply", "answer a received task-assignment (task-result) or memory-query"),
        ("forward", "pass a received message on to another peer, within its budget"),
    ):
        command = add(name, cmd_reply_or_forward, help_text)
        command.add_argument("inbox_id")
        if name == "forward":
            command.add_argument("node_id")
        else:
            command.add_argument("--payload", required=True, help="JSON, @file, or @- for stdin")
        command.add_argument("--spent-tokens", type=int, default=0, help="tokens this node spent on it")
        command.add_argument("--spent-usd", type=float, default=0.0, help="USD this node spent on it")

    pii = sub.add_parser("pii", parents=[common], help="the PII pipeline")
    pii_sub = pii.add_subparsers(dest="pii_command", required=True, metavar="ACTION")
    pii_scan = add(
        "scan",
        cmd_pii_scan,
        'read {"id", "text"} JSON lines on stdin; write each one\'s PII detections (or redacted text)',
        pii_sub,
    )
    pii_scan.add_argument("--redact", action="store_true", help="print the text transformed by a tier's policy")
    pii_scan.add_argument("--tier", help="with --redact: UNTRUSTED … PRIVILEGED or 0-4")
    pii_policy = add("policy", cmd_pii_policy, "list the PII policies, or change one type's", pii_sub)
    pii_policy.add_argument("pii_type", nargs="?", help="the type to change (omit to list all)")
    pii_policy.add_argument("--threshold", type=float, help="minimum confidence, 0-1")
    pii_policy.add_argument(
        "--set", action="append", default=[], metavar="TIER=ACTION", help="e.g. ATTESTED=HASH (repeatable)"
    )

    defence = sub.add_parser("defence", parents=[common], help="the AI-defence gates")
    defence_sub = defence.add_subparsers(dest="defence_command", required=True, metavar="ACTION")
    defence_scan = add(
        "scan",
        cmd_defence_scan,
        'read {"id", "text"} JSON lines on stdin; write each one\'s threat verdict',
        defence_sub,
    )
    defence_scan.add_argument("--tier", help="also say what the gate would do for a peer of this tier")
    defence_scan.add_argument("--explain", action="store_true", help="add the evidence spans and signals")
    defence_policy = add("policy", cmd_defence_policy, "list the gate policies, or change one category's", defence_sub)
    defence_policy.add_argument("category", nargs="?", help="the category to change (omit to list all)")
    defence_policy.add_argument("--threshold", type=float, help="minimum score, 0.05-1")
    defence_policy.add_argument(
        "--set", action="append", default=[], metavar="TIER=ACTION", help="e.g. TRUSTED=flag (repeatable)"
    )
    held = add("held", cmd_defence_held, "list the messages held in quarantine", defence_sub)
    held.add_argument("--all", action="store_true", help="released and rejected ones too")
    held.add_argument("--limit", type=int, default=100)
    for name, verb in (("release", "deliver"), ("reject", "refuse for good")):
        decide = add(name, cmd_defence_decide, f"{verb} held messages (by hold number)", defence_sub)
        decide.add_argument("hold", type=int, nargs="+", help="hold numbers from `federation defence held`")
        decide.add_argument("--note", default="", help="why (kept with the decision)")

    audit = sub.add_parser("audit", parents=[common], help="the audit trail")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    add("verify", cmd_audit_verify, "check the hash chain; name the first bad record", audit_sub)

    manifest = sub.add_parser("manifest", parents=[common], help="signed node manifests")
    manifest_sub = manifest.add_subparsers(dest="manifest_command", required=True, metavar="ACTION")
    add("show", cmd_manifest_show, "print this node's current signed manifest", manifest_sub)
    publish = add("publish", cmd_manifest_publish, "publish this node's manifest to a registry", manifest_sub)
    publish.add_argument("registry", help="base URL of a node hosting a registry")
    verify = add("verify", cmd_manifest_verify, "verify a manifest from a URL, a file or '-'", manifest_sub)
    verify.add_argument("target", help="peer base URL, manifest URL, file path, or - for stdin")

    token = sub.add_parser("token", parents=[common], help="REST API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = add("create", cmd_token_create, "create a token for a user (printed once)", token_sub)
    create.add_argument("--user", required=True)
    create.add_argument("--name", default="cli")
    create.add_argument("--expires-days", type=int, default=0, help="0 = no expiry")
    add("list", cmd_token_list, "list tokens (never their values)", token_sub)
    revoke = add("revoke", cmd_token_revoke, "revoke a token by prefix", token_sub)
    revoke.add_argument("prefix")
    return parser


NO_DJANGO = {"init", "manifest_verify"}
# Commands that only read or change this node's database: on a home that was never initialised
# they say so instead of failing on a missing table.
NEEDS_HOME = {
    "peers",
    "audit",
    "token",
    "trust",
    "inbox",
    "outbox",
    "pii",
    "defence",
}


def _with_database_errors(handler: Any, args: argparse.Namespace, out: Output) -> int:
    from django.db import DatabaseError

    try:
        return handler(args, out)
    except DatabaseError as exc:
        # Initialised but never set up (no tables yet), or the database is down: a clear line, not a trace.
        raise CommandError(
            f"the node's database is not ready ({str(exc).splitlines()[0]}); run `federation setup` "
            "or check FEDERATION_DATABASE_URL",
            code="not_ready",
        ) from exc


def main(argv: Sequence[str] | None = None) -> int:
    from federation import env

    argv = list(sys.argv[1:] if argv is None else argv)
    bootstrap_env(argv)
    args = build_parser().parse_args(argv)
    out = Output(args.json)
    key = args.command + (f"_{args.manifest_command}" if args.command == "manifest" else "")
    try:
        try:
            env.check_names(os.environ)
        except env.EnvError as exc:
            raise CommandError(str(exc), code="bad_configuration") from exc
        if key not in NO_DJANGO:
            _django_setup()
        if args.command in NEEDS_HOME:
            _require_initialised()
        return _with_database_errors(args.handler, args, out)
    except CommandError as exc:
        out.error(str(exc), exc.code)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
