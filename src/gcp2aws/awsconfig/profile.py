"""Byte-preserving reads and edits of one profile in the AWS shared config file."""

# configparser would be the obvious tool, but writing with it drops every comment and
# normalises the file. Instead this module parses lines the way configparser *reads* them
# (so it sees exactly the sections, options and continuation lines botocore sees) and edits
# only the lines of one profile's section, leaving every other byte of the file alone.

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gcp2aws.errors import ConfigError, UsageError

__all__ = [
    "ProfileSection",
    "credential_process_command",
    "diff_profile",
    "find_profile",
    "parse_credential_process",
    "read_profile",
    "section_header",
    "upsert_profile",
]

# Python reads the file with universal newlines, so configparser breaks lines only here.
_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)?")
# configparser.RawConfigParser.SECTCRE and OPTCRE (delimiters "=" and ":").
_SECTION_RE = re.compile(r"\[(?P<header>.+)\]")
_OPTION_RE = re.compile(r"(?P<option>.*?)\s*(?P<vi>=|:)\s*(?P<value>.*)$")
_NONSPACE_RE = re.compile(r"\S")
_KEY_RE = re.compile(r"[a-z0-9_][a-z0-9_.-]*")
_COMMENT_PREFIXES = ("#", ";")


@dataclass(frozen=True)
class ProfileSection:
    """Where one profile's section lies in the text: ``text[start:end]``, header included.

    ``end`` is the start of the next section header (or the end of the text), so comments and
    blank lines just above the next header count as part of this section.
    """

    name: str
    header: str
    start: int
    end: int


@dataclass
class _Line:
    start: int
    body: str  # without the line ending
    eol: str  # "\r\n", "\n", "\r" or "" (last line without a newline)

    @property
    def end(self) -> int:
        return self.start + len(self.body) + len(self.eol)


@dataclass
class _Option:
    key: str  # lower-cased, as configparser's optionxform does
    line: int  # index of the "key = value" line
    value_col: int  # column in that line where the value starts
    parts: list[str]  # first-line value, then continuation lines ("" for blank lines)
    continuation: list[int] = field(default_factory=list)  # indices of indented value lines

    @property
    def value(self) -> str:
        return "\n".join(self.parts).rstrip()

    @property
    def last_line(self) -> int:
        return self.continuation[-1] if self.continuation else self.line


@dataclass
class _Section:
    header: str
    line: int
    end_line: int = -1  # exclusive; filled in when the next header (or EOF) is seen
    options: list[_Option] = field(default_factory=list)


def _split_lines(text: str) -> list[_Line]:
    lines: list[_Line] = []
    pos = 0
    while pos < len(text):
        match = _LINE_RE.match(text, pos)
        if match is None:  # unreachable: the pattern matches the empty string
            break
        chunk = match.group()
        body = chunk.rstrip("\r\n")
        lines.append(_Line(pos, body, chunk[len(body) :]))
        pos = match.end()
    return lines


def _parse(lines: Sequence[_Line]) -> list[_Section]:
    """Mirror ``RawConfigParser._read``: which lines are headers, options and continuations."""
    sections: list[_Section] = []
    current: _Section | None = None
    option: _Option | None = None
    indent_level = 0
    for index, line in enumerate(lines):
        stripped = line.body.strip()
        is_comment = stripped.startswith(_COMMENT_PREFIXES)
        if is_comment or not stripped:
            # Blank lines (not comments) belong to the value being read; comments are skipped.
            if not is_comment and option is not None:
                option.parts.append("")
            continue
        nonspace = _NONSPACE_RE.search(line.body)
        indent = nonspace.start() if nonspace else 0
        if current is not None and option is not None and indent > indent_level:
            option.parts.append(stripped)
            option.continuation.append(index)
            continue
        indent_level = indent
        header = _SECTION_RE.match(stripped)
        if header:
            if current is not None:
                current.end_line = index
            current = _Section(header.group("header"), index)
            sections.append(current)
            option = None
        elif current is not None:
            match = _OPTION_RE.match(stripped)
            if match:
                key = match.group("option").rstrip().lower()
                # configparser records an empty option name but never continues it.
                option = None
                if key:
                    option = _Option(
                        key=key,
                        line=index,
                        value_col=indent + match.start("value"),
                        parts=[match.group("value").strip()],
                    )
                    current.options.append(option)
            # A line that is neither (a parse error for configparser) keeps the current option.
        # Text before the first header is an error for configparser; leave it alone.
    if current is not None:
        current.end_line = len(lines)
    return sections


