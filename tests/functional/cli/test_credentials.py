"""`gcp2aws credentials` as the AWS CLI runs it: a separate process, real local servers.

Covers the credential_process contract (one JSON object on stdout, RFC 3339 Expiration), every
failure class with its exit code, transient faults that succeed after a retry, the cache (hits
make no network call, corrupt entries are replaced, unsafe directories are refused),
stale-while-error, the recursion guard and that secrets never reach stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from gcp2aws.cache import CacheEntry, decode_entry, encode_entry
from gcp2aws.emulator.faults import Body, Hang, Status, StsError, Token
from gcp2aws.emulator.metadata import MetadataEmulator
from gcp2aws.errors import ExitCode
from tests.support.cli import ROLE_ARN, Env, assert_clean_failure, gcp2aws_exe, run_gcp2aws

ACTION = "AssumeRoleWithWebIdentity"
RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
ARGS = ["credentials", "--role-arn", ROLE_ARN]


# -- helpers ------------------------------------------------------------------------------------
@pytest.fixture
def issued_tokens(metadata: MetadataEmulator) -> list[str]:
    """Every ID token the metadata emulator signs during the test."""
    tokens: list[str] = []
    sign = metadata.signer.sign

    def recording_sign(claims: Any, **kwargs: Any) -> str:
        token = sign(claims, **kwargs)
        tokens.append(token)
        return token

    metadata.signer.sign = recording_sign  # type: ignore[method-assign]
    return tokens


def assert_no_secrets(stderr: str, tokens: list[str], *secrets: str) -> None:
    for token in tokens:
        assert token not in stderr
        for segment in token.split(".")[1:]:  # claims and signature
            assert segment not in stderr
    for secret in secrets:
        assert secret
        assert secret not in stderr


def credential_doc(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The one JSON object on stdout, checked against the credential_process contract."""
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    doc, end = json.JSONDecoder().raw_decode(text)
    assert text[end:] == "\n", "stdout must be exactly one JSON object"
    assert isinstance(doc, dict)
    assert type(doc["Version"]) is int
    assert doc["Version"] == 1
    assert RFC3339_Z.match(doc["Expiration"]), doc["Expiration"]
    for name in ("AccessKeyId", "SecretAccessKey", "SessionToken"):
        assert isinstance(doc[name], str)
        assert doc[name]
    assert "Traceback" not in proc.stderr
    return doc


def caller_arn(doc: dict[str, Any], sts_url: str) -> str:
    session = botocore.session.Session()
    client = session.create_client(
        "sts",
        region_name="us-east-1",
        endpoint_url=sts_url,
        aws_access_key_id=doc["AccessKeyId"],
        aws_secret_access_key=doc["SecretAccessKey"],
        aws_session_token=doc["SessionToken"],
    )
    return str(client.get_caller_identity()["Arn"])  # type: ignore[attr-defined]


def closed_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def cache_files(directory: Path, suffix: str = ".cred") -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.endswith(suffix))


def total_calls(server: Any) -> int:
    return sum(server.calls.values())


def nobody_uid() -> int:
    try:
        return pwd.getpwnam("nobody").pw_uid
    except KeyError:
        return 65534


@pytest.fixture
def stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as s:
        yield s


