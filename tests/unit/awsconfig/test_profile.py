"""Tests for gcp2aws.awsconfig: byte-preserving profile edits, checked against botocore."""

from __future__ import annotations

import os
import shlex
import stat
import sys
import tempfile
from pathlib import Path

import botocore.session
import pytest
from botocore.configloader import build_profile_map, raw_config_parse
from botocore.exceptions import ConfigParseError
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from gcp2aws.awsconfig.file import backup_path, config_path, read_config, write_config
from gcp2aws.awsconfig.profile import (
    credential_process_command,
    diff_profile,
    find_profile,
    parse_credential_process,
    read_profile,
    section_header,
    upsert_profile,
)
from gcp2aws.errors import ConfigError, UsageError

CP = "gcp2aws credentials --role-arn arn:aws:iam::123456789012:role/r"

BIG_CONFIG = """\
# Managed by hand. Do not reorder.
; another comment style

[default]
region = us-east-1
output=json

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = eu-west-1
sso_registration_scopes = sso:account:access

# production account
[profile prod]
sso_session = corp
sso_account_id = 111122223333
sso_role_name = Admin
s3 =
  max_concurrent_requests = 20
  addressing_style = path

[services local-s3]
s3 =
  endpoint_url = http://127.0.0.1:9000

[profile gcp]
# role used by the Google workloads
region: eu-west-1
credential_process = old-helper --flag
   ; trailing comment in the section
; comment that introduces the next section
[profile zzz]
region = ap-south-1
"""


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty directory of our own (tmp_path also holds the fake HOME)."""
    path = tmp_path / "work"
    path.mkdir()
    return path


def botocore_sections(text: str, *, nested: bool = True) -> dict[str, dict[str, object]]:
    """What botocore's own loader reads from ``text``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "config")
        path.write_bytes(text.encode("utf-8"))
        parsed: dict[str, dict[str, object]] = raw_config_parse(str(path), parse_subsections=nested)
        return parsed


def botocore_profiles(text: str) -> dict[str, dict[str, object]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "config")
        path.write_bytes(text.encode("utf-8"))
        session = botocore.session.Session()
        session.set_config_variable("config_file", str(path))
        profiles: dict[str, dict[str, object]] = session.full_config["profiles"]
        return profiles


def assert_outside_unchanged(before: str, after: str, profile: str) -> None:
    section = find_profile(before, profile)
    if section is None:
        assert after.startswith(before)
        return
    tail = before[section.end :]
    assert after[: section.start] == before[: section.start]
    assert after.endswith(tail)
    assert len(after) - len(tail) >= section.start


# --- paths and names ------------------------------------------------------------------


def test_config_path_defaults_to_home() -> None:
    assert config_path({"HOME": "/h"}) == Path("/h/.aws/config")


def test_config_path_expands_aws_config_file() -> None:
    env = {"HOME": "/h", "AWS_CONFIG_FILE": "~/cfg/$STAGE/config", "STAGE": "dev"}
    assert config_path(env) == Path("/h/cfg/dev/config")
    assert config_path({"AWS_CONFIG_FILE": "/etc/aws/${X}", "X": "c"}) == Path("/etc/aws/c")
    # An unknown variable stays as written, as os.path.expandvars leaves it.
    assert config_path({"AWS_CONFIG_FILE": "/a/$NOPE"}) == Path("/a/$NOPE")


def test_config_path_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", "/somewhere/config")
    assert config_path() == Path("/somewhere/config")


def test_section_header() -> None:
    assert section_header("default") == "[default]"
    assert section_header("gcp-prod.1@x") == "[profile gcp-prod.1@x]"


@pytest.mark.parametrize(
    "name", ["", " x", "x ", "a]b", "a[b", "a\nb", "a\rb", "a b", "a'b", 'a"b', "a\\b", "a\tb"]
)
def test_section_header_rejects_names_botocore_would_misread(name: str) -> None:
    with pytest.raises(UsageError):
        section_header(name)
    with pytest.raises(UsageError):
        upsert_profile("", name, {"region": "x"})


# --- finding and reading ----------------------------------------------------------------


def test_find_profile_offsets_cover_header_to_next_header() -> None:
    section = find_profile(BIG_CONFIG, "gcp")
    assert section is not None
    chunk = BIG_CONFIG[section.start : section.end]
    assert chunk.startswith("[profile gcp]\n")
    assert chunk.endswith("; comment that introduces the next section\n")
    assert BIG_CONFIG[section.end :].startswith("[profile zzz]")


