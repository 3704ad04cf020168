"""sanitize.for_terminal: controls escaped, tokens redacted, length bounded."""

from __future__ import annotations

from gcp2aws.sanitize import REDACTED, for_terminal


def test_control_characters_are_escaped_so_no_line_can_be_forged() -> None:
    out = for_terminal("ok\n2026-01-01 ERROR forged\x1b[31m\x07")
    assert "\n" not in out
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "\\x0a" in out
    assert "\\x1b" in out


def test_bidi_override_and_line_separator_are_escaped() -> None:
    out = for_terminal("a\u202eb\u2028c")
    assert out == "a\\u202eb\\u2028c"


def test_jwt_is_redacted_whole_even_when_it_would_be_cut() -> None:
    token = "eyJhbGciOiJSUzI1NiJ9." + "eyJzdWIiOiIxIn0" * 30 + ".c2lnbmF0dXJl"
    out = for_terminal(f"error: {token} rest", limit=30)
    assert "eyJ" not in out
    assert out.startswith("error: " + REDACTED)


def test_bytes_are_decoded_with_replacement_and_limit_applies() -> None:
    out = for_terminal(b"\xff" + b"x" * 500, limit=10)
    assert out.startswith("\ufffd")
    assert out.endswith("…")
    assert len(out) == 11


def test_plain_text_is_unchanged() -> None:
    assert for_terminal("AccessDenied: not authorized") == "AccessDenied: not authorized"
