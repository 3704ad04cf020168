"""The webhook server over real TLS: reviews, health, metrics, JSON logs, certificate rotation,
and bad or hostile requests. The caller is the API server's dispatcher played by
tests/support/admission.py, using the caBundle and Service of ``webhook manifests``."""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gcp2aws.webhook import certs, injection, manifests, mutate, server
from gcp2aws.webhook.metrics import Metrics
from gcp2aws.webhook.review import LookupFailedError
from tests.support import admission

ROLE = "arn:aws:iam::123456789012:role/app"
NAMESPACE = "gcp2aws"
HOST = f"{manifests.NAME}.{NAMESPACE}.svc"
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"generateName": "app-"},
    "spec": {"serviceAccountName": "app", "containers": [{"name": "app", "image": "x"}]},
}


class Cluster:
    """ServiceAccounts by (namespace, name), and whether lookups fail or stall."""

    def __init__(self) -> None:
        self.accounts: dict[tuple[str, str], dict[str, str]] = {
            ("shop", "app"): {injection.ROLE_ARN: ROLE}
        }
        self.fail = False
        self.delay = 0.0
        self.ready = False

    def lookup(self, namespace: str, name: str) -> Mapping[str, str] | None:
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            raise LookupFailedError("reading ServiceAccount shop/app: ConnectError")
        return self.accounts.get((namespace, name))


class Running:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.cert_file, self.key_file = tmp / "tls.crt", tmp / "tls.key"
        self.bundle = self.rotate()
        self.cluster = Cluster()
        self.metrics = Metrics()
        self.log = io.StringIO()
        self.tls = certs.ReloadingContext(
            str(self.cert_file),
            str(self.key_file),
            on_reload=lambda r: self.metrics.certificate_reloads.labels(r).inc(),
        )
        self.server = server.WebhookServer(
            tls=self.tls,
            lookup=self.cluster.lookup,
            options=mutate.Options(image="gcp2aws:test"),
            metrics=self.metrics,
            ready=lambda: self.cluster.ready,
            host="127.0.0.1",
            port=0,
            log_stream=self.log,
        ).start()

    def rotate(self) -> certs.Bundle:
        """Write a new pair the way the kubelet updates a Secret volume: replace, not edit."""
        bundle = certs.generate(manifests.dns_names(NAMESPACE))
        for path, text in ((self.cert_file, bundle.cert), (self.key_file, bundle.key)):
            temp = path.with_suffix(".new")
            temp.write_text(text)
            os.replace(temp, path)
        return bundle

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.server.port)

    def configuration(self, **overrides: Any) -> dict[str, Any]:
        config = manifests.Config(namespace=NAMESPACE, **overrides)
        docs = manifests.objects(
            config, ca_bundle=self.bundle.ca_cert, tls=(self.bundle.cert, self.bundle.key)
        )
        (hook_config,) = [d for d in docs if d["kind"] == "MutatingWebhookConfiguration"]
        return hook_config

    def connection(self, ca: str | None = None) -> http.client.HTTPSConnection:
        context = ssl.create_default_context(cadata=ca or self.bundle.ca_cert)
        conn = http.client.HTTPSConnection(HOST, self.server.port, context=context, timeout=10)
        conn.sock = context.wrap_socket(
            socket.create_connection(self.address, timeout=10), server_hostname=HOST
        )
        return conn

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.getvalue().splitlines()]

    def counter(self, name: str, **labels: str) -> float:
        for family in text_string_to_metric_families(self.metrics.exposition().decode()):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    return float(sample.value)
        return 0.0


@pytest.fixture
def hook(tmp_path: Path) -> Iterator[Running]:
    running = Running(tmp_path)
    try:
        yield running
    finally:
        running.server.stop()


def review_body(pod: dict[str, Any] | None = None, uid: str = "u-1") -> bytes:
    return json.dumps(
        {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": uid,
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "operation": "CREATE",
                "namespace": "shop",
                "object": pod or POD,
            },
        }
    ).encode()


