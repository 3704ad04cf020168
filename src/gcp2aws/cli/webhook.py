"""``gcp2aws webhook``: the admission webhook (``serve``) and its objects (``manifests``)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from collections.abc import Mapping
from typing import Any

from gcp2aws import validation
from gcp2aws.cli.common import write_stdout
from gcp2aws.errors import ConfigError, UsageError

DESCRIPTION = """\
Annotate a ServiceAccount with gcp2aws.io/role-arn and every Pod that runs as it, in a
namespace labelled gcp2aws.io/inject=enabled, gets AWS credentials: a mutating admission
webhook injects the gcp2aws sidecar (or a projected token) and the AWS_* variables.

  gcp2aws webhook manifests --namespace gcp2aws | kubectl apply -f -

Needs the webhook extra: pip install 'gcp2aws[webhook]' (the container image has it).
"""

SERVE_DESCRIPTION = """\
Serve AdmissionReviews (admission.k8s.io/v1) on POST /mutate over HTTPS, plus /healthz,
/readyz (ready once the ServiceAccount cache has synced) and /metrics (Prometheus).
The certificate and key are reloaded when their files change. Logs are JSON lines on
stderr. Reads ServiceAccounts with the Pod's in-cluster credentials, or --kubeconfig.
"""

log = logging.getLogger("gcp2aws")


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "webhook",
        help="the Kubernetes admission webhook: annotate a ServiceAccount, get credentials",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="webhook_command", metavar="COMMAND")
    commands.required = True
    serve = commands.add_parser(
        "serve",
        help="run the webhook server",
        description=SERVE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default="0.0.0.0", help="address to bind (default: 0.0.0.0)")  # noqa: S104
    serve.add_argument(
        "--port", type=validation.port, default=8443, help="HTTPS port (default: 8443)"
    )
    serve.add_argument(
        "--cert-file",
        metavar="PATH",
        help="serving certificate (PEM), reloaded when it changes [GCP2AWS_WEBHOOK_CERT_FILE]",
    )
    serve.add_argument(
        "--key-file", metavar="PATH", help="its private key (PEM) [GCP2AWS_WEBHOOK_KEY_FILE]"
    )
    serve.add_argument(
        "--sidecar-image",
        metavar="IMAGE",
        help="image of the injected gcp2aws sidecar [GCP2AWS_WEBHOOK_SIDECAR_IMAGE]",
    )
    serve.add_argument(
        "--default-region",
        metavar="REGION",
        help="AWS region for "
        "ServiceAccounts without gcp2aws.io/region [GCP2AWS_WEBHOOK_DEFAULT_REGION]",
    )
    serve.add_argument(
        "--kubeconfig",
        metavar="PATH",
        help="kubeconfig to read "
        "ServiceAccounts with (default: in-cluster credentials, then KUBECONFIG)",
    )
    serve.add_argument(
        "--max-connections",
        type=_count,
        default=None,
        metavar="N",
        help="connections held at once (default: 128)",
    )
    serve.set_defaults(func=run_serve)
    manifests = commands.add_parser(
        "manifests",
        help="print every object the webhook needs, for kubectl apply -f -",
        description="Print the Namespace, RBAC, Deployment, PodDisruptionBudget, Service, "
        "MutatingWebhookConfiguration and certificates (fresh ones, or cert-manager's).",
    )
    manifests.add_argument(
        "--namespace",
        default="gcp2aws",
        type=_dns_label,
        help="the webhook's namespace (default: gcp2aws)",
    )
    manifests.add_argument(
        "--image",
        default=None,
        metavar="IMAGE",
        help="image of the webhook and of the injected sidecar, built from "
        "this repository's Dockerfile (default: gcp2aws)",
    )
    manifests.add_argument(
        "--cert-manager",
        action="store_true",
        help="cert-manager Issuer and Certificate objects instead of a "
        "generated CA and serving certificate",
    )
    manifests.add_argument(
        "--failure-policy",
        choices=("Fail", "Ignore"),
        default="Fail",
        help="when the webhook cannot answer: refuse the Pod (Fail, the "
        "default) or admit it without credentials (Ignore)",
    )
    manifests.add_argument(
        "--default-region",
        metavar="REGION",
        type=validation.region,
        help="AWS region for ServiceAccounts without gcp2aws.io/region",
    )
    manifests.set_defaults(func=run_manifests)


def _count(value: str) -> int:
    if not value.isascii() or not value.isdigit() or not 1 <= int(value[:6]) <= 65535:
        raise UsageError(f"invalid count {value!r}", hint="Pass a whole number from 1 to 65535")
    return int(value)


def _dns_label(value: str) -> str:
    import re

    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", value, re.ASCII):
        raise UsageError(
            f"invalid namespace {value!r}",
            hint="A namespace is up to 63 lowercase letters, digits and '-'",
        )
    return value


def run_manifests(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from gcp2aws import yamltext
    from gcp2aws.webhook import certs, manifests

    config = manifests.Config(
        namespace=ns.namespace,
        image=ns.image or manifests.DEFAULT_IMAGE,
        cert_manager=ns.cert_manager,
        failure_policy=ns.failure_policy,
        default_region=ns.default_region,
    )
    if config.cert_manager:
        docs = manifests.objects(config)
    else:
        bundle = certs.generate(manifests.dns_names(config.namespace))
        docs = manifests.objects(config, ca_bundle=bundle.ca_cert, tls=(bundle.cert, bundle.key))
    write_stdout(yamltext.documents(docs))
    return 0


def _setting(ns_value: str | None, environ: Mapping[str, str], name: str, flag: str) -> str:
    value = ns_value or environ.get(name, "")
    if not value:
        raise UsageError(f"{flag} is required", hint=f"Pass {flag} or set {name}")
    return value


def run_serve(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from gcp2aws import signals

    try:
        import lightkube  # noqa: F401
        import prometheus_client  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            "the webhook needs lightkube and prometheus_client, which are not installed",
            hint="pip install 'gcp2aws[webhook]'",
        ) from exc
    from gcp2aws.webhook import certs, mutate
    from gcp2aws.webhook.metrics import Metrics
    from gcp2aws.webhook.server import WebhookServer
    from gcp2aws.webhook.serviceaccounts import ServiceAccountCache

    region = ns.default_region or environ.get("GCP2AWS_WEBHOOK_DEFAULT_REGION") or None
    if region is not None:
        validation.region(region)
    cert_file = _setting(ns.cert_file, environ, "GCP2AWS_WEBHOOK_CERT_FILE", "--cert-file")
    key_file = _setting(ns.key_file, environ, "GCP2AWS_WEBHOOK_KEY_FILE", "--key-file")
    image = _setting(ns.sidecar_image, environ, "GCP2AWS_WEBHOOK_SIDECAR_IMAGE", "--sidecar-image")
    _json_logging()
    metrics = Metrics()
    try:
        tls = certs.ReloadingContext(
            cert_file, key_file, on_reload=lambda r: metrics.certificate_reloads.labels(r).inc()
        )
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot load the certificate {cert_file} and key {key_file}: "
            f"{getattr(exc, 'strerror', None) or type(exc).__name__}",
            hint="Pass a PEM certificate and its matching PEM key",
        ) from exc
    factory = _client_factory(ns.kubeconfig, environ)
    cache = ServiceAccountCache(factory, on_event=lambda e: metrics.cache_events.labels(e).inc())
    metrics.count_cached(cache.__len__)
    options = mutate.Options(image=image, default_region=region)
    server = WebhookServer(
        tls=tls,
        lookup=cache.lookup,
        options=options,
        metrics=metrics,
        ready=cache.synced.is_set,
        host=ns.host,
        port=ns.port,
        log_stream=sys.stderr,
        **({"max_connections": ns.max_connections} if ns.max_connections else {}),
    )
    stop = threading.Event()
    with signals.stopping(stop):
        reflector = threading.Thread(target=cache.run, name="gcp2aws-sa-watch", daemon=True)
        reflector.start()
        try:
            server.start()
        except OSError as exc:
            cache.stop()
            raise ConfigError(
                f"cannot listen on {ns.host}:{ns.port}: {exc.strerror or exc}",
                hint="Pick a free port with --port",
            ) from exc
        log.info("webhook listening on %s:%d", ns.host, server.port)
        try:
            while not stop.wait(3600):
                pass
            log.info("shutting down")
        finally:
            server.stop()
            cache.stop()
    return 0


def _client_factory(kubeconfig: str | None, environ: Mapping[str, str]) -> Any:
    import httpx2
    from lightkube import Client, KubeConfig
    from lightkube.core.exceptions import ConfigError as KubeConfigError

    try:
        if kubeconfig:
            config = KubeConfig.from_file(kubeconfig)
        elif environ.get("KUBERNETES_SERVICE_HOST"):
            config = KubeConfig.from_service_account()
        else:
            config = KubeConfig.from_file(
                environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
            )
    except (KubeConfigError, OSError, ValueError, KeyError) as exc:
        raise ConfigError(
            f"no Kubernetes credentials: {type(exc).__name__}",
            hint="Run in a Pod with a ServiceAccount token, or pass --kubeconfig",
        ) from exc

    def factory(timeout: float) -> Client:
        return Client(config=config, timeout=httpx2.Timeout(timeout), trust_env=False)

    return factory


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        from gcp2aws.webhook.server import now_rfc3339

        return json.dumps(
            {"time": now_rfc3339(), "level": record.levelname.lower(), "msg": record.getMessage()},
            separators=(",", ":"),
        )


def _json_logging() -> None:
    root = logging.getLogger("gcp2aws")
    for handler in root.handlers:
        handler.setFormatter(_JsonFormatter())
    root.setLevel(min(root.level or logging.INFO, logging.INFO))