def test_find_profile_matches_headers_like_botocore() -> None:
    text = '[gcp]\na = 1\n[profile   gcp ]\nb = 2\n[profile "q"]\nc = 3\n[sso-session gcp]\n'
    section = find_profile(text, "gcp")
    assert section is not None
    assert section.header == "profile   gcp "
    assert read_profile(text, "gcp") == {"b": "2"}
    assert read_profile(text, "q") == {"c": "3"}
    # "[gcp]" is not a profile in the config file, and sso-session names are not profiles.
    profiles = botocore_profiles(text)
    assert profiles["gcp"] == {"b": "2"}
    assert profiles["q"] == {"c": "3"}


def test_find_profile_default_forms_and_last_one_wins() -> None:
    text = "[default]\nregion = a\n\n[profile default]\nregion = b\n"
    assert read_profile(text, "default") == {"region": "b"}
    assert botocore_profiles(text)["default"] == {"region": "b"}
    assert find_profile("[profile default]\nx=1\n", "default") is not None


def test_indented_header_inside_a_value_is_not_a_header() -> None:
    text = "[profile a]\ns3 =\n  [profile b]\n"
    assert find_profile(text, "b") is None
    assert read_profile(text, "a") == {"s3": "\n[profile b]"}
    assert botocore_sections(text, nested=False) == {"profile a": {"s3": "\n[profile b]"}}


def test_read_profile_matches_botocore_for_every_section() -> None:
    parsed = botocore_sections(BIG_CONFIG, nested=False)
    assert read_profile(BIG_CONFIG, "prod") == parsed["profile prod"]
    assert read_profile(BIG_CONFIG, "gcp") == {
        "region": "eu-west-1",
        "credential_process": "old-helper --flag",
    }
    assert read_profile(BIG_CONFIG, "default") == {"region": "us-east-1", "output": "json"}
    assert read_profile(BIG_CONFIG, "missing") == {}
    assert read_profile("[profile a]\nRegion = x\n", "a") == {"region": "x"}


# --- upsert ---------------------------------------------------------------------------------


def test_upsert_existing_profile_rewrites_in_place_and_keeps_comments() -> None:
    after = upsert_profile(BIG_CONFIG, "gcp", {"credential_process": CP, "output": "json"})
    expected = BIG_CONFIG.replace(
        "credential_process = old-helper --flag\n",
        f"credential_process = {CP}\noutput = json\n",
    )
    assert after == expected
    assert_outside_unchanged(BIG_CONFIG, after, "gcp")
    profiles = botocore_profiles(after)
    assert profiles["gcp"] == {"region": "eu-west-1", "credential_process": CP, "output": "json"}
    before_profiles = botocore_profiles(BIG_CONFIG)
    for name in ("default", "prod", "zzz"):
        assert profiles[name] == before_profiles[name]


def test_upsert_keeps_the_key_spelling_and_delimiter_of_the_line() -> None:
    text = "[profile a]\n  Credential_Process=old # not a comment\nregion=x\n"
    after = upsert_profile(text, "a", {"credential_process": "new", "region": "x"})
    assert after == "[profile a]\n  Credential_Process=new\nregion=x\n"


def test_upsert_empty_value_gets_a_space() -> None:
    assert upsert_profile("[default]\nregion =\n", "default", {"region": "r"}) == (
        "[default]\nregion = r\n"
    )


def test_upsert_replaces_a_multiline_value() -> None:
    text = "[profile a]\ncredential_process =\n   old\n\n   args\n# keep me\nregion = x\n"
    assert read_profile(text, "a")["credential_process"] == "\nold\n\nargs"
    after = upsert_profile(text, "a", {"credential_process": "new"})
    assert after == "[profile a]\ncredential_process = new\n\n# keep me\nregion = x\n"
    assert botocore_profiles(after)["a"] == {"credential_process": "new", "region": "x"}


def test_upsert_appends_missing_key_after_last_setting_and_its_continuation() -> None:
    text = "[profile a]\nregion = x\ns3 =\n  k = v\n\n# about b\n[profile b]\n"
    after = upsert_profile(text, "a", {"credential_process": "cp"})
    assert after == (
        "[profile a]\nregion = x\ns3 =\n  k = v\ncredential_process = cp\n"
        "\n# about b\n[profile b]\n"
    )


