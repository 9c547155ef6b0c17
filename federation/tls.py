"""Mutual TLS for the federation endpoint, served by Daphne through a Twisted endpoint.

Peers have no common CA: each presents its self-signed certificate and the other side pins it
against the fingerprint in the peer's signed manifest. So the TLS layer here *requires* a client
certificate (TLS 1.3 only) but accepts any well-formed one; the application compares its
fingerprint with the pin. Daphne does not put the client certificate into the ASGI scope, so
the endpoint records each connection's certificate fingerprint by its peer address, and the
consumer looks it up by `scope["client"]` — same process, same connection, no header a client
could forge.
"""

from __future__ import annotations

import hashlib
import ssl as stdlib_ssl
import threading
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL
from OpenSSL import crypto as ossl_crypto
from twisted.internet import endpoints, interfaces, ssl
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory, Protocol
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.protocols.tls import TLSMemoryBIOFactory
from zope.interface import directlyProvides, implementer, providedBy

from federation import crypto, home

_lock = threading.Lock()
_peer_fingerprints: dict[tuple[str, int], str] = {}


NO_CERTIFICATE = ""


def peer_fingerprint(client: Any) -> str | None:
    """Fingerprint of the client certificate on the live mutual-TLS connection from `client`
    (host, port); NO_CERTIFICATE if it presented none; None if it is not such a connection."""
    if not client:
        return None
    with _lock:
        return _peer_fingerprints.get((str(client[0]), int(client[1])))


def fingerprint_der(der: bytes) -> str:
    return "sha256:" + hashlib.sha256(der).hexdigest()


class _AcceptAnyClientCertificate(ssl.CertificateOptions):
    """TLS 1.3 only. A client certificate is requested and any well-formed one accepted: the
    consumer refuses connections without one (so the refusal is audited, which a TLS alert
    could not be), and trust is decided by the pin."""

    _verify_configured = False

    def getContext(self) -> SSL.Context:
        context = super().getContext()  # built once, then cached by Twisted
        if not self._verify_configured:  # a context cannot change once it made a connection
            context.set_verify(
                SSL.VERIFY_PEER | SSL.VERIFY_CLIENT_ONCE,
                lambda connection, certificate, errno, depth, ok: True,
            )
            self._verify_configured = True
        return context


def server_options(identity: home.NodeIdentity) -> ssl.CertificateOptions:
    return _AcceptAnyClientCertificate(
        privateKey=ossl_crypto.PKey.from_cryptography_key(identity.tls_key),
        certificate=ossl_crypto.X509.from_cryptography(identity.certificate),
        raiseMinimumTo=ssl.TLSVersion.TLSv1_3,
    )


class _RecordPeerCertificate(ProtocolWrapper):
    """Sits on top of TLS: once application data flows the handshake is done, so the peer's
    certificate is known; remember it for the consumer, forget it when the connection ends."""

    _key: tuple[str, int] | None = None

    def makeConnection(self, transport: Any) -> None:
        # Present the TLS transport's interfaces minus ISSLTransport: autobahn reads TLS channel
        # details only from Twisted's own TLS protocol class and fails on any wrapper that claims
        # TLS. The pin is checked through this wrapper instead, so nothing is lost.
        directlyProvides(self, *(i for i in providedBy(transport) if not i.isOrExtends(interfaces.ISSLTransport)))
        # Batches and their acknowledgements are request/response: without TCP_NODELAY, Nagle's
        # algorithm meets the peer's delayed ACK and parks the tail of a frame for ~40 ms.
        tcp = getattr(transport, "transport", None)
        if hasattr(tcp, "setTcpNoDelay"):
            tcp.setTcpNoDelay(True)
        Protocol.makeConnection(self, transport)
        self.factory.registerProtocol(self)
        self.wrappedProtocol.makeConnection(self)

    def dataReceived(self, data: bytes) -> None:
        if self._key is None:
            peer = self.transport.getPeer()
            certificate = self.transport.getPeerCertificate()
            self._key = (peer.host, peer.port)
            fingerprint = (
                fingerprint_der(certificate.to_cryptography().public_bytes(Encoding.DER))
                if certificate is not None
                else NO_CERTIFICATE
            )
            with _lock:
                _peer_fingerprints[self._key] = fingerprint
        super().dataReceived(data)

    def connectionLost(self, reason: Any) -> None:
        if self._key is not None:
            with _lock:
                _peer_fingerprints.pop(self._key, None)
        super().connectionLost(reason)


class _RecordingFactory(WrappingFactory):
    protocol = _RecordPeerCertificate


@implementer(interfaces.IStreamServerEndpoint)
class MutualTLSServerEndpoint:
    def __init__(self, reactor: Any, port: int, interface: str, options: ssl.CertificateOptions) -> None:
        self._tcp = endpoints.TCP4ServerEndpoint(reactor, port, interface=interface)
        self._options = options

    def listen(self, factory: Factory) -> Deferred[Any]:
        return self._tcp.listen(TLSMemoryBIOFactory(self._options, False, _RecordingFactory(factory)))


def endpoint_for_home(reactor: Any, port: int, interface: str) -> MutualTLSServerEndpoint:
    identity = home.load_identity(home.default_home())
    return MutualTLSServerEndpoint(reactor, port, interface, server_options(identity))


def client_context(identity: home.NodeIdentity) -> stdlib_ssl.SSLContext:
    """TLS 1.3 client context presenting our certificate. The server's certificate is not
    checked against a CA (there is none between organisations): callers pin its fingerprint."""
    secret = home.load_secret(identity.home)
    if secret is None:
        raise home.SecretError("no node secret to open the TLS key")
    context = stdlib_ssl.SSLContext(stdlib_ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = stdlib_ssl.TLSVersion.TLSv1_3
    context.check_hostname = False
    context.verify_mode = stdlib_ssl.CERT_NONE
    context.load_cert_chain(
        str(identity.home / home.TLS_CERT_FILE),
        str(identity.home / home.TLS_KEY_FILE),
        password=crypto.derive_subkey(secret, "key-encryption"),
    )
    return context
