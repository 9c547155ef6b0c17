"""DNS-SD discovery on the local network: announce `_accord._tcp` and record what others announce.

An announcement is only a hint: each one found is turned into a manifest fetch and a full
verification (peers.services.add_peer), and the peer is recorded UNTRUSTED like any other.
Runs as its own process (`federation discovery`), started by `federation run` when
FEDERATION_DNSSD is on.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from zeroconf import IPVersion, ServiceBrowser, ServiceInfo, ServiceStateChange, Zeroconf

SERVICE_TYPE = "_accord._tcp.local."
log = logging.getLogger(__name__)


def announcement(*, node_id: str, host: str, port: int, federation_port: int) -> ServiceInfo:
    address = host if host not in ("0.0.0.0", "", "::") else "127.0.0.1"  # noqa: S104 - a wildcard, not a bind
    return ServiceInfo(
        SERVICE_TYPE,
        f"{node_id}.{SERVICE_TYPE}",
        addresses=[ipaddress.ip_address(address).packed],
        port=port,
        properties={
            "node_id": node_id,
            "manifest": "/.well-known/federation/manifest.json",
            "federation_port": str(federation_port),
            "protocol": "accord/1",
        },
        server=f"{node_id}.local.",
    )


class Agent:
    """Announces this node and calls `on_found(base_url)` for every other node announced."""

    def __init__(self, *, info: ServiceInfo, interfaces: list[str] | None, on_found: Callable[[str], None]) -> None:
        chosen: dict[str, Any] = {"interfaces": interfaces} if interfaces else {}  # default: all interfaces
        self._zeroconf = Zeroconf(ip_version=IPVersion.V4Only, **chosen)
        self._info = info
        self._on_found = on_found
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        self._zeroconf.register_service(self._info)
        ServiceBrowser(self._zeroconf, SERVICE_TYPE, handlers=[self._changed])

    def _changed(self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is not ServiceStateChange.Added or name == self._info.name:
            return
        info = zeroconf.get_service_info(service_type, name, timeout=3000)
        if info is None or not info.parsed_addresses():
            return
        base_url = f"http://{info.parsed_addresses()[0]}:{info.port}"
        with self._lock:
            if base_url in self._seen:
                return
            self._seen.add(base_url)
        threading.Thread(target=self._on_found, args=(base_url,), daemon=True).start()

    def close(self) -> None:
        self._zeroconf.unregister_service(self._info)
        self._zeroconf.close()


# A node announces itself as its web process starts, so the first fetch of its manifest may find
# nothing listening yet; and a network hiccup should not lose a neighbour for good.
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
TRANSIENT = frozenset({"unreachable", "fetch_failed"})


def found_callback(
    *, delays: tuple[float, ...] = RETRY_DELAYS, sleep: Callable[[float], None] = time.sleep
) -> Callable[[str], None]:
    """Record a node found on the network, through the same checks as any static peer; retry
    while it cannot be reached (about a minute by default), never when its manifest is bad."""
    from django.db import close_old_connections

    from peers import services
    from peers.models import DiscoveredVia

    def record(base_url: str) -> None:
        for attempt in range(len(delays) + 1):
            try:
                peer = services.add_peer(endpoint=base_url, via=DiscoveredVia.DNSSD)
                log.info("DNS-SD: recorded %s at %s", peer.node_id, base_url)
                return
            except services.PeerError as exc:
                if exc.code not in TRANSIENT or attempt == len(delays):
                    log.info("DNS-SD: %s not recorded: %s (%s)", base_url, exc, exc.code)
                    return
                log.info("DNS-SD: %s not reachable yet (%s); next try in %.0f s", base_url, exc.code, delays[attempt])
            finally:
                close_old_connections()
            sleep(delays[attempt])

    return record
