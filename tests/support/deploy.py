"""Loading the deploy/ manifests and picking out their containers, commands and env vars."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.support.repo import REPO

DEPLOY = REPO / "deploy"
MANIFEST_DIR = DEPLOY / "kubernetes"
# The sidecar patterns; the webhook's kustomize base (webhook/) has tests of its own.
MANIFESTS = sorted(MANIFEST_DIR.glob("*.yaml"))
TOKEN_FILE_PATTERN = MANIFEST_DIR / "token-file-pattern.yaml"
ENDPOINT_PATTERN = MANIFEST_DIR / "endpoint-pattern.yaml"
SHARED_DIR = "/var/run/gcp2aws"


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def pod_specs() -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every pod template spec in the manifests, with the file it comes from."""
    for path in MANIFESTS:
        for doc in documents(path):
            template = doc.get("spec", {}).get("template")
            if template:
                yield path, template["spec"]


def the_pod(path: Path) -> dict[str, Any]:
    specs = [spec for p, spec in pod_specs() if p == path]
    assert len(specs) == 1, path
    return specs[0]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def sidecar(spec: dict[str, Any]) -> dict[str, Any]:
    (found,) = [c for c in spec.get("initContainers", []) if c["name"] == "gcp2aws"]
    return dict(found)


def app(spec: dict[str, Any]) -> dict[str, Any]:
    (found,) = [c for c in spec["containers"] if c["name"] == "app"]
    return dict(found)


def is_gcp2aws_image(container: dict[str, Any]) -> bool:
    return "/gcp2aws:" in container["image"] or container["image"].startswith("gcp2aws:")


def gcp2aws_args(container: dict[str, Any]) -> list[str]:
    """The gcp2aws argv (without the program name) a container of our image runs."""
    command = container.get("command")
    if command:
        assert command[0] == "gcp2aws", command
        return [str(a) for a in command[1:] + container.get("args", [])]
    return [str(a) for a in container.get("args", [])]


def env_values(container: dict[str, Any]) -> dict[str, Any]:
    """name -> literal value, or the valueFrom mapping."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}
