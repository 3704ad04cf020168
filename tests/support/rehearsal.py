"""Acting out a Pod locally: its containers as processes sharing a temp dir (the emptyDir),
with the environment Kubernetes would give them, against the metadata emulator and local STS.
"""

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

from tests.support.cli import Env
from tests.support.deploy import SHARED_DIR, env_values

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
