"""A stand-in for the API server's side of a mutating webhook call, from the Kubernetes docs.

No kube-apiserver runs here, so this plays its dispatcher, on the real wire format:

- it picks the webhook by the MutatingWebhookConfiguration's rules and namespaceSelector
  (``matchExpressions`` with In/NotIn/Exists/DoesNotExist, ``matchLabels``);
- it POSTs an ``admission.k8s.io/v1`` AdmissionReview over HTTPS to ``clientConfig.service``,
  verifying the server with ``caBundle`` for the Service's DNS name
  ``NAME.NAMESPACE.svc``, within ``timeoutSeconds``;
- a connection error, a timeout, a status other than 200, or a body that is not a review
  for this uid is a call failure: ``failurePolicy: Fail`` rejects the Pod, ``Ignore``
  admits it unchanged; ``allowed: false`` rejects it whatever the policy;
- a ``JSONPatch`` response is applied with jsonpatch, and its ``warnings`` returned.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import uuid
from dataclasses import dataclass, field
from typing import Any

import jsonpatch


@dataclass
class Admission:
    allowed: bool
    pod: dict[str, Any]
    called: bool
    warnings: list[str] = field(default_factory=list)
    error: str = ""  # why the call failed, or the denial's message


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A LabelSelector against a namespace's labels (as the API server evaluates it)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        present = key in labels
        if (
            (op == "In" and (not present or labels[key] not in values))
            or (op == "NotIn" and present and labels[key] in values)
            or (op == "Exists" and not present)
            or (op == "DoesNotExist" and present)
        ):
            return False
    return True


def namespace_labels(name: str, labels: dict[str, str] | None = None) -> dict[str, str]:
    # The API server labels every namespace with its own name (Kubernetes >= 1.21).
    return {"kubernetes.io/metadata.name": name, **(labels or {})}


def admit(
    configuration: dict[str, Any],
    pod: dict[str, Any],
    *,
    namespace: str,
    labels: dict[str, str],
    address: tuple[str, int],
) -> Admission:
    """Run ``pod``'s CREATE through the configuration's one webhook, as the API server does."""
    (hook,) = configuration["webhooks"]
    if not selects(hook.get("namespaceSelector") or {}, labels):
        return Admission(allowed=True, pod=pod, called=False)
    fail = hook.get("failurePolicy", "Fail") == "Fail"
    try:
        answer = _call(hook, pod, namespace=namespace, address=address)
    except _CallFailed as exc:
        if fail:
            return Admission(allowed=False, pod=pod, called=True, error=str(exc))
        return Admission(allowed=True, pod=pod, called=True, error=str(exc))
    if not answer.get("allowed"):
        message = (answer.get("status") or {}).get("message", "")
        return Admission(allowed=False, pod=pod, called=True, error=message)
    patched = pod
    if answer.get("patchType") == "JSONPatch":
        ops = json.loads(base64.b64decode(answer["patch"]))
        patched = jsonpatch.apply_patch(pod, ops)
    return Admission(
        allowed=True, pod=patched, called=True, warnings=list(answer.get("warnings") or [])
    )


class _CallFailed(Exception):
    pass


def _call(
    hook: dict[str, Any], pod: dict[str, Any], *, namespace: str, address: tuple[str, int]
) -> dict[str, Any]:
    client = hook["clientConfig"]
    service = client["service"]
    context = ssl.create_default_context(
        cadata=base64.b64decode(client["caBundle"]).decode() if client.get("caBundle") else None
    )
    uid = str(uuid.uuid4())
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": pod,
            "oldObject": None,
            "dryRun": False,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
        },
    }
    body = json.dumps(review).encode()
    host = f"{service['name']}.{service['namespace']}.svc"
    timeout = float(hook.get("timeoutSeconds", 10))
    conn = http.client.HTTPSConnection(host, address[1], context=context, timeout=timeout)
    # Resolve the Service's name to the local address, as cluster DNS would.
    conn.sock = None
    try:
        raw = socket.create_connection(address, timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # Go's default
        conn.sock = context.wrap_socket(raw, server_hostname=host)
        conn.request(
            "POST",
            f"{service.get('path', '/')}?timeout={int(timeout)}s",
            body=body,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        response = conn.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise _CallFailed(f"failed calling webhook: {type(exc).__name__}: {exc}") from None
    finally:
        conn.close()
    if response.status != 200:
        raise _CallFailed(f"failed calling webhook: status {response.status}")
    try:
        out = json.loads(data)
        answer: dict[str, Any] = out["response"]
        if out.get("kind") != "AdmissionReview" or answer["uid"] != uid:
            raise ValueError("not a review for this request")
    except (ValueError, KeyError, TypeError) as exc:
        raise _CallFailed(f"failed calling webhook: bad response: {exc}") from None
    return answer
