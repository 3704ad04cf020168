"""One AdmissionReview (``admission.k8s.io/v1``) in, one AdmissionReview out.

The outcome of every review is one of:

- ``mutated``: allowed, with a JSON patch (RFC 6902, made by ``jsonpatch``);
- ``skipped``: allowed unchanged, with the reason (no role annotation, opted out, already
  mutated, every container skipped, not a Pod CREATE);
- ``denied``: refused, because the ServiceAccount's or the Pod's annotations are unusable:
  a Pod that asked for AWS credentials and would silently get none fails at admission,
  where ``kubectl`` and the ReplicaSet's events show why;
- a :class:`ReviewError` (HTTP 400) for a malformed review, or a
  :class:`LookupFailedError` (HTTP 500) when the ServiceAccount cannot be read: an answer
  that is not a review lets the webhook's ``failurePolicy`` decide, as the cluster's
  operator chose.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gcp2aws.webhook import injection, mutate

API_VERSION = "admission.k8s.io/v1"
# ServiceAccount annotations by (namespace, name): None when the ServiceAccount does not exist.
Lookup = Callable[[str, str], "Mapping[str, str] | None"]


class ReviewError(ValueError):
    """The request is not an AdmissionReview we can answer (HTTP 400)."""


class LookupFailedError(RuntimeError):
    """The ServiceAccount could not be read in time (HTTP 500: the failurePolicy decides)."""


@dataclass
class Outcome:
    """The answer, plus what the metrics and the log line record."""

    uid: str
    response: dict[str, Any] = field(default_factory=dict)
    outcome: str = ""  # mutated | skipped | denied
    reason: str = ""
    namespace: str = ""
    service_account: str = ""
    mode: str = ""
    containers: list[str] = field(default_factory=list)


def parse(body: bytes) -> dict[str, Any]:
    """The review's ``request``, checked for the fields this webhook relies on."""
    try:
        review = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ReviewError(f"the body is not JSON: {type(exc).__name__}") from None
    if not isinstance(review, dict) or review.get("kind") != "AdmissionReview":
        raise ReviewError("the body is not an AdmissionReview")
    if review.get("apiVersion") != API_VERSION:
        raise ReviewError(f"only {API_VERSION} AdmissionReviews are supported")
    request = review.get("request")
    if not isinstance(request, dict) or not isinstance(request.get("uid"), str):
        raise ReviewError("the AdmissionReview has no request.uid")
    for key in ("kind", "object"):
        if request.get(key) is not None and not isinstance(request.get(key), dict):
            raise ReviewError(f"request.{key} is not an object")
    return request


def answer(request: Mapping[str, Any], lookup: Lookup, options: mutate.Options) -> Outcome:
    """Decide on one parsed request (see the module docstring)."""
    out = Outcome(uid=request["uid"])
    kind = request.get("kind") or {}
    if (kind.get("group", ""), kind.get("kind")) != ("", "Pod") or request.get("subResource"):
        return _allow(out, "skipped", "not_a_pod")
    if request.get("operation") != "CREATE":
        return _allow(out, "skipped", "not_create")
    pod = request.get("object")
    if not isinstance(pod, dict):
        raise ReviewError("request.object is missing")
    metadata, spec = _pod_shape(pod)
    out.namespace = str(request.get("namespace") or metadata.get("namespace") or "")
    out.service_account = str(
        spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    )
    annotations = metadata.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise ReviewError("request.object.metadata.annotations is not an object")
    try:
        if injection.opted_out(annotations):
            return _allow(out, "skipped", "pod_opted_out")
        found = lookup(out.namespace, out.service_account)
        if found is None:
            return _allow(out, "skipped", "no_service_account")
        want = injection.from_service_account(found, default_region=options.default_region)
        if want is None:
            return _allow(out, "skipped", "no_role_annotation")
        result = mutate.mutate(pod, want, options)
    except injection.InvalidAnnotationError as exc:
        return _deny(out, str(exc))
    out.mode = want.mode
    patch = _patch(pod, result.pod)
    if not result.containers:
        return _allow(out, "skipped", "every_container_skipped", result.warnings)
    if not patch:
        return _allow(out, "skipped", "already_mutated", result.warnings)
    out.containers = result.containers
    _allow(out, "mutated", want.mode, result.warnings)
    out.response["response"]["patchType"] = "JSONPatch"
    out.response["response"]["patch"] = base64.b64encode(
        json.dumps(patch, separators=(",", ":")).encode()
    ).decode()
    return out


def _pod_shape(pod: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Pod's metadata and spec, once every part the mutation walks has the right type."""
    metadata = {} if pod.get("metadata") is None else pod["metadata"]
    spec = {} if pod.get("spec") is None else pod["spec"]
    if not isinstance(metadata, dict) or not isinstance(spec, dict):
        raise ReviewError("request.object is not a Pod")
    lists = {
        key: [] if spec.get(key) is None else spec[key]
        for key in ("containers", "initContainers", "volumes")
    }
    for key, items in lists.items():
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ReviewError(f"request.object.spec.{key} is not a list of objects")
    for container in lists["containers"] + lists["initContainers"]:
        for key in ("env", "volumeMounts"):
            items = [] if container.get(key) is None else container[key]
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise ReviewError(f"a container's {key} is not a list of objects")
    return metadata, spec


def _patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    import jsonpatch

    ops: list[dict[str, Any]] = jsonpatch.make_patch(old, new).patch
    return ops


def _review(response: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}


def _allow(out: Outcome, outcome: str, reason: str, warnings: list[str] | None = None) -> Outcome:
    response: dict[str, Any] = {"uid": out.uid, "allowed": True}
    if warnings:
        response["warnings"] = warnings
    out.response, out.outcome, out.reason = _review(response), outcome, reason
    return out


def _deny(out: Outcome, message: str) -> Outcome:
    out.response = _review(
        {
            "uid": out.uid,
            "allowed": False,
            "status": {"code": 403, "reason": "Forbidden", "message": f"gcp2aws: {message}"},
        }
    )
    out.outcome, out.reason = "denied", "invalid_annotation"
    return out


def status(code: int, message: str) -> dict[str, Any]:
    """The body of a 4xx/5xx answer: a Status, which the API server logs."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "message": message,
    }
