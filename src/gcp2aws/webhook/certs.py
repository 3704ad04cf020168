"""The webhook's TLS: a CA and serving certificate for ``webhook manifests``, and a server
context that follows the certificate files as cert-manager or a Secret update rewrites them.
"""

from __future__ import annotations

import datetime
import logging
import os
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("gcp2aws.webhook")

CA_DAYS = 3650
SERVING_DAYS = 825  # the longest lifetime clients still accept for a leaf certificate
RECHECK_SECONDS = 1.0  # how often a new connection may stat the files


@dataclass(frozen=True)
class Bundle:
    """PEM text of a fresh CA and of a serving certificate it signed."""

    ca_cert: str
    cert: str
    key: str


def generate(dns_names: list[str], *, now: datetime.datetime | None = None) -> Bundle:
    """A CA (its key thrown away) and a serving certificate for ``dns_names``, both EC P-256."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    start = (now or datetime.datetime.now(datetime.timezone.utc)) - datetime.timedelta(hours=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gcp2aws-webhook-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=SERVING_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return Bundle(
        ca_cert=ca.public_bytes(pem).decode(),
        cert=leaf.public_bytes(pem).decode(),
        key=key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
    )


class ReloadingContext:
    """An ``SSLContext`` for the current certificate files, rebuilt when they change.

    A Secret mounted in a Pod is updated by swapping a symlink, so the certificate and the key
    change together; a pair that does not load (a half-done manual copy) keeps the previous
    context in service and is tried again at the next check.
    """

    def __init__(
        self,
        cert_file: str,
        key_file: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_reload: Callable[[str], None] | None = None,
    ) -> None:
        self._cert_file, self._key_file = cert_file, key_file
        self._clock = clock
        self._on_reload = on_reload or (lambda _result: None)
        self._lock = threading.Lock()
        self._stamp: tuple[tuple[int, int, int, int], ...] = ()
        self._checked = float("-inf")
        self._context = self._load()  # the first load must succeed: raise if it does not
        self._stamp = self._current_stamp()

    def context(self) -> ssl.SSLContext:
        with self._lock:
            now = self._clock()
            if now - self._checked < RECHECK_SECONDS:
                return self._context
            self._checked = now
            stamp = self._current_stamp()
            if stamp == self._stamp:
                return self._context
            try:
                self._context = self._load()
            except (OSError, ssl.SSLError, ValueError) as exc:
                log.warning(
                    "keeping the current certificate: the new one does not load (%s)",
                    type(exc).__name__,
                )
                self._on_reload("failed")
                return self._context
            self._stamp = stamp
            self._on_reload("ok")
            return self._context

    def _current_stamp(self) -> tuple[tuple[int, int, int, int], ...]:
        stamps = []
        for path in (self._cert_file, self._key_file):
            try:
                st = os.stat(path)
            except OSError:
                stamps.append((0, 0, 0, 0))
                continue
            stamps.append((st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns))
        return tuple(stamps)

    def _load(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self._cert_file, self._key_file)
        return context
