"""Fuzz whole CLI runs with generated environments: URLs, hosts, ports, paths and numbers in
the variables gcp2aws and botocore read, hostile bytes included. Whatever the environment,
``gcp2aws credentials`` either prints one credential_process document or fails cleanly: a
documented exit code, nothing on stdout, one error line, no traceback, no raw control byte.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gcp2aws import envvars
from gcp2aws.cli.app import run
from gcp2aws.errors import ExitCode
from tests.support.fuzz_budget import SHELL_MAX_EXAMPLES

ROLE = "arn:aws:iam::123456789012:role/fuzz"
DOCUMENTED = {int(code) for code in ExitCode}
# Unroutable addresses would only wait out the timeout: hosts are loopback, or not hosts at all.
hosts = st.one_of(
    st.sampled_from(["127.0.0.1", "localhost", "[::1]", "127.0.0.1:1", "::1", "0.0.0.0:0"]),
    st.builds(lambda p: f"127.0.0.1:{p}", st.integers(-5, 70000)),
    st.text(max_size=30),
)
urls = st.one_of(
    st.builds(
        lambda s, h: f"{s}{h}", st.sampled_from(["http://", "https://", "ftp://", ""]), hosts
    ),
    st.sampled_from(
        [
            "http://",
            "https://[",
            "http://127.0.0.1:99999",
            "file:///etc/passwd",
            "http://user:pw@127.0.0.1:1/",
            "http://127.0.0.1:1/%00",
            "\x1b[2J",
        ]
    ),
    st.text(max_size=40),
)
paths = st.one_of(
    st.sampled_from(
        [
            "/dev/null",
            "/dev/zero",
            "/dev/urandom",
            "/",
            "/proc/self/mem",
            "~",
            "~nobody/x",
            "/nonexistent/x",
            "relative/path",
            "",
            " ",
            "\n",
        ]
    ),
    st.text(max_size=40),
)
numbers = st.one_of(
    st.sampled_from(
        [
            "0",
            "-1",
            "1e9",
            "nan",
            "inf",
            "٣٦٠٠",
            "3600 ",
            "\uff19\uff10\uff10",
            "0x10",
            "1" * 5000,
            "900.5",
            "",
        ]
    ),
    st.integers(-(10**12), 10**12).map(str),
)
VARIABLES: dict[str, st.SearchStrategy[str]] = {
    "GCE_METADATA_HOST": hosts,
    "GCE_METADATA_IP": hosts,
    "GCE_METADATA_ROOT": hosts,
    "AWS_ENDPOINT_URL": urls,
    "AWS_ENDPOINT_URL_STS": urls,
    "AWS_CONFIG_FILE": paths,
    "AWS_SHARED_CREDENTIALS_FILE": paths,
    "AWS_REGION": st.one_of(st.sampled_from(["us-east-1", "mars-1", ""]), st.text(max_size=20)),
    "AWS_DEFAULT_REGION": st.text(max_size=20),
    "AWS_PROFILE": st.text(max_size=20),
    "AWS_STS_REGIONAL_ENDPOINTS": st.text(max_size=10),
    "AWS_CA_BUNDLE": paths,
    "HTTPS_PROXY": urls,
    envvars.TIMEOUT: numbers,
    envvars.DURATION_SECONDS: numbers,
    envvars.REFRESH_WINDOW: numbers,
    envvars.REGION: st.text(max_size=20),
    envvars.CACHE_DIR: paths,
    envvars.TOKEN_FILE: paths,
    envvars.CREDENTIALS_FILE: paths,
    envvars.SESSION_POLICY: st.one_of(paths.map(lambda p: "@" + p), st.text(max_size=40)),
    envvars.CHAIN_ROLE_ARNS: st.one_of(
        st.text(max_size=40), st.just("arn:aws:iam::123456789012:role/x,")
    ),
    envvars.AUDIENCE: st.text(max_size=30),
    envvars.TOKEN_SOURCE: st.one_of(
        st.sampled_from(["metadata", "file", "auto"]), st.text(max_size=10)
    ),
    "HOME": paths,
    "XDG_CACHE_HOME": paths,
}


@st.composite
def environments(draw: st.DrawFn) -> dict[str, str]:
    names = draw(st.lists(st.sampled_from(sorted(VARIABLES)), unique=True, max_size=6))
    out = {}
    for name in names:
        value = draw(VARIABLES[name])
        out[name] = value.replace("\x00", "")  # an environment cannot hold a NUL
    return out


def run_cli(environ: Mapping[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(["credentials", "--role-arn", ROLE], environ)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def base(isolated_env: Path, metadata: Any, local_sts: Any) -> dict[str, str]:
    """A working environment: the fuzzed variables replace its parts."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(isolated_env),
        "AWS_CONFIG_FILE": str(isolated_env / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(isolated_env / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "GCE_METADATA_HOST": metadata.address,
        "GCE_METADATA_IP": metadata.address,
        "AWS_ENDPOINT_URL_STS": local_sts.url,
        "AWS_REGION": "us-east-1",
        envvars.TIMEOUT: "3",
        envvars.NO_CACHE: "1",
    }


@settings(max_examples=SHELL_MAX_EXAMPLES)
@given(fuzzed=environments())
@example(fuzzed={"AWS_ENDPOINT_URL_STS": "http://127.0.0.1:99999"})
@example(fuzzed={"GCE_METADATA_HOST": "\x1b]0;owned\x07"})
@example(fuzzed={envvars.TIMEOUT: "1" * 5000})
@example(fuzzed={"AWS_CONFIG_FILE": "/dev/zero"})
@example(fuzzed={envvars.SESSION_POLICY: "@/dev/urandom"})
def test_any_environment_gives_credentials_or_one_clean_error(
    base: dict[str, str], fuzzed: dict[str, str]
) -> None:
    environ = {**base, **fuzzed}
    if environ.get(envvars.TIMEOUT, "3") != "3":
        environ.setdefault(envvars.NO_CACHE, "1")
    code, out, err = run_cli(environ)
    assert code in DOCUMENTED, (code, err)
    assert code != ExitCode.INTERNAL, err
    assert "Traceback" not in err
    assert not any(ch < " " and ch != "\n" for ch in err), repr(err)
    if code == 0:
        document = json.loads(out)
        assert document["Version"] == 1
        assert document["AccessKeyId"]
        return
    assert out == ""
    errors = [line for line in err.splitlines() if line.startswith("gcp2aws: error:")]
    assert len(errors) == 1, err
