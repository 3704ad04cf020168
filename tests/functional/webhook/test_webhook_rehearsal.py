"""Each mode acted out: the webhook mutates a Pod, then the mutated Pod's own sidecar command
and app environment run as local processes (sharing a temp dir, the emptyDir) against the
metadata emulator and the local STS, and boto3 in the "app" gets the assumed role. In
projected mode the emulator's key stands in for the cluster issuer's JWKS, and the kubelet's
part (writing the projected token) is played by the test."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonpatch
import pytest

from gcp2aws.emulator.faults import StsError
from gcp2aws.emulator.local_sts import LocalSts
from gcp2aws.emulator.signer import Signer
from gcp2aws.policy import generate
from gcp2aws.policy.evaluate import RequestContext, evaluate
from gcp2aws.webhook import mutate, review
from tests.support.cli import Env, gcp2aws_exe
from tests.support.rehearsal import (
    APP,
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

ROLE = "arn:aws:iam::123456789012:role/shop-app"
ISSUER = (
    "https://container.googleapis.com/v1/projects/my-project/locations/us-central1/clusters/prod"
)
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": POD_NAME, "namespace": "shop"},
    "spec": {"serviceAccountName": "app", "containers": [{"name": "app", "image": "app:1"}]},
}


def mutated(mode: str, **annotations: str) -> dict[str, Any]:
    accounts = {
        ("shop", "app"): {
            "gcp2aws.io/role-arn": ROLE,
            "gcp2aws.io/mode": mode,
            "gcp2aws.io/region": "us-east-1",
            **annotations,
        }
    }
    request = {
        "uid": "u",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "operation": "CREATE",
        "namespace": "shop",
        "object": POD,
    }
    outcome = review.answer(
        request, lambda ns, name: accounts.get((ns, name)), mutate.Options(image="gcp2aws:test")
    )
    assert outcome.outcome == "mutated", outcome.response
    ops = json.loads(base64.b64decode(outcome.response["response"]["patch"]))
    pod: dict[str, Any] = jsonpatch.apply_patch(POD, ops)
    return pod


def sidecar_and_app(pod: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    (side,) = [c for c in pod["spec"]["initContainers"] if c["name"] == mutate.SIDECAR_NAME]
    (app,) = pod["spec"]["containers"]
    return side, app


def start_sidecar(
    side: dict[str, Any], env: dict[str, str], shared: Path, args: list[str] | None = None
) -> subprocess.Popen[str]:
    argv = [gcp2aws_exe(), *(args or [remap(a, shared) for a in side["args"]])]
    return subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_sidecar_mode_gives_boto3_the_assumed_role(
    env: Env, metadata: Any, local_sts: Any, tmp_path: Path
) -> None:
    side, app = sidecar_and_app(mutated("sidecar"))
    shared = tmp_path / "emptydir"
    shared.mkdir()
    side_env = {**base_env(env, tmp_path), **container_env(side, shared), **local_endpoints(env)}
    proc = start_sidecar(side, side_env, shared)
    try:
        wait_for_startup_probe(side, shared, proc)
        assert (shared / "token").stat().st_mode & 0o777 == 0o644
        app_env = {
            **base_env(env, tmp_path),
            **container_env(app, shared),
            "AWS_ENDPOINT_URL_STS": env.values["AWS_ENDPOINT_URL_STS"],
        }
        identity = run_app(app_env)
    finally:
        code, err = stop(proc)
    assert identity["Arn"] == f"arn:aws:sts::123456789012:assumed-role/shop-app/{POD_NAME}"
    assert local_sts.calls["AssumeRoleWithWebIdentity"] == 1
    assert code == 0, err


def test_endpoint_mode_gives_boto3_the_assumed_role(
    env: Env, local_sts: Any, tmp_path: Path
) -> None:
    side, app = sidecar_and_app(mutated("endpoint", **{"gcp2aws.io/duration-seconds": "1800"}))
    shared = tmp_path / "emptydir"
    shared.mkdir()
    cache_volume = tmp_path / "var-cache"
    cache_volume.mkdir()
    cache_volume.chmod(0o777)  # an emptyDir's root
    port = str(free_port())
    args = [remap(a, shared) for a in side["args"]]
    args[args.index("--port") + 1] = port
    side_env = {
        **base_env(env, tmp_path),
        **container_env(side, shared),
        **local_endpoints(env),
        "GCP2AWS_CACHE_DIR": str(cache_volume / "gcp2aws"),
    }
    assert container_env(side, shared)["GCP2AWS_ROLE_SESSION_NAME"] == POD_NAME
    proc = start_sidecar(side, side_env, shared, args)
    try:
        wait_for_startup_probe(side, shared, proc)
        # Readable by an app container running as another user (only this Pod mounts it).
        assert (shared / "auth-token").stat().st_mode & 0o777 == 0o644
        app_env = {**base_env(env, tmp_path), **container_env(app, shared)}
        assert app_env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == mutate.ENDPOINT_URL
        app_env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = f"http://127.0.0.1:{port}/"
        app_env["AWS_ENDPOINT_URL_STS"] = env.values["AWS_ENDPOINT_URL_STS"]
        identity = run_app(app_env)
    finally:
        code, err = stop(proc)
    assert identity["Arn"] == f"arn:aws:sts::123456789012:assumed-role/shop-app/{POD_NAME}"
    assert local_sts.calls["AssumeRoleWithWebIdentity"] == 1
    assert code == 0, err


@pytest.fixture
def cluster_issuer() -> Iterator[tuple[Signer, LocalSts]]:
    """The cluster's signing key (its JWKS) and an STS whose account has an OIDC provider for
    the cluster's issuer with the client ID sts.amazonaws.com."""
    signer = Signer()
    with LocalSts(verify_with=signer, issuers=(ISSUER,), audiences=("sts.amazonaws.com",)) as sts:
        yield signer, sts


