"""The sidecar patterns acted out locally: the manifests' exact command lines, sidecar and app
as two processes sharing a temp dir (the pod's emptyDir), against the metadata emulator and
the local STS. The app is boto3 with nothing but the environment the manifest gives it."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import ROLE_ARN, Env, gcp2aws_exe
from tests.support.deploy import (
    ENDPOINT_PATTERN,
    SHARED_DIR,
    TOKEN_FILE_PATTERN,
    app,
    env_values,
    gcp2aws_args,
    sidecar,
    the_pod,
)

pytestmark = pytest.mark.e2e

POD_NAME = "example-app-7d9f8b6c5-x2x9z"
# What an app does: the default credential chain, then one signed call.
APP = """
import json, boto3
identity = boto3.client("sts").get_caller_identity()
print(json.dumps({"Arn": identity["Arn"]}))
"""


def remap(value: str, shared: Path) -> str:
    return value.replace(SHARED_DIR, str(shared))


def container_env(container: dict[str, Any], shared: Path) -> dict[str, str]:
    """The env a container gets in the pod: literals, and the downward API's pod name.

    HOME (/tmp in the pod, an emptyDir) becomes a private dir next to ``shared``.
    """
    out = {}
    for name, value in env_values(container).items():
        if name == "HOME":
            home = shared.parent / f"{container['name']}-home"
            home.mkdir(exist_ok=True)
            out[name] = str(home)
        elif isinstance(value, dict):
            assert value == {"fieldRef": {"fieldPath": "metadata.name"}}, value
            out[name] = POD_NAME
        else:
            out[name] = remap(str(value), shared)
    return out


def local_endpoints(env: Env) -> dict[str, str]:
    # Only what points the processes at the emulators instead of Google and AWS.
    keep = ("GCE_METADATA_HOST", "GCE_METADATA_IP", "AWS_ENDPOINT_URL_STS")
    return {name: env.values[name] for name in keep}


def base_env(env: Env, home: Path) -> dict[str, str]:
    isolated = {
        k: v
        for k, v in env.values.items()
        if not k.startswith(("AWS_", "GCE_", "GOOGLE_", "GCP2AWS_"))
    }
    return {
        **isolated,
        "HOME": str(home),
        "AWS_CONFIG_FILE": str(home / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def wait_for_startup_probe(container: dict[str, Any], shared: Path, proc: Any) -> None:
    """Run the sidecar's startup probe command as the kubelet would, until it succeeds."""
    probe = container["startupProbe"]
    command = [remap(str(a), shared) for a in probe["exec"]["command"]]
    deadline = time.monotonic() + probe["periodSeconds"] * probe["failureThreshold"]
    while time.monotonic() < deadline:
        if subprocess.run(command, check=False).returncode == 0:
            return
        assert proc.poll() is None, proc.communicate(timeout=5)
        time.sleep(0.1)
    pytest.fail(f"startup probe {command} never passed")


def stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    return proc.returncode, err


def run_app(app_env: dict[str, str]) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", APP],
        env=app_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, str] = json.loads(done.stdout)
    return result


def test_token_file_pattern_gives_boto3_the_assumed_role(
    env: Env, metadata: Any, local_sts: Any, tmp_path: Path
) -> None:
    spec = the_pod(TOKEN_FILE_PATTERN)
    shared = tmp_path / "emptydir"
    shared.mkdir()
    side, application = sidecar(spec), app(spec)

    side_env = {**base_env(env, tmp_path), **container_env(side, shared), **local_endpoints(env)}
    argv = [gcp2aws_exe(), *(remap(a, shared) for a in gcp2aws_args(side))]
    proc = subprocess.Popen(
        argv, env=side_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for_startup_probe(side, shared, proc)
        token_file = shared / "token"
        token = token_file.read_text()
        assert token.count(".") == 2
        assert not token.endswith("\n")
        assert token_file.stat().st_mode & 0o777 == 0o644

        # The app: the manifest's env only (plus the local STS endpoint); no gcp2aws in it.
        app_env = {
            **base_env(env, tmp_path),
            **container_env(application, shared),
            "AWS_ENDPOINT_URL_STS": env.values["AWS_ENDPOINT_URL_STS"],
        }
        assert app_env["AWS_WEB_IDENTITY_TOKEN_FILE"] == str(token_file)
        identity = run_app(app_env)
    finally:
        code, err = stop(proc)

    role_name = env_values(application)["AWS_ROLE_ARN"].rsplit("/", 1)[1]
    assert identity["Arn"] == f"arn:aws:sts::123456789012:assumed-role/{role_name}/{POD_NAME}"
    assert local_sts.calls["AssumeRoleWithWebIdentity"] == 1
    assert metadata.calls.get("instance/service-accounts/default/identity", 0) >= 1
    assert code == 0, err  # SIGTERM is a clean stop
    assert "Traceback" not in err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_endpoint_pattern_gives_boto3_the_assumed_role(
    env: Env, local_sts: Any, tmp_path: Path
) -> None:
    spec = the_pod(ENDPOINT_PATTERN)
    shared = tmp_path / "emptydir"
    shared.mkdir()
    cache_volume = tmp_path / "var-cache"
    cache_volume.mkdir(mode=0o777)
    cache_volume.chmod(0o777)  # an emptyDir root is world-writable
    side, application = sidecar(spec), app(spec)
    # A free port instead of 9911, so parallel runs on one machine do not collide.
    port = str(free_port())
    args = [remap(a, shared) for a in gcp2aws_args(side)]
    args[args.index("--port") + 1] = port

    side_env = {
        **base_env(env, tmp_path),
        **container_env(side, shared),
        **local_endpoints(env),
        # The image's GCP2AWS_CACHE_DIR, one level inside the /var/cache emptyDir.
        "GCP2AWS_CACHE_DIR": str(cache_volume / "gcp2aws"),
    }
    proc = subprocess.Popen(
        [gcp2aws_exe(), *args],
        env=side_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_startup_probe(side, shared, proc)
        assert (shared / "auth-token").stat().st_mode & 0o777 == 0o600
        app_env = {**base_env(env, tmp_path), **container_env(application, shared)}
        app_env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = f"http://127.0.0.1:{port}/"
        # get_caller_identity is signed with the served credentials and goes to the local STS.
        app_env["AWS_ENDPOINT_URL_STS"] = env.values["AWS_ENDPOINT_URL_STS"]
        identity = run_app(app_env)
        cache_dir = cache_volume / "gcp2aws"
        assert cache_dir.is_dir()
        assert cache_dir.stat().st_mode & 0o777 == 0o700
        assert any(cache_dir.iterdir()), "serve used its on-disk cache"
    finally:
        code, err = stop(proc)

    assert identity["Arn"] == f"arn:aws:sts::123456789012:assumed-role/gcp2aws-gke/{POD_NAME}"
    assert local_sts.calls["AssumeRoleWithWebIdentity"] == 1
    assert code == 0, err
    assert ROLE_ARN not in err  # the sidecar used the manifest's role, not the test default
