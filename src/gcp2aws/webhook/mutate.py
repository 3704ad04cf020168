"""The Pod mutation, one per mode: the desired Pod from the admitted one, never overriding it.

Every step adds only what is missing, so mutating a mutated Pod changes nothing (the API
server may call the webhook again with ``reinvocationPolicy: IfNeeded``), and whatever the
Pod's author set (an ``AWS_*`` variable, a volume, a mount at the same path) wins.

Modes:

- ``sidecar``: a native sidecar runs ``gcp2aws token --write --watch`` against the GKE
  metadata server (Workload Identity) and the app's SDK exchanges the token itself;
- ``endpoint``: a native sidecar runs ``gcp2aws serve``, the ECS-style credentials endpoint;
- ``projected``: no sidecar; a projected Kubernetes service-account token with the audience,
  which the app's SDK exchanges against an IAM OIDC provider for the cluster's issuer.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gcp2aws.webhook import injection
from gcp2aws.webhook.injection import Injection

SIDECAR_NAME = "gcp2aws"
RUN_VOLUME = "gcp2aws-run"  # the in-memory directory the sidecar writes and apps read
TMP_VOLUME = "gcp2aws-tmp"
CACHE_VOLUME = "gcp2aws-cache"
PROJECTED_VOLUME = "gcp2aws-token"
RUN_DIR = "/var/run/gcp2aws"
TOKEN_PATH = RUN_DIR + "/token"
AUTH_TOKEN_PATH = RUN_DIR + "/auth-token"
PROJECTED_DIR = "/var/run/secrets/gcp2aws.io/serviceaccount"
PROJECTED_TOKEN_PATH = PROJECTED_DIR + "/token"
ENDPOINT_PORT = 9911
ENDPOINT_URL = f"http://127.0.0.1:{ENDPOINT_PORT}/"
SIDECAR_UID = 65532  # the image's USER
REGION_NAMES = ("AWS_REGION", "AWS_DEFAULT_REGION")

# Requests and limits from the measured idle RSS of each sidecar (docs/gke.md): the request
# covers the measured figure with headroom, the limit absorbs start-up and refresh peaks.
RESOURCES = {
    "sidecar": {
        "requests": {"cpu": "10m", "memory": "32Mi"},
        "limits": {"cpu": "500m", "memory": "64Mi"},
    },
    "endpoint": {
        "requests": {"cpu": "25m", "memory": "64Mi"},
        "limits": {"cpu": "500m", "memory": "128Mi"},
    },
}


@dataclass(frozen=True)
class Options:
    """Webhook-wide settings: the sidecar's image, the region when a ServiceAccount names none."""

    image: str
    image_pull_policy: str = "IfNotPresent"
    default_region: str | None = None


@dataclass
class Result:
    pod: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)  # the ones that got the variables


def mutate(pod: Mapping[str, Any], want: Injection, options: Options) -> Result:
    """The Pod as it should be admitted; ``pod`` itself is left untouched."""
    new: dict[str, Any] = copy.deepcopy(dict(pod))
    # A JSON null where an object belongs is an absent object (review checked the types).
    metadata = new["metadata"] = new.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    skip = injection.skipped_containers(annotations)
    result = Result(pod=new, warnings=injection.warnings_for(want, annotations))
    spec = new["spec"] = new.get("spec") or {}
    targets = [
        c
        for key in ("initContainers", "containers")
        for c in spec.get(key) or []
        if c.get("name") != SIDECAR_NAME and c.get("name") not in skip
    ]
    if not targets:
        return Result(pod=dict(copy.deepcopy(pod)), warnings=result.warnings)
    if want.mode == "projected":
        _add_volume(spec, result, _projected_volume(want))
        env, mount = _projected_env(want), _mount(PROJECTED_VOLUME, PROJECTED_DIR, read_only=True)
    else:
        for volume in _sidecar_volumes(want.mode):
            _add_volume(spec, result, volume)
        _add_sidecar(spec, _sidecar(want, options))
        env = _sidecar_env(want) if want.mode == "sidecar" else _endpoint_env(want)
        mount = _mount(RUN_VOLUME, RUN_DIR, read_only=True)
    for container in targets:
        _add_env(container, env)
        _add_mount(container, mount, result)
        result.containers.append(str(container.get("name")))
    metadata["annotations"] = {
        **annotations,
        injection.INJECTED: annotations.get(injection.INJECTED, want.mode),
    }
    return result


