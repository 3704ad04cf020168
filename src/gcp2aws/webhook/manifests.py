"""Every Kubernetes object the webhook needs, for ``webhook manifests`` and the kustomize base.

The MutatingWebhookConfiguration only ever sees Pods of namespaces labelled
``gcp2aws.io/inject: enabled``, and never kube-system or the webhook's own namespace (its own
Pods must be able to start while it is down).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from gcp2aws.webhook import injection

NAME = "gcp2aws-webhook"
WEBHOOK_NAME = "pods.gcp2aws.io"
NAMESPACE_LABEL = injection.INJECT  # gcp2aws.io/inject: enabled
NAMESPACE_LABEL_VALUE = "enabled"
TLS_SECRET = NAME + "-tls"
TLS_DIR = "/etc/gcp2aws-webhook/tls"
PORT = 8443
IMAGE_ENV = "GCP2AWS_WEBHOOK_SIDECAR_IMAGE"
DEFAULT_IMAGE = "gcp2aws"  # kustomize's `images:` (or --image) names the real one
FAILURE_POLICIES = ("Fail", "Ignore")
TIMEOUT_SECONDS = 5
UID = 65532
_LABELS = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "gcp2aws"}


@dataclass(frozen=True)
class Config:
    namespace: str = "gcp2aws"
    image: str = DEFAULT_IMAGE
    cert_manager: bool = False
    failure_policy: str = "Fail"
    replicas: int = 2
    default_region: str | None = None


def objects(
    config: Config, *, ca_bundle: str | None = None, tls: tuple[str, str] | None = None
) -> list[dict[str, Any]]:
    """The objects, in the order ``kubectl apply`` should create them.

    Without cert-manager, ``tls`` is the serving certificate and key (PEM) and ``ca_bundle``
    the CA certificate (PEM) that signed it.
    """
    ns = config.namespace
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": ns,
                # The webhook's Pods meet the "restricted" Pod Security Standard.
                "labels": {**_LABELS, "pod-security.kubernetes.io/enforce": "restricted"},
            },
        },
        _meta("v1", "ServiceAccount", ns),
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": NAME, "labels": dict(_LABELS)},
            # Read-only, ServiceAccounts only: the annotations that drive the mutation.
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["serviceaccounts"],
                    "verbs": ["get", "list", "watch"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": NAME, "labels": dict(_LABELS)},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": NAME,
            },
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": ns}],
        },
    ]
    if config.cert_manager:
        docs += _cert_manager(ns)
    else:
        if tls is None or ca_bundle is None:
            raise ValueError("without cert-manager, pass the serving certificate and CA")
        secret = _meta("v1", "Secret", ns, name=TLS_SECRET)
        secret["type"] = "kubernetes.io/tls"
        secret["stringData"] = {"tls.crt": tls[0], "tls.key": tls[1]}
        docs.append(secret)
    docs += [
        _deployment(config),
        {
            **_meta("policy/v1", "PodDisruptionBudget", ns),
            "spec": {"minAvailable": 1, "selector": {"matchLabels": dict(_LABELS)}},
        },
        {
            **_meta("v1", "Service", ns),
            "spec": {
                "selector": dict(_LABELS),
                "ports": [{"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}],
            },
        },
        _webhook_configuration(config, ca_bundle),
    ]
    return docs


def dns_names(namespace: str) -> list[str]:
    return [f"{NAME}.{namespace}.svc", f"{NAME}.{namespace}.svc.cluster.local"]


def _meta(api_version: str, kind: str, namespace: str, *, name: str = NAME) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "labels": dict(_LABELS)},
    }


def _deployment(config: Config) -> dict[str, Any]:
    args = [
        "webhook",
        "serve",
        "--port",
        str(PORT),
        "--cert-file",
        f"{TLS_DIR}/tls.crt",
        "--key-file",
        f"{TLS_DIR}/tls.key",
    ]
    env = [{"name": IMAGE_ENV, "value": config.image}]
    if config.default_region:
        env.append({"name": "GCP2AWS_WEBHOOK_DEFAULT_REGION", "value": config.default_region})
    probe = {"scheme": "HTTPS", "port": "https"}
    container = {
        "name": "webhook",
        "image": config.image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "env": env,
        "ports": [{"name": "https", "containerPort": PORT, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {**probe, "path": "/readyz"}, "periodSeconds": 5},
        "livenessProbe": {
            "httpGet": {**probe, "path": "/healthz"},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        # Measured RSS in docs/gke.md ("The webhook's own footprint").
        "resources": {
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"cpu": "1", "memory": "256Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "tls", "mountPath": TLS_DIR, "readOnly": True}],
    }
    return {
        **_meta("apps/v1", "Deployment", config.namespace),
        "spec": {
            "replicas": config.replicas,
            "selector": {"matchLabels": dict(_LABELS)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": dict(_LABELS)},
                "spec": {
                    "serviceAccountName": NAME,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    # Two replicas on two nodes (and zones where there are some): draining
                    # one node never leaves Pod creation without its webhook.
                    "affinity": {
                        "podAntiAffinity": {
                            "preferredDuringSchedulingIgnoredDuringExecution": [
                                {
                                    "weight": 100,
                                    "podAffinityTerm": {
                                        "topologyKey": "kubernetes.io/hostname",
                                        "labelSelector": {"matchLabels": dict(_LABELS)},
                                    },
                                },
                                {
                                    "weight": 50,
                                    "podAffinityTerm": {
                                        "topologyKey": "topology.kubernetes.io/zone",
                                        "labelSelector": {"matchLabels": dict(_LABELS)},
                                    },
                                },
                            ]
                        }
                    },
                    "containers": [container],
                    "volumes": [{"name": "tls", "secret": {"secretName": TLS_SECRET}}],
                },
            },
        },
    }


def _webhook_configuration(config: Config, ca_bundle: str | None) -> dict[str, Any]:
    client: dict[str, Any] = {
        "service": {"name": NAME, "namespace": config.namespace, "path": "/mutate", "port": 443}
    }
    metadata: dict[str, Any] = {"name": NAME, "labels": dict(_LABELS)}
    if config.cert_manager:
        # cert-manager's CA injector fills caBundle from the Certificate's secret.
        metadata["annotations"] = {"cert-manager.io/inject-ca-from": f"{config.namespace}/{NAME}"}
    elif ca_bundle is not None:
        client["caBundle"] = base64.b64encode(ca_bundle.encode()).decode()
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": metadata,
        "webhooks": [
            {
                "name": WEBHOOK_NAME,
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": config.failure_policy,
                "timeoutSeconds": TIMEOUT_SECONDS,
                # Called again when a later webhook adds a container, so it gets the variables.
                "reinvocationPolicy": "IfNeeded",
                "matchPolicy": "Equivalent",
                "clientConfig": client,
                "rules": [
                    {
                        "operations": ["CREATE"],
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "resources": ["pods"],
                        "scope": "Namespaced",
                    }
                ],
                "namespaceSelector": {
                    "matchExpressions": [
                        {
                            "key": NAMESPACE_LABEL,
                            "operator": "In",
                            "values": [NAMESPACE_LABEL_VALUE],
                        },
                        {
                            "key": "kubernetes.io/metadata.name",
                            "operator": "NotIn",
                            "values": sorted({"kube-system", config.namespace}),
                        },
                    ]
                },
            }
        ],
    }


def _cert_manager(ns: str) -> list[dict[str, Any]]:
    """A self-signed root, a CA Issuer from it, and the serving Certificate (renewed by
    cert-manager; the webhook reloads the files, and the CA injector the caBundle)."""
    api = "cert-manager.io/v1"
    root = _meta(api, "Issuer", ns, name=NAME + "-selfsigned")
    root["spec"] = {"selfSigned": {}}
    ca = _meta(api, "Certificate", ns, name=NAME + "-ca")
    ca["spec"] = {
        "isCA": True,
        "commonName": NAME + "-ca",
        "secretName": NAME + "-ca",
        "duration": "87600h",
        "privateKey": {"algorithm": "ECDSA", "size": 256},
        "issuerRef": {"name": NAME + "-selfsigned", "kind": "Issuer"},
    }
    issuer = _meta(api, "Issuer", ns, name=NAME + "-ca")
    issuer["spec"] = {"ca": {"secretName": NAME + "-ca"}}
    serving = _meta(api, "Certificate", ns)
    serving["spec"] = {
        "secretName": TLS_SECRET,
        "dnsNames": dns_names(ns),
        "duration": "2160h",
        "renewBefore": "360h",
        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        "issuerRef": {"name": NAME + "-ca", "kind": "Issuer"},
    }
    return [root, ca, issuer, serving]