def post(conn: http.client.HTTPSConnection, body: bytes, **headers: str) -> tuple[int, Any]:
    conn.request(
        "POST", "/mutate", body=body, headers={"Content-Type": "application/json", **headers}
    )
    response = conn.getresponse()
    data = response.read()
    return response.status, json.loads(data)


def test_the_api_servers_call_mutates_the_pod(hook: Running) -> None:
    result = admission.admit(
        hook.configuration(),
        POD,
        namespace="shop",
        labels=admission.namespace_labels("shop", {"gcp2aws.io/inject": "enabled"}),
        address=hook.address,
    )
    assert result.allowed, result.error
    assert result.pod["spec"]["initContainers"][0]["name"] == "gcp2aws"
    env = {e["name"]: e for e in result.pod["spec"]["containers"][0]["env"]}
    assert env["AWS_ROLE_ARN"]["value"] == ROLE
    (line,) = hook.log_lines()
    assert line["outcome"] == "mutated"
    assert line["mode"] == "sidecar"
    assert line["namespace"] == "shop"
    assert line["serviceAccount"] == "app"
    assert line["containers"] == ["app"]
    assert hook.counter("gcp2aws_webhook_admissions_total", outcome="mutated") == 1
    assert hook.counter("gcp2aws_webhook_admission_duration_seconds_count") == 1


@pytest.mark.parametrize(
    ("namespace", "labels"),
    [
        ("shop", {}),  # not opted in
        ("shop", {"gcp2aws.io/inject": "disabled"}),
        ("kube-system", {"gcp2aws.io/inject": "enabled"}),
        (NAMESPACE, {"gcp2aws.io/inject": "enabled"}),  # its own namespace
    ],
)
def test_the_namespace_selector_keeps_the_webhook_away(
    hook: Running, namespace: str, labels: dict[str, str]
) -> None:
    result = admission.admit(
        hook.configuration(),
        POD,
        namespace=namespace,
        labels=admission.namespace_labels(namespace, labels),
        address=hook.address,
    )
    assert (result.allowed, result.called, result.pod) == (True, False, POD)


def test_keep_alive_serves_many_reviews_on_one_connection(hook: Running) -> None:
    conn = hook.connection()
    for i in range(20):
        status, body = post(conn, review_body(uid=f"u-{i}"))
        assert status == 200
        assert body["response"]["uid"] == f"u-{i}"
    conn.close()
    assert hook.counter("gcp2aws_webhook_admissions_total", outcome="mutated") == 20


@pytest.mark.parametrize(
    ("body", "headers", "status", "reason"),
    [
        (b"{not json", {}, 400, "bad_review"),
        (
            b'{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1"}',
            {},
            400,
            "bad_review",
        ),
        (b"[" * 50_000, {}, 400, "bad_review"),
    ],
)
def test_a_malformed_review_is_a_clean_400(
    hook: Running, body: bytes, headers: dict[str, str], status: int, reason: str
) -> None:
    conn = hook.connection()
    code, answer = post(conn, body, **headers)
    assert (code, answer["kind"], answer["code"]) == (status, "Status", status)
    # The connection survives a 400: the next review on it is answered.
    assert post(conn, review_body())[0] == 200
    (line, _) = hook.log_lines()
    assert (line["outcome"], line["reason"], line["status"]) == ("error", reason, status)
    assert "Traceback" not in hook.log.getvalue()
    assert hook.counter("gcp2aws_webhook_admissions_total", outcome="error", reason=reason) == 1


def raw_request(hook: Running, data: bytes) -> bytes:
    context = ssl.create_default_context(cadata=hook.bundle.ca_cert)
    with (
        socket.create_connection(hook.address, timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=HOST) as sock,
    ):
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ssl.SSLError, OSError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def test_a_body_over_the_bound_is_refused_before_it_is_read(hook: Running) -> None:
    head = (
        f"POST /mutate HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {server.MAX_BODY + 1}\r\n\r\n"
    ).encode()
    answer = raw_request(hook, head)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"Connection: close" in answer


