"""``gcp2aws webhook manifests`` and ``gcp2aws webhook serve`` as a user runs them: the objects
validate strictly and render with kustomize; the server starts from its flags, syncs from the
(stand-in) API server, mutates, logs JSON lines and stops cleanly on SIGTERM."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gcp2aws.webhook import certs, manifests
from tests.support import admission
from tests.support.cli import (
    assert_clean_failure,
    gcp2aws_exe,
    require_executable,
    run_gcp2aws,
)
from tests.support.kube_api import FakeKubeApi
from tests.support.repo import REPO

BASE = REPO / "deploy" / "kubernetes" / "webhook"
VALIDATE = Path(sys.executable).parent / "kubernetes-validate"
ROLE = "arn:aws:iam::123456789012:role/app"


def kubectl() -> str:
    # The machine image ships kubectl 1.32 with kustomize v5.
    return require_executable(shutil.which("kubectl") or "/usr/bin/kubectl")


def run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return run_gcp2aws(args, dict(os.environ))


def manifests_docs(*args: str) -> list[dict[str, Any]]:
    done = run(["webhook", "manifests", *args])
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def kinds(docs: list[dict[str, Any]]) -> list[str]:
    return [d["kind"] for d in docs]


@pytest.mark.parametrize("version", ["1.29.0", "1.37.0"])
@pytest.mark.parametrize("flags", [[], ["--cert-manager"]])
def test_manifests_validate_strictly(version: str, flags: list[str], tmp_path: Path) -> None:
    done = run(["webhook", "manifests", "--namespace", "gcp2aws", *flags])
    assert done.returncode == 0, done.stderr
    path = tmp_path / "webhook.yaml"
    path.write_text(done.stdout)
    checked = subprocess.run(
        [str(VALIDATE), "--strict", "-k", version, str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Only cert-manager's own kinds lack a schema; everything else was checked.
    unchecked = [line for line in checked.stdout.splitlines() if "Couldn't find schema" in line]
    assert all("cert-manager.io" in line for line in unchecked)
    assert len(unchecked) == (4 if flags else 0)


def test_manifests_hold_every_object_the_issue_lists() -> None:
    docs = manifests_docs()
    assert kinds(docs) == [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Secret",
        "Deployment",
        "PodDisruptionBudget",
        "Service",
        "MutatingWebhookConfiguration",
    ]
    by_kind = {d["kind"]: d for d in docs}
    assert by_kind["ClusterRole"]["rules"] == [
        {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get", "list", "watch"]}
    ]
    deployment = by_kind["Deployment"]["spec"]
    assert deployment["replicas"] == 2
    assert deployment["template"]["spec"]["affinity"]["podAntiAffinity"]
    container = deployment["template"]["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert by_kind["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    (hook,) = by_kind["MutatingWebhookConfiguration"]["webhooks"]
    assert hook["failurePolicy"] == "Fail"
    assert hook["reinvocationPolicy"] == "IfNeeded"
    assert hook["sideEffects"] == "None"
    assert hook["timeoutSeconds"] == 5
    selector = hook["namespaceSelector"]
    for name in ("kube-system", "gcp2aws", "default"):
        labels = admission.namespace_labels(name)
        assert not admission.selects(selector, labels)
        assert admission.selects(selector, {**labels, "gcp2aws.io/inject": "enabled"}) == (
            name == "default"
        )


def test_the_generated_certificate_is_for_the_service_and_signed_by_the_ca_bundle(
    tmp_path: Path,
) -> None:
    docs = manifests_docs("--namespace", "platform")
    by_kind = {d["kind"]: d for d in docs}
    secret = by_kind["Secret"]
    assert secret["type"] == "kubernetes.io/tls"
    ca = base64.b64decode(
        by_kind["MutatingWebhookConfiguration"]["webhooks"][0]["clientConfig"]["caBundle"]
    ).decode()
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_text(secret["stringData"]["tls.crt"])
    key.write_text(secret["stringData"]["tls.key"])
    server = certs.ReloadingContext(str(cert), str(key)).context()
    client = ssl.create_default_context(cadata=ca)
    for name in manifests.dns_names("platform"):
        a, b = ssl.MemoryBIO(), ssl.MemoryBIO()
        c, d = ssl.MemoryBIO(), ssl.MemoryBIO()
        client_side = client.wrap_bio(a, b, server_hostname=name)
        server_side = server.wrap_bio(c, d, server_side=True)
        for _ in range(10):  # drive the handshake through memory
            for side in (client_side, server_side):
                with contextlib.suppress(ssl.SSLWantReadError):
                    side.do_handshake()
            c.write(b.read())
            a.write(d.read())
        assert client_side.version() is not None
    # Two runs never share a key.
    again = {d["kind"]: d for d in manifests_docs("--namespace", "platform")}
    assert again["Secret"]["stringData"]["tls.key"] != secret["stringData"]["tls.key"]


def test_flags_reach_the_objects() -> None:
    docs = manifests_docs(
        "--namespace",
        "platform",
        "--image",
        "r.example/gcp2aws:1",
        "--failure-policy",
        "Ignore",
        "--default-region",
        "eu-west-1",
        "--cert-manager",
    )
    by_kind = {d["kind"]: d for d in docs}
    container = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert container["image"] == env["GCP2AWS_WEBHOOK_SIDECAR_IMAGE"] == "r.example/gcp2aws:1"
    assert env["GCP2AWS_WEBHOOK_DEFAULT_REGION"] == "eu-west-1"
    hook = by_kind["MutatingWebhookConfiguration"]
    assert hook["webhooks"][0]["failurePolicy"] == "Ignore"
    assert hook["metadata"]["annotations"] == {
        "cert-manager.io/inject-ca-from": "platform/gcp2aws-webhook"
    }
    assert "caBundle" not in hook["webhooks"][0]["clientConfig"]
    assert {d["metadata"].get("namespace") for d in docs} == {None, "platform"}


@pytest.mark.parametrize(
    "args",
    [
        ["--namespace", "Not_A_Namespace"],
        ["--failure-policy", "Sometimes"],
        ["--default-region", "mars"],
    ],
)
def test_bad_manifest_flags_are_usage_errors(args: list[str]) -> None:
    assert_clean_failure(run(["webhook", "manifests", *args]), 2)


def test_the_kustomize_base_is_the_generator_verbatim() -> None:
    generated = manifests_docs("--cert-manager")
    committed = [d for d in yaml.safe_load_all((BASE / "webhook.yaml").read_text()) if d]
    assert committed == generated, (
        "regenerate: gcp2aws webhook manifests --cert-manager > "
        "deploy/kubernetes/webhook/webhook.yaml"
    )


def test_kubectl_kustomize_renders_the_base() -> None:
    done = subprocess.run(
        [kubectl(), "kustomize", str(BASE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    rendered = [d for d in yaml.safe_load_all(done.stdout) if d]
    assert sorted(kinds(rendered)) == sorted(kinds(manifests_docs("--cert-manager")))


def test_an_overlay_sets_the_image_of_the_webhook_and_of_the_sidecar(tmp_path: Path) -> None:
    text = (BASE / "kustomization.yaml").read_text()
    replacements = yaml.safe_load(text)["replacements"]
    overlay = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["../base"],  # kustomize wants them relative: the base is copied there
        "images": [{"name": "gcp2aws", "newName": "r.example/gcp2aws", "newTag": "0.1.0"}],
        "replacements": replacements,
    }
    shutil.copytree(BASE, tmp_path / "base")
    (tmp_path / "overlay").mkdir()
    (tmp_path / "overlay" / "kustomization.yaml").write_text(yaml.safe_dump(overlay))
    done = subprocess.run(
        [kubectl(), "kustomize", str(tmp_path / "overlay")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    (deployment,) = [d for d in yaml.safe_load_all(done.stdout) if d and d["kind"] == "Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert container["image"] == env["GCP2AWS_WEBHOOK_SIDECAR_IMAGE"] == ("r.example/gcp2aws:0.1.0")


# --- serve -----------------------------------------------------------------------------------


@pytest.fixture
def api() -> Iterator[FakeKubeApi]:
    server = FakeKubeApi().start()
    server.put("shop", "app", {"gcp2aws.io/role-arn": ROLE, "gcp2aws.io/mode": "endpoint"})
    try:
        yield server
    finally:
        server.stop()


def tls_files(tmp_path: Path) -> tuple[certs.Bundle, Path, Path]:
    bundle = certs.generate(manifests.dns_names("gcp2aws"))
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_text(bundle.cert)
    key.write_text(bundle.key)
    return bundle, cert, key


def read_json_line(proc: subprocess.Popen[str], want: str, seconds: float = 20) -> dict[str, Any]:
    assert proc.stderr is not None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        record: dict[str, Any] = json.loads(line)  # every line is JSON
        if want in record["msg"]:
            return record
    pytest.fail(f"no log line with {want!r}")


def test_serve_mutates_pods_of_annotated_service_accounts(api: FakeKubeApi, tmp_path: Path) -> None:
    bundle, cert, key = tls_files(tmp_path)
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
    proc = subprocess.Popen(
        [
            gcp2aws_exe(),
            "webhook",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--cert-file",
            str(cert),
            "--key-file",
            str(key),
            "--kubeconfig",
            str(kubeconfig),
            "--sidecar-image",
            "r.example/gcp2aws:1",
            "--default-region",
            "eu-west-1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        listening = read_json_line(proc, "webhook listening on")
        port = int(listening["msg"].rsplit(":", 1)[1])
        config = manifests.objects(
            manifests.Config(), ca_bundle=bundle.ca_cert, tls=(bundle.cert, bundle.key)
        )[-1]
        pod = {
            "metadata": {"generateName": "app-"},
            "spec": {"serviceAccountName": "app", "containers": [{"name": "a", "image": "x"}]},
        }
        labels = admission.namespace_labels("shop", {"gcp2aws.io/inject": "enabled"})
        deadline = time.monotonic() + 20
        result = admission.admit(
            config, pod, namespace="shop", labels=labels, address=("127.0.0.1", port)
        )
        while not result.pod.get("spec", {}).get("initContainers") and time.monotonic() < deadline:
            time.sleep(0.2)
            result = admission.admit(
                config, pod, namespace="shop", labels=labels, address=("127.0.0.1", port)
            )
        sidecar = result.pod["spec"]["initContainers"][0]
        assert sidecar["image"] == "r.example/gcp2aws:1"
        assert sidecar["args"][:1] == ["serve"]
        assert "--region" in sidecar["args"]
        admitted = read_json_line(proc, "admission")
        assert admitted["outcome"] == "mutated"
        # From the cache once it has listed, or by the bounded GET if the review came first.
        assert api.count("list") <= 1
        assert api.count("list") + api.count("get") >= 1
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert out == ""
    for line in err.splitlines():
        json.loads(line)
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        ([], 2, "--cert-file is required"),
        (
            [
                "--cert-file",
                "/nonexistent.crt",
                "--key-file",
                "/nonexistent.key",
                "--sidecar-image",
                "x",
            ],
            3,
            "cannot load the certificate",
        ),
        (["--sidecar-image", "x", "--default-region", "mars"], 2, "region"),
    ],
)
def test_serve_refuses_bad_settings_in_one_line(
    args: list[str], code: int, fragment: str, tmp_path: Path
) -> None:
    done = run(["webhook", "serve", *args])
    assert_clean_failure(done, code)
    assert fragment in done.stderr


def test_serve_without_kubernetes_credentials_is_a_config_error(tmp_path: Path) -> None:
    _, cert, key = tls_files(tmp_path)
    done = run(
        [
            "webhook",
            "serve",
            "--cert-file",
            str(cert),
            "--key-file",
            str(key),
            "--sidecar-image",
            "x",
            "--kubeconfig",
            str(tmp_path / "missing"),
        ],
    )
    assert_clean_failure(done, 3)
    assert "no Kubernetes credentials" in done.stderr
