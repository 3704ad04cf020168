"""Golden fixtures: a Pod and its ServiceAccount in, the patched Pod out, for every mode and
every annotation. The webhook's JSON patch is applied with jsonpatch (RFC 6902) and the
result must equal the committed fixture and validate strictly against Kubernetes 1.29 and the
newest schema kubernetes-validate ships.

Regenerate after an intended change with ``UPDATE_GOLDEN=1 pytest tests/unit/webhook``
and review the diff of ``tests/unit/webhook/golden/``.
"""

from __future__ import annotations

import base64
import copy
import json
import os
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
from kubernetes_validate import utils as kv

from gcp2aws.webhook import mutate, review

GOLDEN = Path(__file__).parent / "golden"
ROLE = "arn:aws:iam::123456789012:role/app"
IMAGE = "us-docker.pkg.dev/my-project/containers/gcp2aws:0.1.0"
OPTIONS = mutate.Options(image=IMAGE)
VERSIONS = ["1.29.0", kv.latest_version()]


def pod(**spec: Any) -> dict[str, Any]:
    annotations = spec.pop("annotations", None)
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "app-7d9f8b6c5-", "namespace": "shop", "labels": {"app": "a"}},
        "spec": {
            "serviceAccountName": "app",
            "containers": [{"name": "app", "image": "python:3.12-slim"}],
            **spec,
        },
    }
    if annotations:
        body["metadata"]["annotations"] = annotations
    return body


# name -> (ServiceAccount annotations, Pod)
CASES: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
    "sidecar-minimal": ({"gcp2aws.io/role-arn": ROLE}, pod()),
    "sidecar-every-annotation": (
        {
            "gcp2aws.io/role-arn": ROLE,
            "gcp2aws.io/mode": "sidecar",
            "gcp2aws.io/audience": "my-audience",
            "gcp2aws.io/region": "eu-west-1",
            "gcp2aws.io/sts-regional-endpoints": "true",
            "gcp2aws.io/duration-seconds": "7200",  # ignored in this mode, with a warning
        },
        pod(),
    ),
    "endpoint-minimal": ({"gcp2aws.io/role-arn": ROLE, "gcp2aws.io/mode": "endpoint"}, pod()),
    "endpoint-every-annotation": (
        {
            "gcp2aws.io/role-arn": ROLE,
            "gcp2aws.io/mode": "endpoint",
            "gcp2aws.io/audience": "my-audience",
            "gcp2aws.io/region": "ap-northeast-1",
            "gcp2aws.io/sts-regional-endpoints": "legacy",
            "gcp2aws.io/duration-seconds": "7200",
        },
        pod(),
    ),
    "projected-minimal": ({"gcp2aws.io/role-arn": ROLE, "gcp2aws.io/mode": "projected"}, pod()),
    "projected-every-annotation": (
        {
            "gcp2aws.io/role-arn": ROLE,
            "gcp2aws.io/mode": "projected",
            "gcp2aws.io/audience": "sts.amazonaws.com",
            "gcp2aws.io/region": "us-west-2",
            "gcp2aws.io/sts-regional-endpoints": "regional",
            "gcp2aws.io/token-expiration": "3600",
        },
        pod(),
    ),
    "user-variables-and-volumes-win": (
        {"gcp2aws.io/role-arn": ROLE, "gcp2aws.io/region": "us-east-1"},
        pod(
            containers=[
                {
                    "name": "app",
                    "image": "python:3.12-slim",
                    "env": [
                        {"name": "AWS_REGION", "value": "eu-central-1"},
                        {"name": "AWS_ROLE_SESSION_NAME", "value": "fixed-name"},
                    ],
                    "volumeMounts": [{"name": "mine", "mountPath": "/var/run/gcp2aws"}],
                }
            ],
            volumes=[{"name": "mine", "emptyDir": {}}, {"name": "gcp2aws-tmp", "emptyDir": {}}],
        ),
    ),
    "init-containers-and-several-containers": (
        {"gcp2aws.io/role-arn": ROLE},
        pod(
            initContainers=[
                {"name": "migrate", "image": "migrate:1"},
                {"name": "proxy", "image": "envoy:1", "restartPolicy": "Always"},
            ],
            containers=[
                {"name": "app", "image": "python:3.12-slim"},
                {"name": "worker", "image": "python:3.12-slim"},
            ],
        ),
    ),
    "skip-containers": (
        {"gcp2aws.io/role-arn": ROLE},
        pod(
            annotations={"gcp2aws.io/skip-containers": "worker, metrics"},
            containers=[
                {"name": "app", "image": "python:3.12-slim"},
                {"name": "worker", "image": "python:3.12-slim"},
                {"name": "metrics", "image": "exporter:1"},
            ],
        ),
    ),
    "pod-cannot-pick-its-role": (
        {"gcp2aws.io/role-arn": ROLE},
        pod(
            annotations={
                "gcp2aws.io/role-arn": "arn:aws:iam::999999999999:role/admin",
                "gcp2aws.io/mode": "endpoint",
            }
        ),
    ),
    "pod-opts-out": (
        {"gcp2aws.io/role-arn": ROLE},
        pod(annotations={"gcp2aws.io/inject": "false"}),
    ),
    "no-role-annotation": (
        {"iam.gke.io/gcp-service-account": "app@p.iam.gserviceaccount.com"},
        pod(),
    ),
    "every-container-skipped": (
        {"gcp2aws.io/role-arn": ROLE},
        pod(annotations={"gcp2aws.io/skip-containers": "app"}),
    ),
    "unknown-mode-is-denied": ({"gcp2aws.io/role-arn": ROLE, "gcp2aws.io/mode": "magic"}, pod()),
    "bad-role-arn-is-denied": ({"gcp2aws.io/role-arn": "arn:aws:iam::123:user/me"}, pod()),
}