def test_upsert_added_key_does_not_swallow_an_indented_next_header() -> None:
    # configparser would read "  [profile b]" as a continuation of a line added at column 0.
    text = "[profile a]\n  [profile b]\nregion = x\n"
    after = upsert_profile(text, "a", {"credential_process": "cp"})
    assert after == "[profile a]\n  credential_process = cp\n  [profile b]\nregion = x\n"
    assert botocore_profiles(after) == {"a": {"credential_process": "cp"}, "b": {"region": "x"}}
    indented = "[profile a]\n  region = r\n  [profile b]\n"
    after = upsert_profile(indented, "a", {"output": "json"})
    assert after == "[profile a]\n  region = r\n  output = json\n  [profile b]\n"
    assert botocore_profiles(after)["b"] == {}


def test_upsert_empty_section_and_header_without_newline() -> None:
    assert upsert_profile("[profile a]", "a", {"region": "x"}) == "[profile a]\nregion = x\n"
    assert upsert_profile("[profile a]\n", "a", {"region": "x"}) == "[profile a]\nregion = x\n"


def test_upsert_new_profile_appended_after_one_blank_line() -> None:
    after = upsert_profile(BIG_CONFIG, "new", {"credential_process": CP})
    assert after == BIG_CONFIG + f"\n[profile new]\ncredential_process = {CP}\n"
    assert upsert_profile("", "default", {"region": "x"}) == "[default]\nregion = x\n"
    # Already one blank line at the end: no second one.
    assert upsert_profile("[a]\nb = c\n\n", "n", {"k": "v"}) == "[a]\nb = c\n\n[profile n]\nk = v\n"


def test_upsert_missing_trailing_newline() -> None:
    text = "# c\n[default]\nregion = x"
    after = upsert_profile(text, "gcp", {"credential_process": CP})
    assert after == text + f"\n\n[profile gcp]\ncredential_process = {CP}\n"
    assert botocore_profiles(after)["default"] == {"region": "x"}
    # The edited profile is the last one and has no trailing newline.
    after = upsert_profile(text, "default", {"credential_process": CP})
    assert after == f"# c\n[default]\nregion = x\ncredential_process = {CP}\n"
    after = upsert_profile(text, "default", {"region": "y"})
    assert after == "# c\n[default]\nregion = y"


def test_upsert_crlf_file_stays_crlf() -> None:
    text = BIG_CONFIG.replace("\n", "\r\n")
    for profile in ("gcp", "new", "default"):
        after = upsert_profile(text, profile, {"credential_process": CP, "zz_extra": "1"})
        assert "\n" not in after.replace("\r\n", "")
        assert_outside_unchanged(text, after, profile)
        assert botocore_profiles(after)[profile]["credential_process"] == CP
        assert upsert_profile(after, profile, {"credential_process": CP}) == after


def test_upsert_uses_the_dominant_line_ending() -> None:
    mostly_crlf = "[a]\r\nx = 1\r\ny = 2\n"
    assert (
        upsert_profile(mostly_crlf, "n", {"k": "v"}) == mostly_crlf + "\r\n[profile n]\r\nk = v\r\n"
    )


def test_upsert_identical_profile_is_a_no_op() -> None:
    once = upsert_profile(BIG_CONFIG, "gcp", {"credential_process": CP})
    assert upsert_profile(once, "gcp", {"credential_process": CP}) == once
    assert diff_profile(once, "gcp", {"credential_process": CP}) == []
    odd_spacing = "[profile a]\ncredential_process=x   \n"
    assert upsert_profile(odd_spacing, "a", {"credential_process": "x"}) == odd_spacing
    assert upsert_profile(odd_spacing, "a", {}) == odd_spacing


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Region", "x"),
        ("a b", "x"),
        ("a=b", "x"),
        ("", "x"),
        ("k", "a\nb"),
        ("k", " x"),
        ("k", "x\r"),
    ],
)
def test_upsert_rejects_keys_and_values_that_would_not_read_back(key: str, value: str) -> None:
    with pytest.raises(UsageError):
        upsert_profile("", "a", {key: value})


def test_diff_profile() -> None:
    assert diff_profile(BIG_CONFIG, "gcp", {"credential_process": CP, "region": "eu-west-1"}) == [
        ("credential_process", "old-helper --flag", CP)
    ]
    assert diff_profile(BIG_CONFIG, "nope", {"region": "r"}) == [("region", None, "r")]