CONFIG = "config"  # ~/.aws/config: [default], [profile NAME]
CREDENTIALS = "credentials"  # ~/.aws/credentials: [NAME], every section a profile


def _profile_name(header: str, style: str = CONFIG) -> str | None:
    """The profile a section header names, exactly as ``botocore.configloader`` decides it."""
    if style == CREDENTIALS:
        return header
    if header == "default":
        return "default"
    if header.startswith("profile"):
        try:
            parts = shlex.split(header)
        except ValueError:
            return None
        if len(parts) == 2:
            return parts[1]
    # "[NAME]" without the "profile " prefix is not a profile in the config file.
    return None


def profile_names(text: str) -> list[str]:
    """Every profile the config file defines, in file order, each once (as botocore reads it)."""
    names: dict[str, None] = {}
    for section in _parse(_split_lines(text)):
        name = _profile_name(section.header)
        if name is not None:
            names[name] = None
    return list(names)


def _find(lines: Sequence[_Line], profile: str, style: str = CONFIG) -> _Section | None:
    # When a profile is defined twice ("[default]" and "[profile default]"), botocore keeps the
    # one read last, so that is the one to read and edit.
    found = None
    for section in _parse(lines):
        if _profile_name(section.header, style) == profile:
            found = section
    return found


def section_header(profile: str, style: str = CONFIG) -> str:
    """``[default]`` for the default profile, ``[profile NAME]`` otherwise (``[NAME]`` always
    in the credentials file).

    Raises:
        UsageError: the name could not be read back unchanged by botocore and the other SDKs.
    """
    problem = ""
    if not profile:
        problem = "it is empty"
    elif profile != profile.strip():
        problem = "it starts or ends with whitespace"
    elif "]" in profile or "[" in profile:
        problem = "it contains a bracket"
    elif not profile.isprintable():
        problem = "it contains a line break or control character"
    else:
        try:
            intact = shlex.split(profile) == [profile]
        except ValueError:
            intact = False
        if not intact:
            # botocore splits the header like a shell: "profile my name" is not a profile.
            problem = "it contains whitespace, quotes or backslashes"
    if problem:
        raise UsageError(
            f"invalid AWS profile name {profile!r}: {problem}",
            hint="Use letters, digits and - _ . @ in --profile",
        )
    if style == CREDENTIALS or profile == "default":
        return f"[{profile}]"
    return f"[profile {profile}]"


def find_profile(text: str, profile: str) -> ProfileSection | None:
    """The section botocore would read ``profile`` from, or None when there is none."""
    lines = _split_lines(text)
    section = _find(lines, profile)
    if section is None:
        return None
    end = lines[section.end_line].start if section.end_line < len(lines) else len(text)
    return ProfileSection(profile, section.header, lines[section.line].start, end)


def read_profile(text: str, profile: str, style: str = CONFIG) -> dict[str, str]:
    """The profile's settings as botocore reads them (keys lower-cased; {} when absent).

    A nested block (``s3 =`` followed by indented lines) is returned as configparser returns
    it: the raw lines joined with newlines, starting with a newline.
    """
    section = _find(_split_lines(text), profile, style)
    if section is None:
        return {}
    return {option.key: option.value for option in section.options}


def _check_settings(settings: Mapping[str, str]) -> None:
    for key, value in settings.items():
        if not _KEY_RE.fullmatch(key):
            raise UsageError(
                f"invalid AWS config key {key!r}", hint="Keys are lower-case, like region"
            )
        if "\n" in value or "\r" in value or value != value.strip():
            # configparser strips values and reads line breaks as new lines: it would not
            # read back what we wrote.
            raise UsageError(
                f"invalid value for AWS config key {key}: line break or surrounding whitespace",
                hint="Pass a single-line value",
            )


def _dominant_eol(lines: Sequence[_Line]) -> str:
    crlf = sum(1 for line in lines if line.eol == "\r\n")
    lf = sum(1 for line in lines if line.eol == "\n")
    return "\r\n" if crlf > lf else "\n"