def admit(annotations: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    request = {
        "uid": "0f6c4d52-6b39-4c2f-9a1e-2f0b0a0b0c0d",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "operation": "CREATE",
        "namespace": "shop",
        "object": copy.deepcopy(body),
    }
    accounts = {("shop", "app"): annotations}
    outcome = review.answer(request, lambda ns, name: accounts.get((ns, name)), OPTIONS)
    response = outcome.response["response"]
    patched = copy.deepcopy(body)
    if "patch" in response:
        assert response["patchType"] == "JSONPatch"
        ops = json.loads(base64.b64decode(response["patch"]))
        patched = jsonpatch.apply_patch(body, ops)
    return {
        "outcome": outcome.outcome,
        "reason": outcome.reason,
        "allowed": response["allowed"],
        "message": response.get("status", {}).get("message"),
        "warnings": response.get("warnings", []),
        "pod": patched,
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    annotations, body = CASES[name]
    got = admit(annotations, body)
    path = GOLDEN / f"{name}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert got == json.loads(path.read_text()), f"regenerate {path.name} if this is intended"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_patched_pod_validates_strictly(name: str, version: str) -> None:
    patched = json.loads((GOLDEN / f"{name}.json").read_text())["pod"]
    kv.validate(patched, version, strict=True)


@pytest.mark.parametrize("name", sorted(CASES))
def test_mutating_a_mutated_pod_changes_nothing(name: str) -> None:
    annotations, _ = CASES[name]
    once = json.loads((GOLDEN / f"{name}.json").read_text())
    again = admit(annotations, once["pod"])
    assert again["pod"] == once["pod"]
    if once["outcome"] == "mutated":
        assert (again["outcome"], again["reason"]) == ("skipped", "already_mutated")


def test_the_fixtures_cover_every_mode_and_annotation() -> None:
    from gcp2aws.webhook import injection

    fixtures = {name: json.loads((GOLDEN / f"{name}.json").read_text()) for name in CASES}
    modes = {
        f["pod"]["metadata"].get("annotations", {}).get(injection.INJECTED)
        for f in fixtures.values()
    }
    assert set(injection.MODES) <= modes
    used = {key for annotations, _ in CASES.values() for key in annotations}
    used |= {key for _, body in CASES.values() for key in body["metadata"].get("annotations", {})}
    assert (
        set(injection.SERVICE_ACCOUNT_KEYS) | {injection.SKIP_CONTAINERS, injection.INJECT} <= used
    )
    assert not set(GOLDEN.glob("*.json")) - {GOLDEN / f"{n}.json" for n in CASES}, "stale fixture"


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_sidecar_command_line_parses_with_the_real_cli(name: str) -> None:
    from gcp2aws.cli.app import build_parser, command_module

    pod_after = json.loads((GOLDEN / f"{name}.json").read_text())["pod"]
    for container in pod_after["spec"].get("initContainers", []):
        if container["name"] == mutate.SIDECAR_NAME:
            args = container["args"]
            ns = build_parser(command_module(args[0])).parse_args(args)
            assert ns.command == args[0]
            assert ns.token_source == "metadata"