# -- the success contract -----------------------------------------------------------------------
def test_credentials_document(env: Env, local_sts: Any, metadata: MetadataEmulator) -> None:
    before = time.time()
    doc = credential_doc(run_gcp2aws(ARGS, env.values))
    assert set(doc) == {
        "Version",
        "AccessKeyId",
        "SecretAccessKey",
        "SessionToken",
        "Expiration",
        "AccountId",
    }
    assert doc["AccountId"] == "123456789012"
    expires = time.mktime(time.strptime(doc["Expiration"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert 3000 < expires - before <= 3700
    assert (metadata.identity_calls, local_sts.calls[ACTION]) == (1, 1)
    assert metadata.last_audience == "sts.amazonaws.com"
    assert caller_arn(doc, local_sts.url) == (
        "arn:aws:sts::123456789012:assumed-role/gcp2aws-test/demo-vm"
    )


def test_role_arn_from_the_environment(env: Env) -> None:
    credential_doc(run_gcp2aws(["credentials"], env.with_(GCP2AWS_ROLE_ARN=ROLE_ARN)))


def test_session_name_from_the_email_without_compute_engine_claims(
    env: Env, local_sts: Any, stack: contextlib.ExitStack
) -> None:
    emu = stack.enter_context(MetadataEmulator(compute_engine_claims=False))
    proc = run_gcp2aws(ARGS, env.with_(GCE_METADATA_HOST=emu.address))
    arn = caller_arn(credential_doc(proc), local_sts.url)
    assert arn == "arn:aws:sts::123456789012:assumed-role/gcp2aws-test/gcp2aws-demo"


def test_odd_instance_name_is_sanitized(
    env: Env, local_sts: Any, stack: contextlib.ExitStack
) -> None:
    emu = stack.enter_context(MetadataEmulator(instance_name="web server #1 (prod)/" + "x" * 70))
    proc = run_gcp2aws(ARGS, env.with_(GCE_METADATA_HOST=emu.address))
    session = caller_arn(credential_doc(proc), local_sts.url).rsplit("/", 1)[1]
    assert session.startswith("web-server--1--prod--xxx")
    assert len(session) == 64


def test_debug_run_never_logs_secrets(env: Env, issued_tokens: list[str], local_sts: Any) -> None:
    proc = run_gcp2aws([*ARGS, "--debug"], env.values)
    doc = credential_doc(proc)
    assert "gcp2aws: debug:" in proc.stderr
    assert len(issued_tokens) == 1
    assert_no_secrets(proc.stderr, issued_tokens, doc["SecretAccessKey"], doc["SessionToken"])
    assert doc["AccessKeyId"] not in proc.stderr  # shown redacted only
    assert doc["AccessKeyId"][:4] + "****" + doc["AccessKeyId"][-4:] in proc.stderr


# -- the cache, through the CLI -----------------------------------------------------------------
def test_second_invocation_makes_no_network_call(
    env: Env, metadata: MetadataEmulator, local_sts: Any, isolated_env: Path
) -> None:
    first = run_gcp2aws(ARGS, env.values)
    credential_doc(first)
    metadata.reset_calls()
    local_sts.reset_calls()
    second = run_gcp2aws(ARGS, env.values)
    assert second.stdout == first.stdout
    assert second.stderr == ""
    assert total_calls(metadata) == 0
    assert total_calls(local_sts) == 0
    # The cache lives under XDG_CACHE_HOME, private to the user.
    directory = isolated_env / ".cache" / "gcp2aws"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(directory.parent.stat().st_mode) == 0o700
    (entry,) = cache_files(directory)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    for lock in cache_files(directory, ".lock"):
        assert stat.S_IMODE(lock.stat().st_mode) == 0o600


def test_no_cache_flag(env: Env, local_sts: Any, isolated_env: Path) -> None:
    credential_doc(run_gcp2aws([*ARGS, "--no-cache"], env.values))
    credential_doc(run_gcp2aws(ARGS, env.with_(GCP2AWS_NO_CACHE="1")))
    assert local_sts.calls[ACTION] == 2
    assert not (isolated_env / ".cache" / "gcp2aws").exists()


@pytest.mark.parametrize("damage", [b"garbage", "truncate", "flip"])
def test_corrupt_cache_entry_is_ignored_and_replaced(
    env: Env, local_sts: Any, isolated_env: Path, damage: bytes | str
) -> None:
    first = run_gcp2aws(ARGS, env.values)
    credential_doc(first)
    (entry,) = cache_files(isolated_env / ".cache" / "gcp2aws")
    data = entry.read_bytes()
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data = data[:-10] + bytes([data[-10] ^ 0x20]) + data[-9:]
    else:
        assert isinstance(damage, bytes)
        data = damage
    entry.write_bytes(data)
    second = run_gcp2aws(ARGS, env.values)
    doc = credential_doc(second)
    assert local_sts.calls[ACTION] == 2
    replaced = decode_entry(entry.read_bytes())
    assert replaced is not None
    assert json.loads(replaced.payload) == doc
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600


def _other_owner(path: Path) -> Path:
    if os.getuid() != 0:
        pytest.skip("chown to another user needs root")
    path.mkdir(mode=0o700)
    os.chown(path, nobody_uid(), -1)
    return path


def _group_writable(path: Path) -> Path:
    path.mkdir()
    os.chmod(path, 0o770)  # noqa: S103 - the unsafe directory under test
    return path


def _world_writable(path: Path) -> Path:
    path.mkdir()
    os.chmod(path, 0o777)  # noqa: S103 - the unsafe directory under test
    return path


def _symlink(path: Path) -> Path:
    real = path.parent / "real-cache"
    real.mkdir(mode=0o700)
    path.symlink_to(real)
    return real


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_other_owner, "owned by uid"),
        (_group_writable, "group- or world-writable"),
        (_world_writable, "group- or world-writable"),
        (_symlink, "symlink"),
    ],
    ids=["other-owner", "group-writable", "world-writable", "symlink"],
)
def test_unsafe_cache_directory_is_refused(
    env: Env,
    local_sts: Any,
    tmp_path: Path,
    make: Callable[[Path], Path],
    reason: str,
) -> None:
    target = tmp_path / "cache"
    watched = make(target)
    for _ in range(2):
        proc = run_gcp2aws([*ARGS, "--cache-dir", str(target)], env.values)
        credential_doc(proc)
        assert "gcp2aws: warning:" in proc.stderr
        assert reason in proc.stderr
        assert "running uncached" in proc.stderr
        assert os.listdir(watched) == []  # nothing written there: no entry, no lock, no temp
    assert local_sts.calls[ACTION] == 2


