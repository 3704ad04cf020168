"""Make foreign bytes safe to echo: one helper that every printer of an excerpt uses.

Command stderr, HTTP error bodies, claims shown by ``--debug`` and file contents come from
outside gcp2aws. Printed raw, they could move the terminal's cursor, forge a log line with an
embedded newline, or leak an ID token that a failing command wrote to its stderr. So every
excerpt goes through :func:`for_terminal` before it reaches a message.
"""

from __future__ import annotations

import re

# Three base64url segments separated by dots, the first one a JSON object ("eyJ" is the
# base64url of '{"'): a JWS such as an ID token. The signature segment may be empty.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")
REDACTED = "<redacted token>"


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def for_terminal(text: str | bytes, limit: int = 200) -> str:
    """Return ``text`` as one printable line of at most ``limit`` characters (plus an ellipsis).

    Bytes are decoded as UTF-8 with replacement; JWT-shaped strings are redacted before the cut,
    so a token is never printed in part; every character that is not printable (C0/C1 controls,
    DEL, line and paragraph separators, bidi overrides) is escaped as ``\\xNN``/``\\uNNNN``.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = _JWT.sub(REDACTED, text)
    out: list[str] = []
    size = 0
    for char in text:
        piece = char if char.isprintable() else _escape(char)
        if size + len(piece) > limit:
            out.append("…")
            break
        out.append(piece)
        size += len(piece)
    return "".join(out)