# --- the app containers' side ----------------------------------------------------------------


def _session_name() -> dict[str, Any]:
    return {"valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}


def _region_env(want: Injection) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = []
    if want.region:
        # AWS_REGION for most SDKs and the AWS CLI v2; botocore reads only AWS_DEFAULT_REGION.
        env += [
            {"name": "AWS_REGION", "value": want.region},
            {"name": "AWS_DEFAULT_REGION", "value": want.region},
        ]
    if want.sts_regional_endpoints:
        env.append({"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": want.sts_regional_endpoints})
    return env


def _web_identity_env(want: Injection, token_path: str) -> list[dict[str, Any]]:
    return [
        {"name": "AWS_ROLE_ARN", "value": want.role_arn},
        {"name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": token_path},
        {"name": "AWS_ROLE_SESSION_NAME", **_session_name()},
        *_region_env(want),
    ]


def _sidecar_env(want: Injection) -> list[dict[str, Any]]:
    return _web_identity_env(want, TOKEN_PATH)


def _projected_env(want: Injection) -> list[dict[str, Any]]:
    return _web_identity_env(want, PROJECTED_TOKEN_PATH)


def _endpoint_env(want: Injection) -> list[dict[str, Any]]:
    return [
        {"name": "AWS_CONTAINER_CREDENTIALS_FULL_URI", "value": ENDPOINT_URL},
        {"name": "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "value": AUTH_TOKEN_PATH},
        *_region_env(want),
    ]


def _add_env(container: dict[str, Any], env: list[dict[str, Any]]) -> None:
    current = container.get("env") or []
    by_name = {item.get("name"): item for item in current}
    # The author's region wins for both names: SDKs read one or the other, and two different
    # regions in one container would send them to different places.
    user_region = next((by_name[n] for n in REGION_NAMES if n in by_name), None)
    missing = []
    for wanted in env:
        name = wanted["name"]
        if name in by_name:
            continue
        if name in REGION_NAMES and user_region is not None:
            wanted = {**{k: v for k, v in user_region.items() if k != "name"}, "name": name}  # noqa: PLW2901
        missing.append(copy.deepcopy(wanted))
    if missing:
        container["env"] = [*current, *missing]


def _mount(volume: str, path: str, *, read_only: bool = False) -> dict[str, Any]:
    mount: dict[str, Any] = {"name": volume, "mountPath": path}
    if read_only:
        mount["readOnly"] = True
    return mount


def _add_mount(container: dict[str, Any], mount: dict[str, Any], result: Result) -> None:
    current = container.get("volumeMounts") or []
    path = mount["mountPath"]
    # The author's mount wins, at the same path or of the same volume.
    if any(m.get("name") == mount["name"] for m in current):
        return
    taken = next((m for m in current if m.get("mountPath", "").rstrip("/") == path), None)
    if taken is not None:
        result.warnings.append(
            f"gcp2aws: container {container.get('name')} mounts its own volume "
            f"{taken.get('name')} at {path}, so it will not see the credentials gcp2aws "
            "puts there"
        )
        return
    container["volumeMounts"] = [*current, mount]


def _add_volume(spec: dict[str, Any], result: Result, volume: dict[str, Any]) -> None:
    current = spec.get("volumes") or []
    existing = next((v for v in current if v.get("name") == volume["name"]), None)
    if existing is None:
        spec["volumes"] = [*current, volume]
    elif existing != volume:
        result.warnings.append(
            f"gcp2aws: the Pod's own volume {volume['name']} is kept; gcp2aws mounts it as its own"
        )


# --- the sidecar -----------------------------------------------------------------------------


def _sidecar_volumes(mode: str) -> list[dict[str, Any]]:
    volumes = [
        {"name": RUN_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
        {"name": TMP_VOLUME, "emptyDir": {"sizeLimit": "16Mi"}},
    ]
    if mode == "endpoint":
        volumes.append({"name": CACHE_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}})
    return volumes


def _projected_volume(want: Injection) -> dict[str, Any]:
    return {
        "name": PROJECTED_VOLUME,
        "projected": {
            "sources": [
                {
                    "serviceAccountToken": {
                        "audience": want.audience,
                        "expirationSeconds": want.token_expiration,
                        "path": "token",
                    }
                }
            ]
        },
    }


def sidecar_args(want: Injection) -> list[str]:
    """The sidecar's command line (after the image's ``gcp2aws`` entrypoint).

    ``--token-source metadata``: under Workload Identity the GKE metadata server is the
    identity, and naming it spares the sidecar probing (and importing) every other source.
    """
    source = ["--token-source", "metadata", "--audience", want.audience]
    if want.mode == "sidecar":
        # 0644: the app may run as any user; the in-memory volume is mounted only in this Pod.
        return ["token", "--write", TOKEN_PATH, "--watch", "--mode", "0644", *source]
    args = ["serve", "--port", str(ENDPOINT_PORT), "--auth-token-file", AUTH_TOKEN_PATH]
    args += ["--auth-token-mode", "0644", "--role-arn", want.role_arn, *source]
    if want.duration_seconds is not None:
        args += ["--duration-seconds", str(want.duration_seconds)]
    if want.region:
        args += ["--region", want.region]
    return args


def _sidecar(want: Injection, options: Options) -> dict[str, Any]:
    ready_file = TOKEN_PATH if want.mode == "sidecar" else AUTH_TOKEN_PATH
    mounts = [_mount(RUN_VOLUME, RUN_DIR), _mount(TMP_VOLUME, "/tmp")]  # noqa: S108
    env: list[dict[str, Any]] = []
    if want.mode == "endpoint":
        mounts.append(_mount(CACHE_VOLUME, "/var/cache"))
        env = [
            {"name": "GCP2AWS_ROLE_SESSION_NAME", **_session_name()},
            {"name": "GCP2AWS_CACHE_DIR", "value": "/var/cache/gcp2aws"},
        ]
        if want.sts_regional_endpoints:
            env.append({"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": want.sts_regional_endpoints})
    sidecar: dict[str, Any] = {
        "name": SIDECAR_NAME,
        "image": options.image,
        "imagePullPolicy": options.image_pull_policy,
        # A native sidecar: started before the app, held until its startup probe passes,
        # stopped after the app.
        "restartPolicy": "Always",
        "args": sidecar_args(want),
        "startupProbe": {
            "exec": {"command": ["test", "-s", ready_file]},
            "periodSeconds": 1,
            "failureThreshold": 60,
        },
        "resources": copy.deepcopy(RESOURCES[want.mode]),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": SIDECAR_UID,
            "runAsGroup": SIDECAR_UID,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": mounts,
    }
    if env:
        sidecar["env"] = env
    if want.mode == "endpoint":
        # serve binds 127.0.0.1 only, which the kubelet's httpGet probes cannot reach.
        probe = f"import urllib.request; urllib.request.urlopen('{ENDPOINT_URL}healthz', timeout=2)"
        sidecar["livenessProbe"] = {
            "exec": {"command": ["python", "-c", probe]},
            "periodSeconds": 30,
            "timeoutSeconds": 5,
        }
    return sidecar


def _add_sidecar(spec: dict[str, Any], sidecar: dict[str, Any]) -> None:
    current = spec.get("initContainers") or []
    if any(c.get("name") == SIDECAR_NAME for c in current):
        return
    # First, so every other init container (and every container) runs after it is ready.
    spec["initContainers"] = [sidecar, *current]
