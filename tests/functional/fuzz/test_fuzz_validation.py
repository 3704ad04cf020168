"""Fuzz the validators and the settings loader: only UsageError escapes; what passes is valid."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gcp2aws import envvars, options, settings, validation
from gcp2aws.errors import UsageError

PARTITIONS = sorted(validation.PARTITION_DEFAULT_REGION)
NAME_CHARS = string.ascii_letters + string.digits + "_+=,.@-"
PRINTABLE = "".join(chr(c) for c in range(0x21, 0x7F))

# Characters that break naive validators: whitespace, controls, and Unicode digits and letters
# (ARABIC-INDIC ONE, SUPERSCRIPT TWO, e-acute, LONG S, KELVIN SIGN, LINE SEPARATOR).
UNICODE_TRAPS = ["\u0661", "\u00b2", "\u00e9", "\u017f", "\u212a", "\u2028"]
tricky_chars = st.sampled_from(
    ["\n", "\r", "\t", " ", "\x00", "\x7f", "/", ":", "*", *UNICODE_TRAPS]
)
garbage = st.one_of(
    st.text(max_size=120),
    st.text(alphabet=st.one_of(st.sampled_from(NAME_CHARS + ":/"), tricky_chars), max_size=120),
)

partitions = st.one_of(
    st.sampled_from(PARTITIONS),
    st.from_regex(r"aws(-[a-z]{1,6}){0,3}", fullmatch=True),
)
accounts = st.text(alphabet=string.digits, min_size=12, max_size=12)
role_names = st.text(alphabet=NAME_CHARS, min_size=1, max_size=64)
role_paths = st.one_of(
    st.just(""),
    st.text(alphabet=PRINTABLE, min_size=1, max_size=40).map(lambda p: p + "/"),
)


@st.composite
def role_arns(draw: st.DrawFn) -> tuple[str, str, str]:
    partition, account = draw(partitions), draw(accounts)
    arn = f"arn:{partition}:iam::{account}:role/{draw(role_paths)}{draw(role_names)}"
    return arn, partition, account


def _well_formed_role_arn(value: str) -> bool:
    """An independent oracle: ASCII only, no whitespace, the documented shape."""
    if not value.isascii() or any(c in value for c in string.whitespace):
        return False
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iam" or parts[3]:
        return False
    account, resource = parts[4], parts[5]
    if len(account) != 12 or not all(c in string.digits for c in account):
        return False
    if not resource.startswith("role/"):
        return False
    name = resource.rsplit("/", 1)[1]
    return 1 <= len(name) <= 64 and all(c in NAME_CHARS for c in name)


def _one_line(exc: UsageError) -> None:
    assert "\n" not in exc.one_line()


# -- role ARNs ------------------------------------------------------------------------------------
@given(role_arns())
def test_every_partition_role_arn_is_accepted_unchanged(data: tuple[str, str, str]) -> None:
    arn, partition, account = data
    assert validation.role_arn(arn) == arn
    assert validation.partition_of(arn) == partition
    match = validation.ROLE_ARN_RE.fullmatch(arn)
    assert match is not None
    assert match.group("account") == account
    expected_region = validation.PARTITION_DEFAULT_REGION.get(partition, "us-east-1")
    assert validation.default_region(arn) == expected_region
    assert validation.region(expected_region) == expected_region


@given(garbage)
@example("arn:aws:iam::123456789012:role/x\n")
@example(
    "arn:aws:iam::\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660\u0661\u0662:role/x"
)
@example("arn:aws:iam::123456789012:role/caf\u00e9")
@example("arn:aws:iam::123456789012:user/x")
def test_role_arn_garbage_raises_usage_error_or_is_well_formed(value: str) -> None:
    try:
        accepted = validation.role_arn(value)
    except UsageError as exc:
        _one_line(exc)
        return
    assert accepted == value
    assert _well_formed_role_arn(value), value


@given(role_arns(), st.integers(0, 200), tricky_chars)
def test_role_arn_with_a_tricky_character_inserted(
    data: tuple[str, str, str], where: int, char: str
) -> None:
    arn = data[0]
    where = min(where, len(arn))
    mutated = arn[:where] + char + arn[where:]
    try:
        validation.role_arn(mutated)
    except UsageError:
        return
    assert _well_formed_role_arn(mutated), mutated


# -- session names, durations, audiences, regions -------------------------------------------------
@given(st.one_of(garbage, st.text(alphabet=NAME_CHARS, max_size=70)))
@example("ab\n")
@example("\u017f\u017f")
def test_session_name_accepts_exactly_the_sts_pattern(value: str) -> None:
    expected = 2 <= len(value) <= 64 and all(c in NAME_CHARS for c in value)
    try:
        assert validation.session_name(value) == value
    except UsageError as exc:
        _one_line(exc)
        assert not expected, value
    else:
        assert expected, value


@given(st.one_of(garbage, st.integers(-(10**6), 10**6).map(str)))
@example("\u00b2")
@example("9" * 5000)
def test_duration_is_in_range_or_usage_error(value: str) -> None:
    try:
        seconds = validation.duration(value)
    except UsageError as exc:
        _one_line(exc)
        return
    assert validation.MIN_DURATION <= seconds <= validation.MAX_DURATION


@given(st.integers(validation.MIN_DURATION, validation.MAX_DURATION))
def test_duration_round_trips_every_valid_number(seconds: int) -> None:
    assert validation.duration(str(seconds)) == seconds


@given(garbage)
@example("\u00b2")
@example("nan")
@example("1e400")
def test_number_validators_raise_only_usage_error(value: str) -> None:
    for check in (validation.positive_number, validation.whole_seconds):
        try:
            number = check(value, name="timeout")
        except UsageError as exc:
            _one_line(exc)
            continue
        assert 0 <= number <= 86400


@given(st.one_of(garbage, st.text(min_size=1, max_size=3000)))
def test_audience_accepted_only_without_space_or_control(value: str) -> None:
    try:
        assert validation.audience(value) == value
    except UsageError as exc:
        _one_line(exc)
        return
    assert 0 < len(value) <= 2048
    assert not any(c.isspace() or ord(c) < 32 for c in value)


regions = st.from_regex(r"[a-z]{2,4}(-[a-z]{1,9}){1,3}-[0-9]{1,2}", fullmatch=True)


@given(st.one_of(garbage, regions))
@example("us-east-1\n")
@example("us-east-\u0661")
def test_region_is_ascii_and_well_formed(value: str) -> None:
    try:
        assert validation.region(value) == value
    except UsageError as exc:
        _one_line(exc)
        return
    assert value.isascii()
    assert value == value.strip()
    assert value[-1] in string.digits


# -- session policies and policy ARNs -------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
policy_documents = st.fixed_dictionaries(
    {"Statement": json_values}, optional={"Version": st.text(max_size=12)}
)


@given(st.one_of(garbage, json_values.map(json.dumps), policy_documents.map(json.dumps)))
@example('{"Statement": []}')
@example("[]")
@example('{"Statement": NaN}')
def test_session_policy_compacts_without_changing_meaning(text: str) -> None:
    try:
        compact = validation.session_policy(text)
    except UsageError as exc:
        _one_line(exc)
        return
    assert len(compact) <= validation.MAX_SESSION_POLICY_CHARS
    assert json.loads(compact) == json.loads(text)
    assert validation.session_policy(compact) == compact  # idempotent


policy_arns_text = st.lists(
    st.one_of(
        st.builds(
            lambda p, a, n: f"arn:{p}:iam::{a}:policy/{n}",
            partitions,
            st.one_of(accounts, st.just("aws")),
            st.text(alphabet=PRINTABLE.replace(",", ""), min_size=1, max_size=30),
        ),
        garbage,
    ),
    max_size=12,
).map(",".join)


@given(policy_arns_text)
def test_policy_arns_are_well_formed_or_usage_error(value: str) -> None:
    try:
        arns = validation.policy_arns(value)
    except UsageError as exc:
        _one_line(exc)
        return
    assert len(arns) <= validation.MAX_POLICY_ARNS
    for arn in arns:
        assert arn.isascii()
        assert arn == arn.strip()
        assert ":policy/" in arn


@given(st.text(max_size=80))
def test_sanitize_session_name_is_idempotent(raw: str) -> None:
    once = validation.sanitize_session_name(raw)
    assert validation.sanitize_session_name(once) == once
    assert validation.session_name(once) == once


# -- the whole settings loader --------------------------------------------------------------------
DESTS = [dest for dest, *_ in options.OPTIONS]
ENV_NAMES = [env for _, _, env, _, _ in options.OPTIONS]
cli_values = st.one_of(st.none(), st.booleans(), garbage)


@given(
    cli=st.dictionaries(st.sampled_from(DESTS), cli_values, max_size=6),
    environ=st.dictionaries(
        st.sampled_from([*ENV_NAMES, envvars.GOOGLE_APPLICATION_CREDENTIALS]),
        garbage.map(lambda s: s.replace("\x00", "")),
        max_size=6,
    ),
)
def test_settings_load_raises_only_usage_errors(
    cli: dict[str, Any], environ: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    environ = {**environ, "HOME": str(tmp_path_factory.getbasetemp())}
    try:
        loaded = settings.load(cli, environ)
    except UsageError as exc:
        _one_line(exc)
        return
    if loaded.role_arn is not None:
        assert _well_formed_role_arn(loaded.role_arn)


@pytest.mark.parametrize(
    "content", [b"\xff\xfe not utf-8", b'{"Statement": []', b"", b"\x00"], ids=repr
)
def test_session_policy_file_contents_give_usage_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "policy.json"
    path.write_bytes(content)
    with pytest.raises(UsageError):
        settings.load({"session_policy": f"@{path}"}, {"HOME": str(tmp_path)})


@given(st.text(max_size=40))
@example("\x00")
def test_session_policy_file_path_gives_usage_error(path: str) -> None:
    with pytest.raises(UsageError):
        settings.load({"session_policy": f"@/nonexistent-gcp2aws/{path}"}, {"HOME": "/"})