def test_stale_credentials_are_served_when_sts_fails(
    env: Env, local_sts: Any, issued_tokens: list[str]
) -> None:
    first = run_gcp2aws(ARGS, env.values)
    doc = credential_doc(first)
    local_sts.inject(StsError("AccessDenied", "Not authorized", 403), times=5)
    # A refresh window longer than the credentials' life puts the entry inside it.
    proc = run_gcp2aws([*ARGS, "--refresh-window", "3600"], env.values)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == first.stdout
    assert "gcp2aws: warning: refresh failed" in proc.stderr
    assert "serving cached credentials" in proc.stderr
    assert local_sts.calls[ACTION] == 2
    assert_no_secrets(proc.stderr, issued_tokens, doc["SecretAccessKey"], doc["SessionToken"])


def test_stale_credentials_close_to_expiry_are_not_served(
    env: Env, local_sts: Any, isolated_env: Path
) -> None:
    credential_doc(run_gcp2aws(ARGS, env.values))
    (path,) = cache_files(isolated_env / ".cache" / "gcp2aws")
    entry = decode_entry(path.read_bytes())
    assert entry is not None
    path.write_bytes(encode_entry(CacheEntry(entry.key, int(time.time()) + 200, entry.payload)))
    local_sts.inject(StsError("AccessDenied", "Not authorized", 403), times=5)
    assert_clean_failure(run_gcp2aws(ARGS, env.values), ExitCode.AWS_DENIED)


def test_entry_inside_the_window_is_refreshed(env: Env, local_sts: Any, isolated_env: Path) -> None:
    first = run_gcp2aws(ARGS, env.values)
    credential_doc(first)
    (path,) = cache_files(isolated_env / ".cache" / "gcp2aws")
    entry = decode_entry(path.read_bytes())
    assert entry is not None
    path.write_bytes(encode_entry(CacheEntry(entry.key, int(time.time()) + 900, entry.payload)))
    second = run_gcp2aws(ARGS, env.values)
    credential_doc(second)
    assert second.stdout != first.stdout
    assert local_sts.calls[ACTION] == 2


# -- the recursion guard ------------------------------------------------------------------------
def test_default_profile_running_gcp2aws_does_not_recurse(
    env: Env, local_sts: Any, isolated_env: Path, tmp_path: Path
) -> None:
    """A default profile whose credential_process is gcp2aws itself: the STS call is unsigned,
    so botocore never runs it. A wrapper records any run and bounds the depth, in case."""
    marker = tmp_path / "credential-process-ran"
    wrapper = tmp_path / "gcp2aws-guarded.py"
    wrapper.write_text(
        "import os, pathlib, sys\n"
        f"pathlib.Path({str(marker)!r}).touch()\n"
        "if os.environ.get('GCP2AWS_TEST_DEPTH'):\n"
        "    sys.exit(1)\n"
        "os.environ['GCP2AWS_TEST_DEPTH'] = '1'\n"
        f"os.execv({gcp2aws_exe()!r}, [{gcp2aws_exe()!r}, *sys.argv[1:]])\n"
    )
    config = isolated_env / ".aws" / "config"
    config.parent.mkdir(exist_ok=True)
    config.write_text(
        "[default]\n"
        f"credential_process = {sys.executable} {wrapper} credentials --role-arn {ROLE_ARN}\n"
        "region = us-east-1\n"
    )
    values = {k: v for k, v in env.values.items() if k not in ("AWS_PROFILE", "AWS_REGION")}
    proc = run_gcp2aws(ARGS, values, timeout=30)
    credential_doc(proc)
    assert not marker.exists()
    assert local_sts.calls[ACTION] == 1


# -- failures -----------------------------------------------------------------------------------
@dataclass
class Ctx:
    metadata: MetadataEmulator
    local_sts: Any
    stack: contextlib.ExitStack
    extra_env: dict[str, str] = field(default_factory=dict)
    drop_env: tuple[str, ...] = ()


def _nothing(ctx: Ctx) -> None:
    pass


