"""Fuzz the hot path's flag parser: it never raises, and agrees with argparse when it accepts."""

from __future__ import annotations

import contextlib
import io
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from gcp2aws import options
from gcp2aws.cli.app import build_parser
from gcp2aws.cli.common import exchange_flags

FLAGS = [flag for _, flag, _, _, _ in options.OPTIONS]
DESTS = [dest for dest, *_ in options.OPTIONS]
SWITCHES = {dest for dest, _, _, takes_value, _ in options.OPTIONS if not takes_value}
PARSER = build_parser()

# Words that look like flags, values, prefixes of flags, and the things argparse treats
# specially (a lone dash, "--", negative numbers, values with spaces, "=" inside values).
words = st.one_of(
    st.sampled_from(FLAGS),
    st.sampled_from(FLAGS).map(lambda f: f + "="),
    st.builds(lambda f, v: f"{f}={v}", st.sampled_from(FLAGS), st.text(max_size=12)),
    st.sampled_from(FLAGS).map(lambda f: f[: len(f) // 2 + 2]),
    st.sampled_from(["-", "--", "-1", "-x", "-x y", "--help", "-h", "x=y", "", " ", "@f"]),
    st.text(max_size=12),
)
argvs = st.lists(words, max_size=8)


def _argparse(argv: list[str]) -> dict[str, Any] | None:
    """What the full CLI parses from ``credentials ARGV``, or None if it refuses it."""
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try:
            ns = PARSER.parse_args(["credentials", *argv])
        except SystemExit:
            return None
    flags = exchange_flags(ns)  # a repeated flag's values joined, as the fast path does
    return {dest: flags[dest] for dest in DESTS}


@given(argvs)
@example(["--role-arn", "-x"])
@example(["--role-arn", "-1"])
@example(["--no-cache=1"])
@example(["--role", "x"])
@example(["--chain-role-arn", "a", "--chain-role-arn=b"])
def test_parse_fast_never_raises_and_agrees_with_argparse(argv: list[str]) -> None:
    fast = options.parse_fast(argv)
    if fast is None:
        return  # the full CLI takes over and reports whatever is wrong
    slow = _argparse(argv)
    assert slow is not None, f"fast path accepted what argparse refuses: {argv!r}"
    for dest in DESTS:
        expected = slow[dest]
        got = fast.get(dest, False if dest in SWITCHES else None)
        assert got == expected, (dest, argv)


env_values = st.text(alphabet=st.characters(exclude_characters="\x00"), max_size=20)


@st.composite
def cli_dicts(draw: st.DrawFn) -> dict[str, str | bool | None]:
    """What argparse hands over: switches are bools, value options are text or None."""
    out: dict[str, str | bool | None] = {}
    for dest in draw(st.lists(st.sampled_from(DESTS), unique=True, max_size=8)):
        kinds: st.SearchStrategy[str | bool] = (
            st.booleans() if dest in SWITCHES else st.text(max_size=20)
        )
        out[dest] = draw(st.one_of(st.none(), kinds))
    return out


@given(
    cli=cli_dicts(),
    environ=st.dictionaries(
        st.sampled_from([env for _, _, env, _, _ in options.OPTIONS]), env_values, max_size=8
    ),
)
def test_resolve_raw_never_raises_and_prefers_flags(
    cli: dict[str, str | bool | None], environ: dict[str, str]
) -> None:
    raw = options.resolve_raw(cli, environ)
    for dest, _flag, env, takes_value, _help in options.OPTIONS:
        value = raw.get(dest)
        if value is None:
            continue
        assert value == value.strip()
        assert value
        if not takes_value:
            assert value == "1"
        elif isinstance(cli.get(dest), str) and cli[dest]:
            assert value == str(cli[dest]).strip()
        else:
            assert value == environ[env].strip()
    # Pure functions of their input: the same call gives the same answer.
    assert options.resolve_raw(cli, environ) == raw
    assert isinstance(options.refresh_window(raw), int)


@given(st.dictionaries(st.sampled_from(DESTS), st.text(max_size=20).map(str.strip), max_size=6))
def test_cache_inputs_never_raise(raw: dict[str, str]) -> None:
    raw = {k: v for k, v in raw.items() if v and "\x00" not in v}
    environ = {"HOME": "/nonexistent-gcp2aws-home"}
    parts = options.key_parts(raw, environ)
    assert parts == options.key_parts(dict(reversed(list(raw.items()))), environ)
    assert options.cache_dir(raw, environ).startswith("/")
