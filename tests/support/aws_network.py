"""AWS's public endpoints, played on loopback for clients that cannot be pointed elsewhere.

Debian 12's AWS CLI v2 (2.9) and Go SDK v2 (1.17) predate ``AWS_ENDPOINT_URL_STS``: they call
``https://sts.<region>.amazonaws.com`` whatever the test wants. They do honour ``HTTPS_PROXY``
and ``AWS_CA_BUNDLE``, as they must on a corporate network, so this is such a network: an
HTTP CONNECT proxy that terminates TLS for any ``*.amazonaws.com`` host with a certificate from
its own throwaway CA, then forwards each plain HTTP request to the local STS. The client's own
endpoint resolution, TLS verification and signing all run unchanged.
"""

from __future__ import annotations

import datetime
import http.client
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MAX_BODY = 1 << 20
_HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class _Ca:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("gcp2aws test network CA"))
            .issuer_name(_name("gcp2aws test network CA"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, key_cert_sign=True, crl_sign=True,
                    content_commitment=False, key_encipherment=False, data_encipherment=False,
                    key_agreement=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )  # fmt: skip
        self.bundle = workdir / "ca.pem"
        self.bundle.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def context_for(self, host: str) -> ssl.SSLContext:
        with self._lock:
            if host not in self._contexts:
                self._contexts[host] = self._issue(host)
            return self._contexts[host]

    def _issue(self, host: str) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(host))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        chain = self.workdir / f"{host}.pem"
        chain.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            + cert.public_bytes(serialization.Encoding.PEM)
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain)
        return context


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    network: AwsNetwork


class _Forward(BaseHTTPRequestHandler):
    """The decrypted HTTP inside one tunnel, each request forwarded to the local STS."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.send_error(413)
            return
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
        upstream = http.client.HTTPConnection(*self.server.network.upstream, timeout=30)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            reply = upstream.getresponse()
            payload = reply.read(MAX_BODY)
        finally:
            upstream.close()
        self.send_response(reply.status, reply.reason)
        for name, value in reply.getheaders():
            if name.lower() not in _HOP_HEADERS | {"date", "server"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _forward


class _Connect(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_CONNECT(self) -> None:
        host = self.path.rpartition(":")[0]
        network = self.server.network
        if not host.endswith(".amazonaws.com"):
            self.send_error(403, "this test network plays only *.amazonaws.com")
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        network.hosts.append(host)
        tls = network.ca.context_for(host).wrap_socket(self.connection, server_side=True)
        _Forward(tls, self.client_address, self.server)
        self.close_connection = True


class AwsNetwork:
    """``with AwsNetwork(sts_url, workdir) as net:`` then ``net.environ()`` for the client."""

    def __init__(self, sts_url: str, workdir: Path) -> None:
        parts = urlsplit(sts_url)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.ca = _Ca(workdir)
        self.hosts: list[str] = []
        self._server = _Server(("127.0.0.1", 0), _Connect)
        self._server.network = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def environ(self) -> dict[str, str]:
        """What a client on this network is given: the proxy, and the CA that signs AWS."""
        return {
            "HTTPS_PROXY": self.proxy_url,
            "https_proxy": self.proxy_url,
            "NO_PROXY": "127.0.0.1,localhost,::1",
            "no_proxy": "127.0.0.1,localhost,::1",
            "AWS_CA_BUNDLE": str(self.ca.bundle),
        }

    def __enter__(self) -> AwsNetwork:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