def projected_token(signer: Signer, volume: dict[str, Any], *, namespace: str = "shop") -> str:
    """What the kubelet writes into the projected volume: a ServiceAccount token for it."""
    (source,) = volume["projected"]["sources"]
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": f"system:serviceaccount:{namespace}:app",
        "aud": [source["serviceAccountToken"]["audience"]],
        "iat": now,
        "nbf": now,
        "exp": now + source["serviceAccountToken"]["expirationSeconds"],
        "kubernetes.io": {
            "namespace": namespace,
            "pod": {"name": POD_NAME, "uid": "0b7e5c1a-1111-2222-3333-444455556666"},
            "serviceaccount": {"name": "app", "uid": "9d1f2e3c-1111-2222-3333-444455556666"},
        },
    }
    return signer.sign(claims)


def test_projected_mode_gives_boto3_the_assumed_role_with_no_sidecar(
    env: Env, cluster_issuer: tuple[Signer, LocalSts], tmp_path: Path
) -> None:
    signer, sts = cluster_issuer
    pod = mutated("projected")
    assert "initContainers" not in pod["spec"]
    (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == mutate.PROJECTED_VOLUME]
    projected = tmp_path / "projected"
    projected.mkdir()
    (projected / "token").write_text(projected_token(signer, volume))
    (app,) = pod["spec"]["containers"]
    app_env = {**base_env(env, tmp_path), **container_env(app, tmp_path)}
    assert app_env["AWS_WEB_IDENTITY_TOKEN_FILE"] == mutate.PROJECTED_TOKEN_PATH
    app_env["AWS_WEB_IDENTITY_TOKEN_FILE"] = str(projected / "token")
    app_env["AWS_ENDPOINT_URL_STS"] = sts.url
    identity = run_app(app_env)
    assert identity["Arn"] == f"arn:aws:sts::123456789012:assumed-role/shop-app/{POD_NAME}"
    assert sts.calls["AssumeRoleWithWebIdentity"] == 1


def test_the_projected_token_meets_the_generated_trust_policy(
    cluster_issuer: tuple[Signer, LocalSts],
) -> None:
    signer, _ = cluster_issuer
    (volume,) = [
        v for v in mutated("projected")["spec"]["volumes"] if v["name"] == mutate.PROJECTED_VOLUME
    ]
    policy = generate.kubernetes_trust_policy(
        ISSUER,
        namespace="shop",
        service_account="app",
        account_id="123456789012",
        audience="sts.amazonaws.com",
    )
    host_path = generate.issuer_host_path(ISSUER)
    provider = f"arn:aws:iam::123456789012:oidc-provider/{host_path}"

    def allowed(namespace: str) -> bool:
        claims = signer.verify(projected_token(signer, volume, namespace=namespace))
        keys = {f"{host_path}:sub": [claims["sub"]], f"{host_path}:aud": claims["aud"]}
        context = RequestContext(principal_federated=provider, keys=keys)
        return evaluate(policy, context).allowed

    assert allowed("shop")
    assert not allowed("other")