def upsert_profile(
    text: str, profile: str, settings: Mapping[str, str], *, style: str = CONFIG
) -> str:
    """Return ``text`` with ``settings`` written into ``profile``'s section.

    Existing keys are rewritten in place (their continuation lines dropped); missing keys go
    after the section's last setting; a missing profile is appended at the end after one blank
    line. Every byte outside the profile's section is kept. Idempotent.

    Raises:
        UsageError: invalid profile name, key or value.
    """
    header = section_header(profile, style)
    _check_settings(settings)
    if not settings:
        return text
    lines = _split_lines(text)
    eol = _dominant_eol(lines)
    section = _find(lines, profile, style)
    if section is None:
        return _append_section(text, lines, header, settings, eol)

    # Rewrite the keys that exist, then add the missing ones after the section's last setting.
    section_keys = {option.key for option in section.options}
    edits: list[tuple[int, int, str]] = []
    for key, value in settings.items():
        for option in section.options:
            if option.key != key or (option.value == value and not option.continuation):
                continue
            line = lines[option.line]
            prefix = line.body[: option.value_col]
            if not option.parts[0]:
                prefix = prefix.rstrip() + " "  # "key =" had no value: avoid "key =value"
            edits.append((line.start, line.end, prefix + value + line.eol))
            edits.extend((lines[i].start, lines[i].end, "") for i in option.continuation)
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]

    missing = [(key, value) for key, value in settings.items() if key not in section_keys]
    if missing:
        text = _insert_missing(text, profile, missing, eol, style)
    return text


def _indent(body: str) -> int:
    nonspace = _NONSPACE_RE.search(body)
    return nonspace.start() if nonspace else 0


def _insert_missing(
    text: str, profile: str, missing: list[tuple[str, str]], eol: str, style: str
) -> str:
    # Parse again: dropping continuation lines may have moved the section's last setting.
    lines = _split_lines(text)
    section = _find(lines, profile, style)
    if section is None:  # unreachable: rewriting values never touches the header
        return text
    index = section.options[-1].last_line if section.options else section.line
    after = lines[index]
    # An added line indented less than the line that follows it would turn that line (an
    # indented header, say) into a continuation of the added value. The last setting's indent
    # is safe (the next line was not its continuation); with no setting, copy the next line's.
    if section.options:
        indent = _indent(lines[section.options[-1].line].body)
    else:
        following = (
            line.body
            for line in lines[index + 1 :]
            if line.body.strip() and not line.body.strip().startswith(_COMMENT_PREFIXES)
        )
        indent = _indent(next(following, ""))
    added = "".join(f"{' ' * indent}{key} = {value}{eol}" for key, value in missing)
    # A last line without its newline (end of file) gets one before the added lines.
    return text[: after.end] + ("" if after.eol else eol) + added + text[after.end :]


def _append_section(
    text: str, lines: Sequence[_Line], header: str, settings: Mapping[str, str], eol: str
) -> str:
    block = header + eol + "".join(f"{key} = {value}{eol}" for key, value in settings.items())
    if not lines:
        return block
    last = lines[-1]
    prefix = "" if last.eol else eol
    if last.body.strip():
        prefix += eol  # one blank line between the previous section and ours
    return text + prefix + block


def diff_profile(
    text: str, profile: str, settings: Mapping[str, str]
) -> list[tuple[str, str | None, str]]:
    """``(key, old, new)`` for each setting that differs; an empty list means nothing to do."""
    current = read_profile(text, profile)
    return [
        (key, current.get(key), value)
        for key, value in settings.items()
        if current.get(key) != value
    ]


def credential_process_command(executable: str, args: Sequence[str]) -> str:
    """The ``credential_process`` value that runs ``executable`` with ``args``.

    botocore splits the value with ``shlex.split`` (no shell) and the Go and Java SDKs run it
    with ``sh -c``: POSIX shell quoting reads back the same argument list in both.

    Raises:
        UsageError: an argument contains a line break or NUL, which no config line can carry.
    """
    words = [executable, *args]
    for word in words:
        if "\n" in word or "\r" in word or "\x00" in word:
            raise UsageError(
                "a credential_process argument contains a line break or NUL",
                hint="Pass single-line values",
            )
    return " ".join(shlex.quote(word) for word in words)


def parse_credential_process(value: str) -> list[str]:
    """Split a ``credential_process`` value the way botocore does on POSIX.

    Raises:
        ConfigError: unbalanced quotes or a trailing backslash.
    """
    try:
        return shlex.split(value)
    except ValueError as exc:
        raise ConfigError(
            f"credential_process is not valid shell syntax: {exc}",
            hint="Fix the quotes in the credential_process line or rerun `gcp2aws init`",
        ) from exc