def _not_on_gcp(ctx: Ctx) -> None:
    ctx.drop_env = ("GCE_METADATA_HOST",)
    ctx.extra_env["GCE_METADATA_IP"] = closed_address()


def _no_service_account(ctx: Ctx) -> None:
    emu = ctx.stack.enter_context(MetadataEmulator(has_service_account=False))
    ctx.extra_env["GCE_METADATA_HOST"] = emu.address


def _metadata_403(ctx: Ctx) -> None:
    ctx.metadata.inject(Status(403, b"<html>Forbidden</html>"), times=10)


def _metadata_503(ctx: Ctx) -> None:
    ctx.metadata.inject(Status(503, b"unavailable"), times=50)


def _refused(ctx: Ctx) -> None:
    ctx.extra_env["GCE_METADATA_HOST"] = closed_address()


def _html(ctx: Ctx) -> None:
    page = b"<!DOCTYPE html><html><body><h1>Welcome to the proxy</h1></body></html>"
    ctx.metadata.inject(Body(200, page, {"Metadata-Flavor": "Google"}), times=10)


def _expired(ctx: Ctx) -> None:
    now = int(time.time())
    ctx.metadata.inject(Token({"iat": now - 7200, "exp": now - 3600}), times=10)


def _wrong_audience(ctx: Ctx) -> None:
    ctx.metadata.inject(Token({"aud": "https://someone-else.example"}), times=10)


def _denied(ctx: Ctx) -> None:
    msg = "Not authorized to perform sts:AssumeRoleWithWebIdentity"
    ctx.local_sts.inject(StsError("AccessDenied", msg, 403), times=10)


def _region_disabled(ctx: Ctx) -> None:
    msg = "STS is not activated in this region for account:123456789012."
    ctx.local_sts.inject(StsError("RegionDisabledException", msg, 403), times=10)


def _throttled(ctx: Ctx) -> None:
    ctx.local_sts.inject(StsError("Throttling", "Rate exceeded", 400), times=50)


def _malformed(ctx: Ctx) -> None:
    body = b"<AssumeRoleWithWebIdentityResponse><Credentials><AccessKeyId>"
    ctx.local_sts.inject(Body(200, body, {"Content-Type": "text/xml"}), times=50)


def _hang(ctx: Ctx) -> None:
    ctx.metadata.inject(Hang(30), times=10)


@dataclass(frozen=True)
class Failure:
    name: str
    args: list[str]
    setup: Callable[[Ctx], None]
    code: ExitCode
    message: str


RA = ["--role-arn", ROLE_ARN]
FAILURES = [
    Failure(
        "bad-arn",
        ["--role-arn", "arn:aws:iam::1:role/x"],
        _nothing,
        ExitCode.USAGE,
        "invalid role ARN",
    ),
    Failure(
        "bad-duration", [*RA, "--duration-seconds", "60"], _nothing, ExitCode.USAGE, "out of range"
    ),
    Failure(
        "bad-duration-word",
        [*RA, "--duration-seconds", "1h"],
        _nothing,
        ExitCode.USAGE,
        "invalid duration",
    ),
    Failure(
        "bad-session-name",
        [*RA, "--role-session-name", "a b"],
        _nothing,
        ExitCode.USAGE,
        "invalid role session name",
    ),
    Failure("missing-role-arn", [], _nothing, ExitCode.USAGE, "no role ARN"),
    Failure("unknown-flag", [*RA, "--bogus"], _nothing, ExitCode.USAGE, "unrecognized arguments"),
    Failure("missing-value", ["--role-arn"], _nothing, ExitCode.USAGE, "expected one argument"),
    Failure("not-on-gcp", RA, _not_on_gcp, ExitCode.CONFIG, "not on Google Cloud"),
    Failure(
        "no-service-account",
        RA,
        _no_service_account,
        ExitCode.TOKEN_UNAVAILABLE,
        "no service account",
    ),
    Failure("metadata-403", RA, _metadata_403, ExitCode.TOKEN_UNAVAILABLE, "HTTP 403"),
    Failure("metadata-503", RA, _metadata_503, ExitCode.TOKEN_UNAVAILABLE, "HTTP 503"),
    Failure("connection-refused", RA, _refused, ExitCode.TOKEN_UNAVAILABLE, "connection refused"),
    Failure("html-reply", RA, _html, ExitCode.TOKEN_INVALID, "not a JWT"),
    Failure("expired-token", RA, _expired, ExitCode.TOKEN_INVALID, "expired"),
    Failure("wrong-audience", RA, _wrong_audience, ExitCode.TOKEN_INVALID, "not the requested"),
    Failure("access-denied", RA, _denied, ExitCode.AWS_DENIED, "AccessDenied"),
    Failure("region-disabled", RA, _region_disabled, ExitCode.AWS_ERROR, "RegionDisabledException"),
    Failure("throttled", [*RA, "--timeout", "3"], _throttled, ExitCode.AWS_ERROR, "Throttling"),
    Failure("malformed-xml", RA, _malformed, ExitCode.AWS_ERROR, "malformed response"),
    Failure("metadata-hang", [*RA, "--timeout", "1"], _hang, ExitCode.TIMEOUT, "budget ran out"),
]
# One per class also runs with --debug: tracebacks are allowed there, secrets are not.
DEBUG_TOO = {
    "bad-arn",
    "not-on-gcp",
    "metadata-503",
    "html-reply",
    "access-denied",
    "malformed-xml",
    "metadata-hang",
}