def test_a_token_from_an_unknown_issuer_is_refused_like_sts_does(
    env: Env, cluster_issuer: tuple[Signer, LocalSts], tmp_path: Path
) -> None:
    _, sts = cluster_issuer
    stranger = Signer()  # a cluster this account has no OIDC provider for
    (volume,) = [
        v for v in mutated("projected")["spec"]["volumes"] if v["name"] == mutate.PROJECTED_VOLUME
    ]
    token = tmp_path / "token"
    token.write_text(projected_token(stranger, volume))
    (app,) = mutated("projected")["spec"]["containers"]
    app_env = {**base_env(env, tmp_path), **container_env(app, tmp_path)}
    app_env["AWS_WEB_IDENTITY_TOKEN_FILE"] = str(token)
    app_env["AWS_ENDPOINT_URL_STS"] = sts.url
    done = subprocess.run(
        [sys.executable, "-c", APP],
        env=app_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "InvalidIdentityToken" in done.stderr


def doctor_env(
    env: Env, tmp_path: Path, sts: LocalSts, token: str, role: str = ROLE
) -> dict[str, str]:
    path = tmp_path / "token"
    path.write_text(token)
    return {
        **base_env(env, tmp_path),
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(path),
        "AWS_ROLE_ARN": role,
        "AWS_ROLE_SESSION_NAME": POD_NAME,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_STS": sts.url,
    }


def doctor(environ: dict[str, str], *args: str) -> tuple[int, list[dict[str, str]], str]:
    done = subprocess.run(
        [gcp2aws_exe(), "doctor", "--json", "--no-iam", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in done.stderr
    checks: list[dict[str, str]] = json.loads(done.stdout)["checks"]
    return done.returncode, checks, done.stderr


def by_name(checks: list[dict[str, str]], name: str) -> dict[str, str]:
    (check,) = [c for c in checks if c["name"] == name]
    return check


def projected_volume() -> dict[str, Any]:
    volumes: list[dict[str, Any]] = mutated("projected")["spec"]["volumes"]
    (volume,) = [v for v in volumes if v["name"] == mutate.PROJECTED_VOLUME]
    return volume


def test_doctor_in_a_projected_pod_passes_what_the_sdk_will_do(
    env: Env, cluster_issuer: tuple[Signer, LocalSts], tmp_path: Path
) -> None:
    signer, sts = cluster_issuer
    environ = doctor_env(env, tmp_path, sts, projected_token(signer, projected_volume()))
    code, checks, _ = doctor(environ)
    assert code == 0, checks
    assert "system:serviceaccount:shop:app" in by_name(checks, "token file")["detail"]
    assert by_name(checks, "exchange")["status"] == "PASS"


def test_doctor_in_a_projected_pod_names_the_condition_that_fails(
    env: Env, cluster_issuer: tuple[Signer, LocalSts], tmp_path: Path
) -> None:
    signer, sts = cluster_issuer
    token = projected_token(signer, projected_volume(), namespace="dev")  # the wrong namespace
    policy = tmp_path / "trust.json"
    policy.write_text(
        json.dumps(
            generate.kubernetes_trust_policy(
                ISSUER,
                namespace="shop",
                service_account="app",
                account_id="123456789012",
                audience="sts.amazonaws.com",
            )
        )
    )
    sts.inject(
        StsError(
            "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", status=403
        )
    )
    code, checks, _ = doctor(doctor_env(env, tmp_path, sts, token), "--trust-policy", str(policy))
    assert code == 9
    assert by_name(checks, "exchange")["status"] == "FAIL"
    trust = by_name(checks, "trust policy")
    assert trust["status"] == "FAIL"
    assert ":sub" in trust["detail"]
    assert "system:serviceaccount:dev:app" in trust["detail"]


def test_doctor_explains_an_issuer_aws_cannot_verify(
    env: Env, cluster_issuer: tuple[Signer, LocalSts], tmp_path: Path
) -> None:
    _, sts = cluster_issuer
    token = projected_token(Signer(), projected_volume())
    code, checks, _ = doctor(doctor_env(env, tmp_path, sts, token))
    assert code == 9
    exchange = by_name(checks, "exchange")
    assert "InvalidIdentityToken" in exchange["detail"]
    assert ".well-known/openid-configuration" in exchange["fix"]
    assert "gcp2aws.io/mode: sidecar" in exchange["fix"]
