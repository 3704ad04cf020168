"""The sidecar patterns acted out locally: the manifests' exact command lines, sidecar and app
as two processes sharing a temp dir (the pod's emptyDir), against the metadata emulator and
the local STS. The app is boto3 with nothing but the environment the manifest gives it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import ROLE_ARN, Env, gcp2aws_exe
from tests.support.deploy import (
    ENDPOINT_PATTERN,
    TOKEN_FILE_PATTERN,
    app,
    env_values,
    gcp2aws_args,
    sidecar,
    the_pod,
)
from tests.support.rehearsal import (
    POD_NAME,
    base_env,
    container_env,
    free_port,
    local_endpoints,
    remap,
    run_app,
    stop,
    wait_for_startup_probe,
)

pytestmark = pytest.mark.e2e


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