def _failure_params() -> list[Any]:
    params = []
    for case in FAILURES:
        params.append(pytest.param(case, False, id=case.name))
        if case.name in DEBUG_TOO:
            params.append(pytest.param(case, True, id=f"{case.name}-debug"))
    return params


@pytest.fixture
def ctx(metadata: MetadataEmulator, local_sts: Any, stack: contextlib.ExitStack) -> Ctx:
    return Ctx(metadata, local_sts, stack)


@pytest.mark.parametrize(("case", "debug"), _failure_params())
def test_failure(env: Env, ctx: Ctx, issued_tokens: list[str], case: Failure, debug: bool) -> None:
    case.setup(ctx)
    values = {k: v for k, v in env.with_(**ctx.extra_env).items() if k not in ctx.drop_env}
    proc = run_gcp2aws(["credentials", *case.args, *(["--debug"] if debug else [])], values)
    if debug:
        assert proc.returncode == case.code, proc.stderr
        assert proc.stdout == ""
        assert "gcp2aws: error:" in proc.stderr
    else:
        assert_clean_failure(proc, case.code)
    assert case.message in proc.stderr
    assert_no_secrets(proc.stderr, issued_tokens)
    if case.code == ExitCode.USAGE:
        # Usage errors are found before any network call.
        assert total_calls(ctx.metadata) == 0
        assert total_calls(ctx.local_sts) == 0


def test_denial_explains_the_trust_policy(
    env: Env, ctx: Ctx, metadata: MetadataEmulator, local_sts: Any, issued_tokens: list[str]
) -> None:
    _denied(ctx)
    proc = run_gcp2aws([*ARGS, "--audience", "my-audience"], env.values)
    assert_clean_failure(proc, ExitCode.AWS_DENIED)
    line = proc.stderr
    assert "accounts.google.com:aud" in line
    assert "accounts.google.com:oaud" in line
    assert "accounts.google.com:sub" in line
    assert f"azp ({metadata.unique_id})" in line
    assert "aud (my-audience)" in line
    assert f"sub ({metadata.unique_id})" in line
    assert_no_secrets(proc.stderr, issued_tokens)
    assert local_sts.calls[ACTION] == 1  # a denial is not retried


# -- transient faults that succeed after a retry ------------------------------------------------
def test_metadata_503_once(env: Env, metadata: MetadataEmulator) -> None:
    metadata.inject(Status(503))
    credential_doc(run_gcp2aws(ARGS, env.values))
    assert metadata.identity_calls == 2


def test_sts_idp_communication_error_once(
    env: Env, metadata: MetadataEmulator, local_sts: Any
) -> None:
    local_sts.inject(StsError("IDPCommunicationError", "the IdP could not be reached"))
    credential_doc(run_gcp2aws(ARGS, env.values))
    assert local_sts.calls[ACTION] == 2


def test_sts_verification_key_error_once_fetches_a_fresh_token(
    env: Env, metadata: MetadataEmulator, local_sts: Any
) -> None:
    local_sts.inject(
        StsError(
            "InvalidIdentityToken",
            "Couldn't retrieve verification key from your identity provider,  please reference "
            "AssumeRoleWithWebIdentity documentation for requirements",
        )
    )
    credential_doc(run_gcp2aws(ARGS, env.values))
    assert metadata.identity_calls == 2
    assert local_sts.calls[ACTION] == 2


def test_missing_aws_profile_is_a_config_error(env: Env) -> None:
    proc = run_gcp2aws(
        ["credentials", "--role-arn", ROLE_ARN, "--no-cache"],
        env.with_(AWS_PROFILE="does-not-exist"),
    )
    assert_clean_failure(proc, ExitCode.CONFIG)
    assert "does-not-exist" in proc.stderr
