"""YAML text for documents gcp2aws prints (CloudFormation, Kubernetes manifests), no library.

Block style, every string double-quoted, so YAML cannot re-type "yes", "0644" or "1e3", and
the output stays byte-stable for golden files and GitOps diffs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from gcp2aws.errors import UsageError

_PLAIN_KEY_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_UNPRINTABLE_RE = re.compile(
    "[^\\x20-\\x7e\\xa0-\\ud7ff\\ue000-\\ufefe\\uff00-\\ufffd\\U00010000-\\U0010ffff]"
)


def documents(docs: Sequence[Mapping[str, Any]]) -> str:
    """A multi-document stream: each document after ``---``."""
    return "".join("---\n" + "\n".join(block(doc, 0)) + "\n" for doc in docs)


def scalar(value: Any) -> str:
    """A YAML flow scalar; every string is double-quoted so YAML cannot re-type "yes" or "1e3"."""
    import json

    if not isinstance(value, str):
        return json.dumps(value)
    body = json.dumps(value, ensure_ascii=False)[1:-1]
    # JSON leaves these raw but YAML forbids them unescaped; \U covers astral code points.
    return '"' + _UNPRINTABLE_RE.sub(lambda m: f"\\U{ord(m.group()):08x}", body) + '"'


def _key(key: str) -> str:
    return key if _PLAIN_KEY_RE.fullmatch(key) else scalar(key)


def block(value: Any, indent: int) -> list[str]:
    """Block-style YAML lines for a policy value, every line indented by ``indent`` levels."""
    pad = "  " * indent
    if isinstance(value, Mapping):
        if not value:
            return [f"{pad}{{}}"]
        lines: list[str] = []
        for key, item in value.items():
            head = f"{pad}{_key(str(key))}:"
            if is_container(item) and item:
                lines.append(head)
                lines.extend(block(item, indent + 1))
            else:
                lines.append(f"{head} {_inline(item)}")
        return lines
    if is_container(value):
        if not value:
            return [f"{pad}[]"]
        lines = []
        for item in value:
            if is_container(item) and item:
                # "- " takes the place of one indent level on the item's first line.
                nested = block(item, indent + 1)
                lines.append(f"{pad}- {nested[0].lstrip()}")
                lines.extend(nested[1:])
            else:
                lines.append(f"{pad}- {_inline(item)}")
        return lines
    return [f"{pad}{_inline(value)}"]


def is_container(value: Any) -> bool:
    return isinstance(value, Mapping) or (
        isinstance(value, Sequence) and not isinstance(value, (str, bytes))
    )


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if is_container(value):
        return "[]"
    if not isinstance(value, (str, int, float, bool)) and value is not None:
        raise UsageError(f"Cannot render a {type(value).__name__} as YAML")
    return scalar(value)
