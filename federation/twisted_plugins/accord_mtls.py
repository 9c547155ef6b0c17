"""Twisted endpoint plugin: `accordmtls:port=N:interface=ADDR` — the federation endpoint.

Found by Twisted's plugin system once `federation.serve` adds this folder to
`twisted.plugins.__path__`; Daphne then accepts it as an ordinary `-e` endpoint string.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IStreamServerEndpointStringParser
from twisted.plugin import IPlugin
from zope.interface import implementer


@implementer(IPlugin, IStreamServerEndpointStringParser)
class AccordMutualTLSParser:
    prefix = "accordmtls"

    def parseStreamServer(self, reactor: Any, *args: Any, port: str, interface: str = "127.0.0.1") -> Any:
        from federation.tls import endpoint_for_home

        return endpoint_for_home(reactor, int(port), interface)


accord_mutual_tls = AccordMutualTLSParser()
