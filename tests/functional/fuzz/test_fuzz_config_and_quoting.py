"""Fuzz the AWS config editor on garbage files, small parsers, and shell quoting of raw bytes."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from gcp2aws.awsconfig import profile as awsconfig
from gcp2aws.delivery import server_auth, shellenv
from gcp2aws.errors import ConfigError, Gcp2AwsError, UsageError
from gcp2aws.idtoken.command import split as split_token_command
from tests.support import fuzz_budget as budget

# -- AWS config files: arbitrary text, not only well-formed files ------------------------------
well_formed_lines = st.sampled_from(
    [
        "[default]",
        "[profile gcp]",
        "[profile  gcp]",
        "[profile gcp] ; c",
        "  [profile gcp]",
        "[sso-session gcp]",
        "[gcp]",
        "credential_process = old",
        "credential_process=",
        "region = us-east-1",
        "  nested = x",
        "\tregion = y",
        "# comment",
        "; comment",
        "",
        " ",
    ]
)
odd_lines = st.one_of(
    st.sampled_from(["[ profile gcp ]", "[profile gcp", "=", "[", "]", "\x0c", "\u2028"]),
    st.text(alphabet="[]=:#; \tabcgpr_-\u00e9\u2028\x0b\x0c\x1c\x85", max_size=20),
)
# Mostly lines botocore reads, so the idempotence check below runs often; some garbage.
config_lines = st.one_of(well_formed_lines, well_formed_lines, well_formed_lines, odd_lines)
config_texts = st.builds(
    lambda lines, eols: "".join(line + eol for line, eol in zip(lines, eols, strict=False)),
    st.builds(
        lambda first, rest: [*first, *rest],
        st.lists(st.sampled_from(["[profile gcp]", "[default]", "[profile x]"]), max_size=1),
        st.lists(config_lines, max_size=11),
    ),
    st.lists(st.sampled_from(["\n"] * 6 + ["\r\n"] * 3 + ["\r", ""]), min_size=12, max_size=12),
)
profiles = st.sampled_from(["gcp", "gcp", "default", "other"])
new_settings = st.dictionaries(
    st.sampled_from(["credential_process", "region", "output"]),
    st.text(alphabet=st.characters(exclude_categories=["Cs", "Cc", "Zl", "Zp"]), max_size=15)
    .map(str.strip)
    .filter(bool),
    min_size=1,
    max_size=3,
)


@given(config_texts, profiles, new_settings)
@example("[profile gcp]\r\nregion = a\r", "gcp", {"region": "b"})
@example("[profile gcp]\n\x0cregion = a\n", "gcp", {"region": "b"})
@example("[profile gcp]\n\u2028region = a\n", "gcp", {"credential_process": "x"})
def test_upsert_on_any_text_keeps_outside_bytes_and_is_idempotent(
    text: str, profile: str, settings: dict[str, str]
) -> None:
    try:
        after = awsconfig.upsert_profile(text, profile, settings)
    except (UsageError, ConfigError) as exc:
        _one_line(exc)
        return
    before_section = awsconfig.find_profile(text, profile)
    if before_section is None:
        assert after.startswith(text)
    else:
        assert after[: before_section.start] == text[: before_section.start]
        assert after.endswith(text[before_section.end :])
    readable = _botocore_reads(text)
    event(f"botocore reads it: {readable}; profile present: {before_section is not None}")
    if readable:
        # A file botocore refuses (a stray "[" line) has no meaning to keep: only its bytes
        # outside the profile are promised to survive.
        assert awsconfig.read_profile(after, profile).items() >= settings.items()
        assert awsconfig.upsert_profile(after, profile, settings) == after
        assert awsconfig.diff_profile(after, profile, settings) == []


def _botocore_reads(text: str) -> bool:
    from botocore.configloader import raw_config_parse
    from botocore.exceptions import ConfigParseError

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "config")
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            raw_config_parse(str(path), parse_subsections=False)
        except (ConfigParseError, UnicodeDecodeError):
            return False
    return True


def _one_line(exc: Gcp2AwsError) -> None:
    assert "\n" not in exc.one_line()


@given(st.text(max_size=60))
@example("'unbalanced")
@example("trailing\\")
def test_credential_process_parsing_raises_only_config_error(value: str) -> None:
    try:
        words = awsconfig.parse_credential_process(value)
    except ConfigError as exc:
        _one_line(exc)
        return
    assert words == shlex.split(value)


@given(st.text(max_size=40))
def test_profile_names_either_round_trip_or_usage_error(name: str) -> None:
    try:
        header = awsconfig.section_header(name)
    except UsageError as exc:
        _one_line(exc)
        return
    text = awsconfig.upsert_profile("", name, {"region": "us-east-1"})
    assert text.startswith(header)
    assert awsconfig.read_profile(text, name) == {"region": "us-east-1"}


@given(st.text(max_size=60))
@example("a 'b")
@example("")
def test_token_command_split_raises_only_usage_error(command: str) -> None:
    try:
        argv = split_token_command(command)
    except UsageError as exc:
        _one_line(exc)
        return
    assert argv == shlex.split(command)
    assert argv


# -- serve's address and token checks --------------------------------------------------------------
@given(st.one_of(st.text(max_size=45), st.ip_addresses().map(str)))
@example("[::1]")
@example("127.1")
@example("localhost.")
@example("0.0.0.0")  # noqa: S104 - refused, as it should be
def test_bind_address_check_raises_only_usage_error(host: str) -> None:
    try:
        bound = server_auth.check_bind_address(host, allow_non_loopback=False)
    except UsageError as exc:
        _one_line(exc)
        return
    assert server_auth.is_loopback(bound)


@given(st.one_of(st.none(), st.text(max_size=80)))
def test_token_comparison_never_raises(presented: str | None) -> None:
    expected = server_auth.new_token()
    assert server_auth.token_matches(expected.encode(), presented) is (presented == expected)
    assert server_auth.token_matches(expected.encode(), expected)


# -- shell quoting of raw bytes ------------------------------------------------------------------
# Secrets are text, covered in tests/unit/delivery/test_shellenv.py. An environment holds bytes,
# though, and Python hands undecodable ones over as surrogate escapes: those must survive eval too.
env_bytes = st.binary(max_size=40).map(lambda b: b.replace(b"\x00", b""))
SHELLS = [s for s in ("bash", "dash") if shutil.which(s)]


def _eval(argv: list[str], script: bytes, names: list[str]) -> list[bytes]:
    printer = "; ".join(f'printf "%s\\0" "${n}"' for n in names)
    reader = "cat | source" if argv[0] == "fish" else 'eval "$(cat)"'
    proc = subprocess.run(
        [*argv, f"{reader}; {printer}"],
        input=script,
        capture_output=True,
        check=True,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
    )
    return proc.stdout.split(b"\0")[:-1]


def _render(values: dict[str, bytes], fmt: str) -> bytes:
    text = {k: v.decode("utf-8", "surrogateescape") for k, v in values.items()}
    return shellenv.render(text, fmt).encode("utf-8", "surrogateescape")


@pytest.mark.parametrize("shell", SHELLS)
@budget.shell_budget
@given(a=env_bytes, b=env_bytes)
@example(a=b"\xff\xfe'\\", b=b"$(id)`id`\n")
def test_sh_eval_gives_back_the_exact_bytes(shell: str, a: bytes, b: bytes) -> None:
    script = _render({"A": a, "B": b}, "sh")
    assert _eval([shell, "-c"], script, ["A", "B"]) == [a, b]


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
@budget.shell_budget
@given(a=env_bytes)
@example(a=b"\xff\xfe'\\")
def test_fish_source_gives_back_the_exact_bytes(a: bytes) -> None:
    script = _render({"A": a}, "fish")
    assert _eval(["fish", "--no-config", "-c"], script, ["A"]) == [a]
