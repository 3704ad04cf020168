"""Unit tests for gcp2aws.validation: ARNs, session names, durations, regions, policies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gcp2aws import validation
from gcp2aws.errors import ConfigError, ExitCode, UsageError


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::123456789012:role/gcp2aws",
        "arn:aws:iam::123456789012:role/path/to/my.role+x=y,z@w-1",
        "arn:aws-cn:iam::123456789012:role/r",
        "arn:aws-us-gov:iam::123456789012:role/r",
        "arn:aws-iso-b:iam::123456789012:role/r",
    ],
)
def test_role_arn_accepts_valid(arn: str) -> None:
    assert validation.role_arn(arn) == arn


@pytest.mark.parametrize(
    "arn",
    [
        "",
        "gcp2aws",
        "arn:aws:iam::12345:role/short-account",
        "arn:aws:iam::123456789012:role/",
        "arn:aws:iam::123456789012:role/has space",
        "arn:aws:s3:::bucket",
        "arn:gcp:iam::123456789012:role/x",
        "arn:aws:iam::123456789012:role/" + "x" * 65,
    ],
)
def test_role_arn_rejects_invalid(arn: str) -> None:
    with pytest.raises(UsageError) as info:
        validation.role_arn(arn)
    assert info.value.exit_code == ExitCode.USAGE
    assert "12-digit" in info.value.hint


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::123456789012:user/alice",
        "arn:aws:sts::123456789012:assumed-role/r/session",
    ],
)
def test_role_arn_hint_for_user_or_session(arn: str) -> None:
    with pytest.raises(UsageError) as info:
        validation.role_arn(arn)
    assert "not of a user or a session" in info.value.hint


@pytest.mark.parametrize(
    ("arn", "partition", "region"),
    [
        ("arn:aws:iam::123456789012:role/r", "aws", "us-east-1"),
        ("arn:aws-cn:iam::123456789012:role/r", "aws-cn", "cn-north-1"),
        ("arn:aws-us-gov:iam::123456789012:role/r", "aws-us-gov", "us-gov-west-1"),
        ("arn:aws-iso:iam::123456789012:role/r", "aws-iso", "us-iso-east-1"),
    ],
)
def test_partition_and_default_region(arn: str, partition: str, region: str) -> None:
    assert validation.partition_of(arn) == partition
    assert validation.default_region(arn) == region


def test_partition_of_garbage_is_aws() -> None:
    assert validation.partition_of("nonsense") == "aws"
    assert validation.default_region("nonsense") == "us-east-1"


@pytest.mark.parametrize("name", ["ab", "my-vm", "a.b@c=d,e+f_g-h", "x" * 64])
def test_session_name_accepts(name: str) -> None:
    assert validation.session_name(name) == name


@pytest.mark.parametrize("name", ["a", "", "has space", "x" * 65, "slash/", "ünï", "colon:"])
def test_session_name_rejects(name: str) -> None:
    with pytest.raises(UsageError, match="invalid role session name"):
        validation.session_name(name)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("demo-vm", "demo-vm"),
        ("my vm/name", "my-vm-name"),
        ("vm:üñí", "vm"),
        ("a", "a-gcp2aws"),
        ("", "gcp2aws"),
        ("---", "gcp2aws"),
        ("x" * 100, "x" * 64),
        (
            "a-very-long-service-account-name-that-goes-on@project.iam.gserviceaccount.com",
            "a-very-long-service-account-name-that-goes-on@project.iam.gservi",
        ),
    ],
)
def test_sanitize_session_name(raw: str, expected: str) -> None:
    assert validation.sanitize_session_name(raw) == expected


@given(st.text(max_size=200))
def test_sanitize_always_fits_sts_pattern(raw: str) -> None:
    cleaned = validation.sanitize_session_name(raw)
    assert validation.SESSION_NAME_RE.match(cleaned), cleaned
    assert 2 <= len(cleaned) <= 64


@pytest.mark.parametrize(("value", "seconds"), [("900", 900), ("3600", 3600), ("43200", 43200)])
def test_duration_accepts(value: str, seconds: int) -> None:
    assert validation.duration(value) == seconds


@pytest.mark.parametrize("value", ["899", "43201", "0", "-1", "1h", "", "3600.5"])
def test_duration_rejects(value: str) -> None:
    with pytest.raises(UsageError):
        validation.duration(value)


def test_positive_number_and_whole_seconds() -> None:
    assert validation.positive_number("0.5", name="timeout") == 0.5
    for bad in ("0", "-1", "abc", "86400"):
        with pytest.raises(UsageError, match="timeout"):
            validation.positive_number(bad, name="timeout")
    assert validation.whole_seconds("0", name="refresh window") == 0
    assert validation.whole_seconds("1200", name="refresh window") == 1200
    for bad in ("-1", "1.5", "x", "43201"):
        with pytest.raises(UsageError, match="refresh window"):
            validation.whole_seconds(bad, name="refresh window")


def test_audience() -> None:
    assert validation.audience("sts.amazonaws.com") == "sts.amazonaws.com"
    assert validation.audience("https://example.com/aud") == "https://example.com/aud"
    for bad in ("", "has space", "tab\there", "x" * 2049, "nl\n"):
        with pytest.raises(UsageError, match="invalid audience"):
            validation.audience(bad)


def test_region() -> None:
    for good in ("us-east-1", "cn-north-1", "us-gov-west-1", "ap-southeast-2", "eusc-de-east-1"):
        assert validation.region(good) == good
    for bad in ("", "us-east", "US-EAST-1", "us_east_1", "useast1"):
        with pytest.raises(UsageError, match="invalid region"):
            validation.region(bad)


def test_session_policy_is_compacted() -> None:
    doc = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    compact = validation.session_policy(json.dumps(doc, indent=4))
    assert " " not in compact
    assert json.loads(compact) == doc


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "no Statement"),
        ('{"Version": "2012-10-17"}', "no Statement"),
    ],
)
def test_session_policy_rejects(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        validation.session_policy(text)


def test_session_policy_too_long() -> None:
    statement = [{"Effect": "Allow", "Action": f"s3:Get{i}", "Resource": "*"} for i in range(60)]
    with pytest.raises(UsageError, match="STS accepts 2048") as info:
        validation.session_policy(json.dumps({"Statement": statement}))
    assert "--policy-arns" in info.value.hint


def test_policy_arns() -> None:
    arns = "arn:aws:iam::aws:policy/ReadOnlyAccess, arn:aws:iam::123456789012:policy/mine"
    assert validation.policy_arns(arns) == (
        "arn:aws:iam::aws:policy/ReadOnlyAccess",
        "arn:aws:iam::123456789012:policy/mine",
    )
    assert validation.policy_arns("") == ()
    with pytest.raises(UsageError, match="invalid policy ARN"):
        validation.policy_arns("arn:aws:iam::123456789012:role/not-a-policy")
    eleven = ",".join(f"arn:aws:iam::aws:policy/P{i}" for i in range(11))
    with pytest.raises(UsageError, match="at most 10"):
        validation.policy_arns(eleven)


# -- numbers are ASCII digits only ---------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        "\uff13\uff16\uff10\uff10",
        "\u0663\u0666\u0660\u0660",
        "3_600",
        " 3600",
        "3600 ",
        "+3600",
        "36.0",
    ],
)
def test_duration_takes_ascii_digits_only(value: str) -> None:
    with pytest.raises(UsageError, match="invalid duration"):
        validation.duration(value)


@pytest.mark.parametrize("value", ["\uff11.\uff15", "inf", "nan", "1e3", "-1", "", "."])
def test_positive_number_takes_ascii_decimals_only(value: str) -> None:
    with pytest.raises(UsageError):
        validation.positive_number(value, name="--timeout")


@pytest.mark.parametrize(("value", "number"), [("6", 6.0), ("2.5", 2.5), (".5", 0.5)])
def test_positive_number_accepts_plain_decimals(value: str, number: float) -> None:
    assert validation.positive_number(value, name="--timeout") == number


@pytest.mark.parametrize("value", ["\uff18\uff10", "65536", "-1", "80 ", ""])
def test_port_refuses(value: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - argparse turns it into a usage error
        validation.port(value)


def test_port_accepts() -> None:
    assert validation.port("0") == 0
    assert validation.port("65535") == 65535


# -- session policies that would exhaust the parser ---------------------------------------------
def test_a_deeply_nested_session_policy_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="not valid JSON"):
        validation.session_policy("[" * 30_000 + "]" * 30_000)


def test_a_huge_session_policy_is_refused_before_parsing() -> None:
    with pytest.raises(UsageError, match="characters; STS accepts"):
        validation.session_policy(" " * (validation.MAX_POLICY_TEXT + 1))


# -- the environment gcp2aws reads --------------------------------------------------------------
@pytest.mark.parametrize(
    "value", ["metadata.google.internal", "127.0.0.1:8080", "[::1]:8080", "localhost", "h-1.x"]
)
def test_metadata_host_accepts_host_and_port(value: str) -> None:
    assert validation.metadata_host(value, name="GCE_METADATA_HOST") == value


@pytest.mark.parametrize(
    "value",
    ["127.0.0.1:80/path", "http://127.0.0.1", "h\r\nX-Evil: 1", "a" * 5000, "h:port", "h:123456"],
)
def test_metadata_host_refuses_anything_else(value: str) -> None:
    with pytest.raises(ConfigError, match="is not a host or host:port") as caught:
        validation.metadata_host(value, name="GCE_METADATA_HOST")
    assert "\r" not in str(caught.value)
    assert "\n" not in str(caught.value)
    assert caught.value.exit_code == ExitCode.CONFIG


@pytest.mark.parametrize(
    "value", ["http://127.0.0.1:5000", "https://sts.us-east-1.amazonaws.com", "http://[::1]:9/"]
)
def test_endpoint_url_accepts(value: str) -> None:
    assert validation.endpoint_url(value, name="AWS_ENDPOINT_URL_STS") == value


@pytest.mark.parametrize(
    "value",
    [
        "sts.amazonaws.com",
        "ftp://x",
        "http://",
        "http://h:99999",
        "http://h\n",
        "http://h x",
        "http://é",
    ],
)
def test_endpoint_url_refuses(value: str) -> None:
    with pytest.raises(ConfigError, match="is not a usable endpoint"):
        validation.endpoint_url(value, name="AWS_ENDPOINT_URL_STS")


@pytest.mark.parametrize(
    ("check", "name"),
    [
        (validation.metadata_host, "GCE_METADATA_HOST"),
        (validation.endpoint_url, "AWS_ENDPOINT_URL"),
    ],
    ids=["metadata-host", "endpoint-url"],
)
@given(value=st.text(max_size=300))
def test_any_value_is_accepted_whole_or_a_printable_config_error(
    check: Any, name: str, value: str
) -> None:
    try:
        accepted = check(value, name=name)
    except ConfigError as exc:
        message = str(exc)
    else:
        assert accepted == value
        return
    assert message.isprintable()
