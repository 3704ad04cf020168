"""The container recipe: multi-stage, pinned, non-root, no secrets, gcp2aws as the entrypoint.

No Docker engine runs in CI, so the file itself is checked, parsed by dockerfile-parse.
"""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser
from packaging.requirements import Requirement

from gcp2aws import envvars
from tests.support.deploy import DEPLOY
from tests.support.repo import REPO

DOCKERFILE = REPO / "Dockerfile"
CONSTRAINTS = DEPLOY / "constraints.txt"
# A version tag such as 3.12.8-slim-bookworm: major.minor.patch, not a moving tag.
PINNED_TAG = re.compile(r"^[\w.-]+:\d+\.\d+\.\d+(-[\w.-]+)?(@sha256:[0-9a-f]{64})?$")
SECRET_WORDS = re.compile(r"SECRET|PASSWORD|PRIVATE|CREDENTIAL|TOKEN|ACCESS_KEY|API_KEY", re.I)


@pytest.fixture(scope="module")
def parser() -> DockerfileParser:
    return DockerfileParser(str(DOCKERFILE))


def instructions(parser: DockerfileParser, name: str) -> list[str]:
    return [i["value"] for i in parser.structure if i["instruction"] == name]


def final_stage(parser: DockerfileParser) -> list[dict[str, str]]:
    structure = parser.structure
    last_from = max(n for n, i in enumerate(structure) if i["instruction"] == "FROM")
    stage: list[dict[str, str]] = structure[last_from:]
    return stage


def pins(path: Path) -> dict[str, str]:
    found = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"{path.name}: {line!r} is not pinned with =="
            found[name.lower().replace("_", "-")] = version
    return found


def test_multi_stage_from_slim_python_with_pinned_tags(parser: DockerfileParser) -> None:
    assert parser.is_multistage
    images = parser.parent_images
    assert len(images) >= 2
    for image in images:
        assert image.startswith("python:"), image
        assert "slim" in image, image
        assert PINNED_TAG.match(image), f"{image} is not pinned to a version tag"


def test_runs_as_a_numeric_non_root_user(parser: DockerfileParser) -> None:
    users = [i["value"] for i in final_stage(parser) if i["instruction"] == "USER"]
    assert users, "the runtime stage sets no USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit(), users[-1]
    assert int(uid) != 0, users[-1]
    assert not gid or (gid.isdigit() and int(gid) != 0), users[-1]


def test_entrypoint_is_gcp2aws_in_exec_form(parser: DockerfileParser) -> None:
    (entrypoint,) = [i["value"] for i in final_stage(parser) if i["instruction"] == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["gcp2aws"]


def test_no_remote_add_and_no_curl_pipes(parser: DockerfileParser) -> None:
    for value in instructions(parser, "ADD"):
        assert "://" not in value, f"ADD of a remote URL: {value}"
    for value in instructions(parser, "RUN"):
        assert not re.search(r"\b(curl|wget)\b", value), value


def test_no_secrets_baked_in(parser: DockerfileParser) -> None:
    for kind in ("ENV", "ARG", "LABEL"):
        for value in instructions(parser, kind):
            for name in re.findall(r"([A-Za-z_][\w.]*)=", value):
                assert not SECRET_WORDS.search(name), f"{kind} {name} looks like a secret"
    text = DOCKERFILE.read_text()
    assert not re.search(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b", text), "an AWS access key ID"
    assert "BEGIN PRIVATE KEY" not in text
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in text
    # Only the sources and the pins go in: no key files, no .aws, no .config.
    for value in instructions(parser, "COPY"):
        sources = [p for p in value.split()[:-1] if not p.startswith("--")]
        for source in sources:
            assert not re.search(r"\.json$|\.pem$|\.key$|\.aws|\.config|\.env", source), source
            if not value.startswith("--from="):
                assert (REPO / source).exists(), f"COPY source {source} does not exist"


def test_dependencies_installed_with_the_constraints_file(parser: DockerfileParser) -> None:
    runs = " ".join(instructions(parser, "RUN"))
    assert "--constraint deploy/constraints.txt" in runs
    assert "[webhook]" in runs  # the image also runs `gcp2aws webhook serve`
    assert "--no-cache-dir" in runs
    assert "/opt/gcp2aws/bin/pip uninstall --yes pip" in runs


def test_constraints_pin_every_runtime_dependency_within_pyproject_ranges() -> None:
    pinned = pins(CONSTRAINTS)
    # Walk the installed dependency tree of gcp2aws[webhook], what the image installs: every
    # node must be pinned.
    todo = []
    for req in map(Requirement, metadata.requires("gcp2aws") or []):
        if not req.marker or req.marker.evaluate({"extra": "webhook"}):
            req.marker = None
            todo.append(req)
    seen: set[str] = set()
    while todo:
        req = todo.pop()
        if req.marker and not req.marker.evaluate({"extra": ""}):
            continue
        name = req.name.lower().replace("_", "-")
        assert name in pinned, f"{name} (needed by gcp2aws) is not pinned in {CONSTRAINTS.name}"
        assert req.specifier.contains(pinned[name], prereleases=True), (name, str(req))
        if name not in seen:
            seen.add(name)
            todo.extend(Requirement(r) for r in metadata.requires(name) or [])
    assert seen == set(pinned), f"pins for packages gcp2aws does not need: {set(pinned) - seen}"


def test_build_backend_is_pinned() -> None:
    assert "hatchling" in pins(DEPLOY / "build-constraints.txt")


def test_cache_dir_env_is_the_one_gcp2aws_reads(parser: DockerfileParser) -> None:
    envs = parser.envs  # the runtime stage's environment
    assert envs[envvars.CACHE_DIR] == "/var/cache/gcp2aws"
    assert envs["HOME"] == "/tmp"
    assert envs["PATH"].startswith("/opt/gcp2aws/bin:")


def test_docs_show_the_build_line() -> None:
    assert "docker build -t gcp2aws:0.1.0 ." in (REPO / "docs" / "gke.md").read_text()
