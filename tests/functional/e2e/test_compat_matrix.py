"""The README's compatibility table: each AWS client, in each delivery mode, as a real process.

Every client runs GetCallerIdentity with its own default credential chain; nothing but the
environment and the AWS config file tells it where credentials come from. Clients that predate
``AWS_ENDPOINT_URL_STS`` (Debian 12's AWS CLI v2 and Go SDK v2) reach the local STS through
``tests.support.aws_network``, which plays ``https://sts.<region>.amazonaws.com``.

``tests.support.compat.supports`` is the table: where a client at the version found here
refuses a mode, the test asserts that it still does, so the table cannot go stale when a client
is upgraded, and the workaround column next to it must pass. The README's table is checked
against it (``tests/unit/test_readme.py``).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dotenv import dotenv_values

from tests.support.aws_network import AwsNetwork
from tests.support.cli import ROLE_ARN, Env, gcp2aws_exe, require_executable, run_gcp2aws
from tests.support.compat import CLIENTS, COMPONENT, MODES, supports
from tests.support.repo import REPO

pytestmark = [pytest.mark.e2e]

COMPAT = REPO / "tests" / "compat"
GOPATH = Path("/usr/share/gocode")  # Debian's golang-github-aws-aws-sdk-go-v2-dev
ASSUMED = "arn:aws:sts::123456789012:assumed-role/gcp2aws-test/"


@pytest.fixture(scope="session")
def js_whoami() -> list[str]:
    node = require_executable(shutil.which("node") or "/usr/bin/node")
    npm = require_executable(shutil.which("npm") or "/usr/bin/npm")
    project = COMPAT / "js"
    # One `npm ci` per checkout, whichever test worker gets here first.
    with open(project / "package.json") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (project / "node_modules" / ".package-lock.json").exists():
            proc = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=project, capture_output=True, text=True, timeout=600, check=False,
            )  # fmt: skip
            assert proc.returncode == 0, proc.stderr
    return [node, str(project / "whoami.mjs")]


@pytest.fixture(scope="session")
def go_whoami(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    go = require_executable(shutil.which("go") or "/usr/bin/go")
    gopath = GOPATH
    if not (gopath / "src/github.com/aws/aws-sdk-go-v2/service/sts").is_dir():
        require_executable(str(gopath / "golang-github-aws-aws-sdk-go-v2-dev"))  # skip/fail
    out = tmp_path_factory.mktemp("go")
    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(out),
        "GO111MODULE": "off",  # Debian's packaged SDK, offline: no module download
        "GOPATH": str(gopath),
        "GOCACHE": str(out / "cache"),
    }
    binary = out / "whoami"
    proc = subprocess.run(
        [go, "build", "-o", str(binary), str(COMPAT / "go" / "whoami" / "main.go")],
        env=environ, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return [str(binary)]


def _match(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    assert found, (pattern, text)
    return found.group(1)


def client_version(name: str, argv: list[str]) -> str:
    """The version of ``COMPONENT[name]`` that this client runs."""
    if name in {"awscli-v1", "awscli-v2"}:
        out = subprocess.run([argv[0], "--version"], capture_output=True, text=True, check=False)
        text = out.stdout + out.stderr
        return _match(r"botocore/([\d.]+)" if name == "awscli-v1" else r"aws-cli/([\d.]+)", text)
    if name == "boto3":
        import botocore

        return str(botocore.__version__)
    if name == "js-v3":
        package = COMPAT / "js" / "node_modules" / COMPONENT[name] / "package.json"
        return str(json.loads(package.read_text())["version"])
    metadata = GOPATH / "src" / COMPONENT[name] / "go_module_metadata.go"
    return _match(r'goModuleVersion = "([\d.]+)"', metadata.read_text())


def client_argv(name: str, request: pytest.FixtureRequest) -> list[str]:
    query = ["sts", "get-caller-identity", "--query", "Arn", "--output", "text"]
    if name == "awscli-v1":
        return [require_executable(str(Path(sys.executable).with_name("aws"))), *query]
    if name == "awscli-v2":
        return [require_executable("/usr/bin/aws"), *query]
    if name == "boto3":
        code = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])"
        return [sys.executable, "-c", code]
    if name == "js-v3":
        return list(request.getfixturevalue("js_whoami"))
    assert name == "go-v2"
    return list(request.getfixturevalue("go_whoami"))


@dataclass
class Serving:
    proc: subprocess.Popen[str]
    uri: str


@pytest.fixture
def network(local_sts: Any, tmp_path: Path) -> Iterator[AwsNetwork]:
    (tmp_path / "network").mkdir()
    with AwsNetwork(local_sts.url, tmp_path / "network") as net:
        yield net


def start_serve(env: Env, tmp_path: Path, host: str, stack: list[Serving]) -> Serving:
    token = tmp_path / "run" / "auth-token"
    token.parent.mkdir()
    env_file = tmp_path / "serve.env"
    proc = subprocess.Popen(
        [gcp2aws_exe(), "serve", "--role-arn", ROLE_ARN, "--host", host, "--port", "0",
         "--auth-token-file", str(token), "--env-file", str(env_file), "--no-access-log"],
        env=env.values, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    serving = Serving(proc, "")
    stack.append(serving)  # stopped by the test even if it never becomes ready
    deadline = time.monotonic() + 30
    while not env_file.exists():
        assert proc.poll() is None, "serve exited before it was ready"
        assert time.monotonic() < deadline, "serve was not ready within 30 s"
        time.sleep(0.05)
    uri = dotenv_values(env_file)["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
    assert uri
    serving.uri = uri
    return serving


def mode_environ(mode: str, env: Env, tmp_path: Path, stack: list[Serving]) -> dict[str, str]:
    """What a workload using ``mode`` is given, as the README and deploy/ configure it."""
    config = tmp_path / "aws-config"
    if mode == "credential_process":
        config.write_text(
            "[profile gcp]\n"
            f"credential_process = {gcp2aws_exe()} credentials --role-arn {ROLE_ARN}\n"
            "region = us-east-1\n"
        )
        return {"AWS_CONFIG_FILE": str(config), "AWS_PROFILE": "gcp"}
    config.write_text("")
    # botocore (boto3, the AWS CLI v1) reads only AWS_DEFAULT_REGION; the others AWS_REGION.
    common = {
        "AWS_CONFIG_FILE": str(config),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    if mode == "token-file":
        token = tmp_path / "run" / "token"
        token.parent.mkdir()
        proc = run_gcp2aws(["token", "--write", str(token)], env.values)
        assert proc.returncode == 0, proc.stderr
        return {
            **common,
            "AWS_WEB_IDENTITY_TOKEN_FILE": str(token),
            "AWS_ROLE_ARN": ROLE_ARN,
            "AWS_ROLE_SESSION_NAME": "compat",
        }
    serving = start_serve(env, tmp_path, "::1" if mode == "serve-ipv6" else "127.0.0.1", stack)
    auth = (tmp_path / "run" / "auth-token").read_text()
    if mode == "serve-token-file":
        return {
            **common,
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": serving.uri,
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(tmp_path / "run" / "auth-token"),
        }
    assert mode in {"serve-token-value", "serve-ipv6"}
    return {
        **common,
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": serving.uri,
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": auth,
    }


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("client", CLIENTS)
def test_client(
    client: str,
    mode: str,
    *,
    env: Env,
    tmp_path: Path,
    local_sts: Any,
    network: AwsNetwork,
    request: pytest.FixtureRequest,
) -> None:
    argv = client_argv(client, request)
    expected = supports(client, mode, client_version(client, argv))
    stack: list[Serving] = []
    try:
        environ = {**env.values, **network.environ()}
        for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
            environ.pop(name, None)
        environ.update(mode_environ(mode, env, tmp_path, stack))
        proc = subprocess.run(
            argv, env=environ, capture_output=True, text=True, timeout=120, check=False
        )
    finally:
        for serving in stack:
            serving.proc.send_signal(signal.SIGTERM)
            try:
                serving.proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                serving.proc.kill()
                serving.proc.communicate()
    if expected:
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(ASSUMED), proc.stdout
        if mode == "token-file":
            assert proc.stdout.strip() == ASSUMED + "compat"
    else:
        # The table says this client refuses the mode: it must still refuse it, and say nothing
        # on stdout (it never got credentials from gcp2aws).
        assert proc.returncode != 0, f"{client} now accepts {mode}: update the table"
        assert ASSUMED not in proc.stdout
    assert local_sts.calls["GetCallerIdentity"] == int(expected)