# --- writing the file -------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_config_creates_directory_0700_and_file_0600(tmp_path: Path) -> None:
    path = tmp_path / "home" / ".aws" / "config"
    text = upsert_profile(read_config(path), "gcp", {"credential_process": CP})
    assert write_config(path, text) == path
    assert path.read_bytes() == text.encode()
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    assert not backup_path(path).exists()
    assert sorted(p.name for p in path.parent.iterdir()) == ["config"]


def test_write_config_keeps_mode_and_writes_backup(workdir: Path) -> None:
    path = workdir / "config"
    path.write_bytes(BIG_CONFIG.encode())
    path.chmod(0o644)
    new = upsert_profile(read_config(path), "gcp", {"credential_process": CP})
    assert write_config(path, new) == path
    assert path.read_text() == new
    assert _mode(path) == 0o644
    bak = backup_path(path)
    assert bak.read_text() == BIG_CONFIG
    assert _mode(bak) == 0o644
    assert sorted(p.name for p in workdir.iterdir()) == ["config", "config.bak"]


def test_write_config_without_backup(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("[default]\n")
    assert write_config(path, "[default]\nregion = x\n", backup=False) == path
    assert not backup_path(path).exists()


def test_write_config_unchanged_does_nothing(tmp_path: Path) -> None:
    path = tmp_path / "config"
    text = upsert_profile(BIG_CONFIG, "gcp", {"credential_process": CP})
    path.write_bytes(text.encode())
    os.utime(path, (1_000_000, 1_000_000))
    again = upsert_profile(read_config(path), "gcp", {"credential_process": CP})
    assert write_config(path, again) is None
    assert path.stat().st_mtime == 1_000_000
    assert not backup_path(path).exists()


def test_write_config_preserves_crlf_and_non_utf8_bytes(tmp_path: Path) -> None:
    path = tmp_path / "config"
    original = b"# caf\xe9 latin-1 comment\r\n[default]\r\nregion = x\r\n"
    path.write_bytes(original)
    text = read_config(path)
    assert write_config(path, upsert_profile(text, "gcp", {"credential_process": CP})) == path
    assert (
        path.read_bytes()
        == original + f"\r\n[profile gcp]\r\ncredential_process = {CP}\r\n".encode()
    )


def test_write_config_read_only_file(workdir: Path) -> None:
    path = workdir / "config"
    path.write_bytes(BIG_CONFIG.encode())
    path.chmod(0o444)
    with pytest.raises(ConfigError) as info:
        write_config(path, "[default]\n")
    assert info.value.one_line() == (
        f"cannot write {path}: permission denied. "
        "Fix its permissions or pass --print to see the lines to add"
    )
    assert "\n" not in info.value.one_line()
    assert path.read_bytes() == BIG_CONFIG.encode()
    assert _mode(path) == 0o444
    assert sorted(p.name for p in workdir.iterdir()) == ["config"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_write_config_read_only_directory(tmp_path: Path) -> None:
    directory = tmp_path / "aws"
    directory.mkdir()
    path = directory / "config"
    path.write_text("[default]\n")
    directory.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="permission denied"):
            write_config(path, "[default]\nregion = x\n")
        assert path.read_text() == "[default]\n"
        assert sorted(p.name for p in directory.iterdir()) == ["config"]
    finally:
        directory.chmod(0o700)


def test_write_config_failed_replace_leaves_no_temp_file(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = workdir / "config"
    path.write_text("[default]\n")

    def refuse(src: str, dst: str, **_dir_fds: int) -> None:
        raise PermissionError(13, "Permission denied", dst)

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(ConfigError, match="permission denied"):
        write_config(path, "[default]\nregion = x\n", backup=False)
    assert path.read_text() == "[default]\n"
    assert sorted(p.name for p in workdir.iterdir()) == ["config"]


def test_write_config_parent_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "aws").write_text("")
    with pytest.raises(ConfigError, match="cannot write"):
        write_config(tmp_path / "aws" / "config", "[default]\n")


def test_write_config_writes_through_symlink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # a user's dotfiles (root: --force)
    real = tmp_path / "dotfiles" / "aws-config"
    real.parent.mkdir()
    real.write_text("[default]\n")
    link = tmp_path / "config"
    link.symlink_to(real)
    assert write_config(link, "[default]\nregion = x\n") == real
    assert link.is_symlink()
    assert real.read_text() == "[default]\nregion = x\n"
    assert backup_path(link).read_text() == "[default]\n"
    assert not backup_path(real).exists()


def test_read_config_missing_and_unreadable(tmp_path: Path) -> None:
    assert read_config(tmp_path / "nope") == ""
    with pytest.raises(ConfigError, match="cannot read"):
        read_config(tmp_path)  # a directory


def test_botocore_session_reads_the_written_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config"
    path.write_bytes(BIG_CONFIG.replace("\n", "\r\n").encode())
    write_config(path, upsert_profile(read_config(path), "gcp", {"credential_process": CP}))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(path))
    session = botocore.session.Session(profile="gcp")
    assert session.get_scoped_config()["credential_process"] == CP
    assert session.get_scoped_config()["region"] == "eu-west-1"
    prod = botocore.session.Session(profile="prod").get_scoped_config()
    assert prod["s3"] == {"max_concurrent_requests": "20", "addressing_style": "path"}
    assert botocore.session.Session().full_config["sso_sessions"]["corp"]["sso_region"] == (
        "eu-west-1"
    )


