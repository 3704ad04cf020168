"""IAM condition operators: parse an operator name and test a key's values against a policy's."""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

SET_QUALIFIERS = ("ForAnyValue", "ForAllValues")
IF_EXISTS = "IfExists"

Matcher = Callable[[str, str], bool]  # (request value, policy value) -> match


@functools.lru_cache(maxsize=512)
def _wildcard_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    # '*' is any run of characters, '?' exactly one; everything else is literal.
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcard match: ``*`` matches any characters (also none), ``?`` exactly one."""
    return _wildcard_regex(pattern, ignore_case).fullmatch(value) is not None


def _string_equals(actual: str, wanted: str) -> bool:
    return actual == wanted


def _string_equals_ignore_case(actual: str, wanted: str) -> bool:
    return actual.lower() == wanted.lower()


def _string_like(actual: str, wanted: str) -> bool:
    return wildcard_match(wanted, actual)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _numeric(compare: Callable[[float, float], bool]) -> Matcher:
    def match(actual: str, wanted: str) -> bool:
        a, w = _number(actual), _number(wanted)
        return a is not None and w is not None and compare(a, w)

    return match


def _date(text: str) -> float | None:
    """Seconds since the epoch from an ISO 8601 date/time or an epoch number, as IAM accepts."""
    number = _number(text)
    if number is not None:
        return number
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _dated(compare: Callable[[float, float], bool]) -> Matcher:
    def match(actual: str, wanted: str) -> bool:
        a, w = _date(actual), _date(wanted)
        return a is not None and w is not None and compare(a, w)

    return match


def _bool(actual: str, wanted: str) -> bool:
    return actual.lower() == wanted.lower() and wanted.lower() in ("true", "false")


def _ip_address(actual: str, wanted: str) -> bool:
    try:
        address = ipaddress.ip_address(actual.strip())
        network = ipaddress.ip_network(wanted.strip(), strict=False)
    except ValueError:
        return False
    return address in network  # False across IPv4/IPv6


def _arn_like(actual: str, wanted: str) -> bool:
    # ARNs match segment by segment: a wildcard never crosses a ':'.
    actual_parts = actual.split(":", 5)
    wanted_parts = wanted.split(":", 5)
    if len(actual_parts) != len(wanted_parts):
        return False
    return all(wildcard_match(w, a) for a, w in zip(actual_parts, wanted_parts, strict=True))


# base operator -> (matcher of its positive form, negated?)
_BASE: dict[str, tuple[Matcher, bool]] = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ignore_case, True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "NumericEquals": (_numeric(lambda a, w: a == w), False),
    "NumericNotEquals": (_numeric(lambda a, w: a == w), True),
    "NumericLessThan": (_numeric(lambda a, w: a < w), False),
    "NumericLessThanEquals": (_numeric(lambda a, w: a <= w), False),
    "NumericGreaterThan": (_numeric(lambda a, w: a > w), False),
    "NumericGreaterThanEquals": (_numeric(lambda a, w: a >= w), False),
    "DateEquals": (_dated(lambda a, w: a == w), False),
    "DateNotEquals": (_dated(lambda a, w: a == w), True),
    "DateLessThan": (_dated(lambda a, w: a < w), False),
    "DateLessThanEquals": (_dated(lambda a, w: a <= w), False),
    "DateGreaterThan": (_dated(lambda a, w: a > w), False),
    "DateGreaterThanEquals": (_dated(lambda a, w: a >= w), False),
    "Bool": (_bool, False),
    "BinaryEquals": (_string_equals, False),
    "IpAddress": (_ip_address, False),
    "NotIpAddress": (_ip_address, True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
}
NULL = "Null"
KNOWN_BASES = frozenset([*_BASE, NULL])


@dataclass(frozen=True)
class Operator:
    """A condition operator as written, split into qualifier, base operator and IfExists."""

    name: str
    base: str
    qualifier: str = ""  # "", "ForAnyValue" or "ForAllValues"
    if_exists: bool = False

    @property
    def known(self) -> bool:
        if self.base == NULL:
            return not self.qualifier and not self.if_exists
        return self.base in _BASE

    @property
    def negated(self) -> bool:
        return self.base in _BASE and _BASE[self.base][1]

    def suggestion(self) -> str:
        """The correctly spelled operator when only the letter case is wrong, else ''."""
        lowered = {name.lower(): name for name in KNOWN_BASES}
        fixed = lowered.get(self.base.lower(), "")
        if not fixed or fixed == self.base:
            return ""
        prefix = f"{self.qualifier}:" if self.qualifier else ""
        return f"{prefix}{fixed}{IF_EXISTS if self.if_exists else ''}"


def parse_operator(name: str) -> Operator:
    """Split ``ForAnyValue:StringLikeIfExists`` into its parts (unknown names stay unknown)."""
    qualifier, _, rest = name.rpartition(":")
    base = rest
    if_exists = False
    if base.endswith(IF_EXISTS) and base != IF_EXISTS:
        base, if_exists = base[: -len(IF_EXISTS)], True
    if qualifier and qualifier not in SET_QUALIFIERS:
        # An unknown qualifier makes the whole operator unknown.
        return Operator(name=name, base=name)
    return Operator(name=name, base=base, qualifier=qualifier, if_exists=if_exists)


def condition_holds(
    operator: Operator, wanted: Sequence[str], actual: Sequence[str] | None
) -> bool:
    """Whether one key's condition holds, following AWS's documented evaluation rules.

    ``actual`` is None or empty when the request context has no such key. Several policy
    values are ORed; the caller ANDs keys and operators.
    """
    present = bool(actual)
    if operator.base == NULL:
        # "true" means: the key must be absent; "false": it must be present.
        return any(w.lower() == ("false" if present else "true") for w in wanted)
    if not operator.known:
        return False
    if not actual:
        if operator.if_exists or operator.qualifier == "ForAllValues":
            return True
        if operator.qualifier == "ForAnyValue":
            return False
        # AWS: with the key absent, negated operators (StringNotEquals, ...) return true.
        return operator.negated
    matcher, negated = _BASE[operator.base]

    def value_holds(value: str) -> bool:
        hit = any(matcher(value, w) for w in wanted)
        return not hit if negated else hit

    if operator.qualifier == "ForAllValues":
        return all(value_holds(v) for v in actual)
    if operator.qualifier == "ForAnyValue":
        return any(value_holds(v) for v in actual)
    if negated:
        # A negated operator holds only if no request value matches any policy value.
        return all(value_holds(v) for v in actual)
    return any(value_holds(v) for v in actual)