@pytest.mark.parametrize(
    ("headers", "status"),
    [("", 411), ("Transfer-Encoding: chunked\r\n", 411), ("Content-Length: 1e3\r\n", 400)],
)
def test_a_body_without_a_usable_length_is_refused(
    hook: Running, headers: str, status: int
) -> None:
    head = f"POST /mutate HTTP/1.1\r\nHost: {HOST}\r\n{headers}Connection: close\r\n\r\n"
    assert raw_request(hook, head.encode()).startswith(f"HTTP/1.1 {status} ".encode())


def test_a_dripping_body_meets_an_absolute_deadline(
    hook: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "BODY_DEADLINE", 1.0)
    context = ssl.create_default_context(cadata=hook.bundle.ca_cert)
    raw = socket.create_connection(hook.address, timeout=10)
    with context.wrap_socket(raw, server_hostname=HOST) as sock:
        sock.sendall(
            f"POST /mutate HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 1000\r\n\r\n".encode()
        )
        answer = b""
        for _ in range(40):  # one byte every 0.1 s: each read is quick, the whole is not
            try:
                sock.sendall(b" ")
            except OSError:
                break
            time.sleep(0.1)
            sock.setblocking(False)
            try:
                answer += sock.recv(4096)
            except (ssl.SSLWantReadError, BlockingIOError):
                pass
            except OSError:
                break
            finally:
                sock.setblocking(True)
            if answer:
                break
    assert answer.startswith(b"HTTP/1.1 408 ")