# --- credential_process ---------------------------------------------------------------------


def test_credential_process_command_quotes_only_when_needed() -> None:
    assert credential_process_command("/usr/bin/gcp2aws", ["credentials", "--role-arn", "a:b"]) == (
        "/usr/bin/gcp2aws credentials --role-arn a:b"
    )
    assert credential_process_command("/opt/my tools/gcp2aws", ["it's"]) == (
        "'/opt/my tools/gcp2aws' 'it'\"'\"'s'"
    )
    assert parse_credential_process("'/opt/my tools/x' a") == ["/opt/my tools/x", "a"]


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\x00b"])
def test_credential_process_command_rejects_line_breaks(bad: str) -> None:
    with pytest.raises(UsageError):
        credential_process_command("x", [bad])


def test_parse_credential_process_unbalanced_quote() -> None:
    with pytest.raises(ConfigError, match="not valid shell syntax"):
        parse_credential_process("gcp2aws 'oops")


def test_botocore_runs_the_quoted_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    weird = tmp_path / "dir with 'quotes' & spaces"
    weird.mkdir()
    script = weird / "helper.py"
    payload = {
        "Version": 1,
        "AccessKeyId": "AKIDEXAMPLE",
        "SecretAccessKey": "s",
        "SessionToken": "t",
    }
    script.write_text(
        "import json, sys\n"
        "assert sys.argv[1:] == ['a b', '\"q\"', 'é ünï'], sys.argv\n"
        f"print(json.dumps({payload!r}))\n"
    )
    command = credential_process_command(sys.executable, [str(script), "a b", '"q"', "é ünï"])
    path = tmp_path / "config"
    write_config(path, upsert_profile("", "gcp", {"credential_process": command}))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(path))
    credentials = botocore.session.Session(profile="gcp").get_credentials()
    assert credentials is not None
    assert credentials.access_key == "AKIDEXAMPLE"


# --- properties ---------------------------------------------------------------------------------

# Any text but what no config line can hold (the command rejects those).
_arguments = st.text(alphabet=st.characters(exclude_characters="\r\n\x00", codec="utf-8"))
_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=8)
_values = st.text(
    alphabet=st.characters(exclude_categories=["Cs", "Cc", "Zl", "Zp"]), max_size=20
).map(str.strip)
_comment = st.builds(
    lambda prefix, body, indent: indent + prefix + body,
    st.sampled_from(["#", ";"]),
    _values,
    st.sampled_from(["", "  "]),
)
_blank = st.sampled_from(["", "  ", "\t"])


@st.composite
def _option_lines(draw: st.DrawFn, key: str) -> list[str]:
    form = draw(st.sampled_from(["{k} = {v}", "{k}={v}", "{k}: {v}", "{k} =  {v}  ", " {k} = {v}"]))
    lines = [form.format(k=key, v=draw(_values))]
    if draw(st.booleans()) and draw(st.booleans()):
        lines = [f"{key} ="]  # a nested block, maybe with blank lines and comments inside
        for sub in draw(st.lists(_names, min_size=1, max_size=3, unique=True)):
            lines.extend(draw(st.lists(st.one_of(_comment, _blank), max_size=1)))
            lines.append(f"  {sub} = {draw(_values)}")
    return lines