def drain(sock: socket.socket) -> bytes:
    """Everything the peer sends until it closes (a reset counts as closing)."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_plain_http_and_tls_garbage_do_not_hurt_the_server(hook: Running) -> None:
    for junk in (b"GET /healthz HTTP/1.1\r\n\r\n", os.urandom(4096)):
        with socket.create_connection(hook.address, timeout=10) as sock:
            sock.sendall(junk)
            assert not drain(sock).startswith(b"HTTP/")  # the handshake fails, it closes
    conn = hook.connection()
    assert post(conn, review_body())[0] == 200


def test_health_readiness_and_metrics(hook: Running) -> None:
    conn = hook.connection()

    def get(path: str) -> tuple[int, bytes, str]:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read(), response.getheader("Content-Type", "")

    assert get("/healthz")[0] == 200
    assert get("/readyz")[0] == 503  # the ServiceAccount cache has not synced
    hook.cluster.ready = True
    assert get("/readyz")[0] == 200
    status, text, content_type = get("/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    names = {f.name for f in text_string_to_metric_families(text.decode())}
    assert {
        "gcp2aws_webhook_admissions",
        "gcp2aws_webhook_admission_duration_seconds",
        "gcp2aws_webhook_serviceaccount_cache_events",
        "gcp2aws_webhook_certificate_reloads",
    } <= names
    assert get("/nope")[0] == 404
    conn.request("PUT", "/mutate", body=b"{}")
    response = conn.getresponse()
    response.read()
    assert response.status == 405


def test_a_failed_lookup_answers_500_so_the_failure_policy_decides(hook: Running) -> None:
    hook.cluster.fail = True
    labels = admission.namespace_labels("shop", {"gcp2aws.io/inject": "enabled"})
    refused = admission.admit(
        hook.configuration(), POD, namespace="shop", labels=labels, address=hook.address
    )
    assert (refused.allowed, refused.called) == (False, True)
    assert "status 500" in refused.error
    admitted = admission.admit(
        hook.configuration(failure_policy="Ignore"),
        POD,
        namespace="shop",
        labels=labels,
        address=hook.address,
    )
    assert (admitted.allowed, admitted.pod) == (True, POD)
    assert (
        hook.counter("gcp2aws_webhook_admissions_total", outcome="error", reason="lookup_failed")
        == 2
    )


def test_a_webhook_that_is_down_follows_the_failure_policy(hook: Running) -> None:
    labels = admission.namespace_labels("shop", {"gcp2aws.io/inject": "enabled"})
    configuration = hook.configuration()
    address = hook.address
    hook.server.stop()
    refused = admission.admit(configuration, POD, namespace="shop", labels=labels, address=address)
    assert not refused.allowed
    assert "ConnectionRefusedError" in refused.error
    configuration["webhooks"][0]["failurePolicy"] = "Ignore"
    admitted = admission.admit(configuration, POD, namespace="shop", labels=labels, address=address)
    assert (admitted.allowed, admitted.pod) == (True, POD)


def test_a_slow_webhook_times_out_into_the_failure_policy(hook: Running) -> None:
    hook.cluster.delay = 2.0
    configuration = hook.configuration()
    configuration["webhooks"][0]["timeoutSeconds"] = 1
    labels = admission.namespace_labels("shop", {"gcp2aws.io/inject": "enabled"})
    refused = admission.admit(
        configuration, POD, namespace="shop", labels=labels, address=hook.address
    )
    assert not refused.allowed
    assert "timed out" in refused.error


def test_a_webhook_answering_garbage_follows_the_failure_policy(hook: Running) -> None:
    # A listener that speaks TLS with the right certificate but answers nonsense.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(hook.cert_file), str(hook.key_file))
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        raw, _ = listener.accept()
        with context.wrap_socket(raw, server_side=True) as sock:
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            while len(body) < length:  # read it all: closing on unread data resets
                body += sock.recv(65536)
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nnot json!")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    labels = admission.namespace_labels("shop", {"gcp2aws.io/inject": "enabled"})
    result = admission.admit(
        hook.configuration(), POD, namespace="shop", labels=labels, address=listener.getsockname()
    )
    thread.join(10)
    listener.close()
    assert not result.allowed
    assert "bad response" in result.error


def served_fingerprint(hook: Running) -> str:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(hook.address, timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=HOST) as sock,
    ):
        der = sock.getpeercert(binary_form=True)
    assert der is not None
    return hashlib.sha256(der).hexdigest()


def pem_fingerprint(pem: str) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def wait_for(condition: Any, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_rotating_the_certificate_files_switches_the_served_certificate(hook: Running) -> None:
    first = served_fingerprint(hook)
    assert first == pem_fingerprint(hook.bundle.cert)
    old_conn = hook.connection()  # open before the rotation: keeps working
    assert post(old_conn, review_body())[0] == 200
    new = hook.rotate()
    assert wait_for(lambda: served_fingerprint(hook) == pem_fingerprint(new.cert))
    assert post(old_conn, review_body())[0] == 200
    hook.bundle = new
    assert post(hook.connection(), review_body())[0] == 200  # verifies with the new CA
    assert hook.counter("gcp2aws_webhook_certificate_reloads_total", result="ok") == 1


def test_a_pair_that_does_not_load_keeps_the_current_certificate(hook: Running) -> None:
    current = served_fingerprint(hook)
    other = certs.generate(["elsewhere.example"])
    hook.cert_file.write_text(other.cert)  # a new certificate, the old key: no match
    assert wait_for(
        lambda: (
            served_fingerprint(hook) == current
            and hook.counter("gcp2aws_webhook_certificate_reloads_total", result="failed") >= 1
        )
    )
    assert post(hook.connection(), review_body())[0] == 200
    warnings = [line for line in hook.log.getvalue().splitlines() if "certificate" in line]
    assert not any(other.key.splitlines()[1] in line for line in warnings)


def test_the_generated_ca_bundle_verifies_the_service_name_only(hook: Running) -> None:
    configuration = hook.configuration()
    ca = base64.b64decode(configuration["webhooks"][0]["clientConfig"]["caBundle"]).decode()
    assert ca == hook.bundle.ca_cert
    context = ssl.create_default_context(cadata=ca)
    with (
        socket.create_connection(hook.address, timeout=10) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        context.wrap_socket(raw, server_hostname="attacker.example")