@st.composite
def _config_texts(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A config file botocore can read, and the profile names it defines."""
    names = draw(st.lists(_names, max_size=5, unique=True))
    profiles: list[str] = []
    out: list[str] = draw(st.lists(st.one_of(_comment, _blank), max_size=2))
    for name in names:
        kind = draw(st.sampled_from(["profile", "profile2", "default", "sso", "services", "bare"]))
        if kind == "default" and "default" in profiles:
            kind = "profile"
        header = (
            draw(st.sampled_from(["", "  "]))
            + {
                "profile": f"[profile {name}]",
                "profile2": f"[profile   {name}]",
                "default": "[default]",
                "sso": f"[sso-session {name}]",
                "services": f"[services {name}]",
                "bare": f"[{name}]",
            }[kind]
            + draw(st.sampled_from(["", "  ", " ; note", " # [x]"]))
        )
        if kind in ("profile", "profile2"):
            profiles.append(name)
        elif kind == "default":
            profiles.append("default")
        out.append(header)
        keys = draw(
            st.lists(
                st.sampled_from(
                    ["region", "output", "credential_process", "s3", "sso_session", "x_y"]
                ),
                unique=True,
            )
        )
        for key in keys:
            out.extend(draw(st.lists(st.one_of(_comment, _blank), max_size=2)))
            out.extend(draw(_option_lines(key)))
        out.extend(draw(st.lists(st.one_of(_comment, _blank), max_size=2)))
    eol = draw(st.sampled_from(["\n", "\r\n", "mixed"]))
    if eol == "mixed":
        text = "".join(line + draw(st.sampled_from(["\n", "\r\n"])) for line in out)
    else:
        text = "".join(line + eol for line in out)
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    return text, profiles


_settings = st.dictionaries(
    st.sampled_from(["credential_process", "region", "output", "s3", "new_key"]),
    _values.filter(bool),
    min_size=1,
    max_size=3,
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=_config_texts(), new_settings=_settings, pick=st.integers(0, 10))
def test_property_upsert_keeps_outside_bytes_and_is_idempotent(
    data: tuple[str, list[str]], new_settings: dict[str, str], pick: int
) -> None:
    text, profiles = data
    profile = profiles[pick] if pick < len(profiles) else "target"
    after = upsert_profile(text, profile, new_settings)
    assert_outside_unchanged(text, after, profile)
    assert upsert_profile(after, profile, new_settings) == after
    assert diff_profile(after, profile, new_settings) == []
    assert read_profile(after, profile).items() >= new_settings.items()


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=_config_texts(), new_settings=_settings, pick=st.integers(0, 10))
def test_property_botocore_agrees(
    data: tuple[str, list[str]], new_settings: dict[str, str], pick: int
) -> None:
    text, profiles = data
    profile = profiles[pick] if pick < len(profiles) else "target"
    try:
        before = botocore_sections(text, nested=False)
    except ConfigParseError:
        reject()  # an indented header or option became a continuation and broke the file
    # Our reader sees what botocore sees, for every profile in the file and only those.
    seen = build_profile_map(before)["profiles"]
    for name in set(profiles) | set(seen):
        section = find_profile(text, name)
        if name not in seen:
            assert section is None
            continue
        assert section is not None
        assert read_profile(text, name) == before[section.header]
    after_text = upsert_profile(text, profile, new_settings)
    after = botocore_sections(after_text, nested=False)
    target = find_profile(after_text, profile)
    assert target is not None
    assert after[target.header].items() >= new_settings.items()
    for header, values in before.items():
        if header != target.header:
            assert after[header] == values


@settings(max_examples=300)
@given(
    words=st.lists(
        _arguments,
        min_size=1,
        max_size=5,
    )
)
def test_property_credential_process_round_trips(words: list[str]) -> None:
    command = credential_process_command(words[0], words[1:])
    assert shlex.split(command) == words
    assert parse_credential_process(command) == words


@settings(max_examples=100, deadline=None)
@given(
    words=st.lists(
        _arguments,
        min_size=1,
        max_size=4,
    )
)
def test_property_credential_process_survives_the_config_file(words: list[str]) -> None:
    command = credential_process_command(words[0], words[1:])
    text = upsert_profile("[default]\nregion = x\n", "gcp", {"credential_process": command})
    stored = botocore_profiles(text)["gcp"]["credential_process"]
    assert isinstance(stored, str)
    assert shlex.split(stored) == words
