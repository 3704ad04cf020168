"""Evaluate an IAM role trust policy locally against an AssumeRoleWithWebIdentity request.

Follows AWS's documented evaluation logic for one request: it is allowed iff some Allow
statement matches and no Deny statement matches. A statement matches iff its Principal
(or NotPrincipal), its Action (or NotAction) and all its conditions match. Every mismatch is
recorded with a one-line, Google-specific explanation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gcp2aws.errors import ConfigError
from gcp2aws.policy.conditions import condition_holds, parse_operator, wildcard_match
from gcp2aws.policy.explain import (
    AUD_KEY,
    GOOGLE,
    OAUD_KEY,
    SESSION_KEY,
    SOURCE_IP_KEY,
    SUB_KEY,
    action_note,
    condition_note,
    condition_subject,
    principal_note,
    quote_values,
)

if TYPE_CHECKING:
    from gcp2aws.models import IdToken

ACTION = "sts:AssumeRoleWithWebIdentity"
PRINCIPAL_KINDS = ("AWS", "Federated", "Service", "CanonicalUser")
_KNOWN_FIELDS = frozenset(
    ["Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Condition"]
)


@dataclass(frozen=True)
class RequestContext:
    """What AWS knows about the request: principal, action and condition keys with values.

    Key names are compared case-insensitively, as AWS does. ``claims`` holds token claims
    (azp, aud, sub, email) used only to word explanations, never as condition keys.
    """

    principal_federated: str = GOOGLE
    action: str = ACTION
    keys: Mapping[str, Sequence[str]] = field(default_factory=dict)
    claims: Mapping[str, str] = field(default_factory=dict)
    claim_sources: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        index: dict[str, tuple[str, ...]] = {}
        for name, values in self.keys.items():
            seq = (values,) if isinstance(values, str) else tuple(values)
            index[str(name).lower()] = tuple(str(v) for v in seq)
        object.__setattr__(self, "_index", index)

    def get(self, key: str) -> tuple[str, ...] | None:
        """The request's values for ``key`` (any letter case), or None if absent."""
        index: dict[str, tuple[str, ...]] = object.__getattribute__(self, "_index")
        return index.get(key.lower()) or None

    def claim_source(self, key: str) -> str:
        """Which token claim AWS took ``key``'s value from ('azp', 'aud', 'sub'), if known."""
        return {k.lower(): v for k, v in self.claim_sources.items()}.get(key.lower(), "")

    @classmethod
    def from_token(
        cls, token: IdToken, *, role_session_name: str, source_ip: str | None = None
    ) -> RequestContext:
        """The context AWS builds for this Google token (PROTOCOL section 2 mapping)."""
        raw_aud = token.claims.get("aud")
        oaud = [str(a) for a in raw_aud] if isinstance(raw_aud, list) else [token.aud]
        keys: dict[str, list[str]] = {
            AUD_KEY: [token.aws_aud],
            OAUD_KEY: oaud,
            SUB_KEY: [token.sub],
            SESSION_KEY: [role_session_name],
        }
        if source_ip:
            keys[SOURCE_IP_KEY] = [source_ip]
        keys = {k: [v for v in vs if v] for k, vs in keys.items()}
        claims = {"azp": token.azp, "aud": token.aud, "sub": token.sub, "email": token.email}
        return cls(
            keys={k: vs for k, vs in keys.items() if vs},
            claims={k: v for k, v in claims.items() if v},
            claim_sources={AUD_KEY: "azp" if token.azp else "aud", OAUD_KEY: "aud", SUB_KEY: "sub"},
        )


@dataclass(frozen=True)
class ConditionFailure:
    """One reason a statement does not match: a Principal, an Action or a condition key.

    ``operator`` is the condition operator as written, or Principal/NotPrincipal/Action/
    NotAction; ``actual`` is None when the request has no value for ``key``.
    """

    operator: str
    key: str
    wanted: tuple[str, ...]
    actual: tuple[str, ...] | None
    subject: str = ""
    note: str = ""

    def explain(self) -> str:
        """One line: what the policy wants, what the request has, and what to change."""
        actual = self.actual[0] if self.actual and len(self.actual) == 1 else self.actual
        shown = repr(actual) if isinstance(actual, str) else quote_values(self.actual or ())
        if self.operator in ("Principal", "NotPrincipal"):
            verb = "does not include" if self.operator == "Principal" else "excludes"
            line = f"{self.operator} {self.key} {quote_values(self.wanted)} {verb} {shown}."
        elif self.operator in ("Action", "NotAction"):
            verb = "does not include" if self.operator == "Action" else "excludes"
            line = f"{self.operator} {quote_values(self.wanted)} {verb} {shown}."
        else:
            head = f"Condition {self.operator} {self.key}"
            operator = parse_operator(self.operator)
            if operator.base == "Null":
                want = "absent" if any(w.lower() == "true" for w in self.wanted) else "present"
                wants = f"wants the key {want}"
            else:
                verb = "rejects" if operator.negated else "wants"
                wants = f"{verb} {quote_values(self.wanted)}"
            has = f"{self.subject} is {shown}" if self.actual else f"{self.key} is not set"
            line = f"{head} {wants}; {has}."
        return " ".join(f"{line} {self.note}".split())


@dataclass(frozen=True)
class StatementResult:
    """How one statement fared: ``matched`` iff it has no failures."""

    index: int
    sid: str
    effect: str
    matched: bool
    failures: list[ConditionFailure]

    def label(self) -> str:
        return f"Statement[{self.index}]" + (f" (Sid {self.sid})" if self.sid else "")

    @property
    def applies_to_caller(self) -> bool:
        """Principal and Action match; only conditions (if anything) fail."""
        return not any(
            f.operator in ("Principal", "NotPrincipal", "Action", "NotAction")
            for f in self.failures
        )


@dataclass(frozen=True)
class Evaluation:
    """The decision, the statements that decided it, every statement's result, warnings."""

    allowed: bool
    decisive: list[StatementResult]
    statements: list[StatementResult]
    warnings: list[str] = field(default_factory=list)

    def closest(self) -> StatementResult | None:
        """The Allow statement that comes nearest to matching (for a denied request)."""
        allows = [s for s in self.statements if s.effect == "Allow"]
        if not allows:
            return None
        return min(allows, key=lambda s: (not s.applies_to_caller, len(s.failures), s.index))

    def summary(self) -> str:
        """One line naming the statement and condition that decided the request."""
        if self.allowed:
            return f"Allowed by {self.decisive[0].label()}."
        denies = [s for s in self.decisive if s.effect == "Deny" and s.matched]
        if denies:
            return f"Denied explicitly by {denies[0].label()}: a Deny statement matches."
        best = self.closest()
        if best is None:
            return "Denied: the policy has no Allow statement."
        first = best.failures[0].explain()
        more = f" (and {len(best.failures) - 1} more)" if len(best.failures) > 1 else ""
        return f"Denied: {best.label()} does not match. {first}{more}"


def evaluate(policy: Mapping[str, Any] | str, context: RequestContext) -> Evaluation:
    """Decide whether the trust policy lets ``context``'s request assume the role.

    Raises:
        ConfigError: the policy is not JSON or not shaped like an IAM policy.
    """
    document = _load(policy)
    warnings: list[str] = []
    version = document.get("Version")
    if version is not None and version not in ("2012-10-17", "2008-10-17"):
        warnings.append(f'Unknown policy Version {version!r}: use "2012-10-17"')
    statements = document.get("Statement")
    if statements is None:
        raise ConfigError("The trust policy has no Statement", hint='Add "Statement": [...]')
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list):
        raise ConfigError(_type_message("Statement", "an object or a list of objects", statements))
    results = [_statement(i, s, context, warnings) for i, s in enumerate(statements)]
    denies = [r for r in results if r.effect == "Deny" and r.matched]
    allows = [r for r in results if r.effect == "Allow" and r.matched]
    if denies:
        return Evaluation(False, denies, results, warnings)
    if allows:
        return Evaluation(True, allows, results, warnings)
    return Evaluation(False, [r for r in results if r.effect == "Allow"], results, warnings)


def _load(policy: Mapping[str, Any] | str) -> Mapping[str, Any]:
    if isinstance(policy, str):
        import json

        try:
            policy = json.loads(policy)
        except ValueError as exc:  # JSONDecodeError, or a bad unicode escape
            raise ConfigError(
                f"The trust policy is not valid JSON: {exc}",
                hint="Check the document with `python -m json.tool`",
            ) from exc
        except RecursionError as exc:
            raise ConfigError("The trust policy is nested too deeply to be an IAM policy") from exc
    if not isinstance(policy, Mapping):
        raise ConfigError(_type_message("The trust policy", "a JSON object", policy))
    return policy


def _type_name(value: object) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"


def _type_message(where: str, expected: str, value: object) -> str:
    return f"{where} must be {expected}, not {_type_name(value)}"


def _strings(where: str, value: object) -> tuple[str, ...]:
    """A string or a list of strings, as Action and Principal values are written."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(_type_message(where, "a string or a list of strings", value))


def _scalar(where: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ConfigError(_type_message(where, "a string, number or boolean", value))


def _statement(
    index: int, raw: object, context: RequestContext, warnings: list[str]
) -> StatementResult:
    where = f"Statement[{index}]"
    if not isinstance(raw, Mapping):
        raise ConfigError(_type_message(where, "an object", raw))
    sid = raw.get("Sid", "")
    if not isinstance(sid, str):
        raise ConfigError(_type_message(f"{where}.Sid", "a string", sid))
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise ConfigError(
            f'{where}.Effect must be "Allow" or "Deny", not {effect!r}'[:200],
            hint="AWS rejects any other value",
        )
    for name in raw:
        if name not in _KNOWN_FIELDS:
            warnings.append(f"{where}: field {name!r} is not allowed in a trust policy; ignored")
    failures = _principal_failures(where, raw, context)
    failures += _action_failures(where, raw, context)
    failures += _condition_failures(where, raw.get("Condition"), context, warnings)
    return StatementResult(index, sid, str(effect), not failures, failures)


def _one_of(where: str, raw: Mapping[str, Any], name: str) -> tuple[str, object]:
    present = [n for n in (name, f"Not{name}") if n in raw]
    if len(present) != 1:
        raise ConfigError(
            f"{where} must have exactly one of {name} and Not{name}",
            hint=f'A trust policy statement names its callers, e.g. "{name}": ...',
        )
    return present[0], raw[present[0]]


def _principal_failures(
    where: str, raw: Mapping[str, Any], context: RequestContext
) -> list[ConditionFailure]:
    field_name, principal = _one_of(where, raw, "Principal")
    listed: dict[str, tuple[str, ...]] = {}
    if principal == "*":
        matches = True
        listed["*"] = ("*",)
    elif isinstance(principal, Mapping) and principal:
        for kind, values in principal.items():
            if kind not in PRINCIPAL_KINDS:
                raise ConfigError(
                    f"{where}.{field_name} has unknown principal type {str(kind)[:40]!r}",
                    hint=f"Use one of {', '.join(PRINCIPAL_KINDS)}",
                )
            listed[kind] = _strings(f"{where}.{field_name}.{kind}", values)
        # Only the Federated provider names a web identity; AWS/Service never match it.
        matches = context.principal_federated in listed.get("Federated", ())
    else:
        raise ConfigError(
            _type_message(
                f"{where}.{field_name}", '"*" or an object like {"Federated": ...}', principal
            )
        )
    if matches == (field_name == "Principal"):
        return []
    values = tuple(v for vs in listed.values() for v in vs)
    kinds = tuple(listed)
    note = (
        principal_note(values, kinds, context.principal_federated)
        if field_name == "Principal"
        else f"NotPrincipal never applies to {context.principal_federated}; use Principal."
    )
    return [
        ConditionFailure(
            field_name, "/".join(kinds), values, (context.principal_federated,), note=note
        )
    ]


def _action_failures(
    where: str, raw: Mapping[str, Any], context: RequestContext
) -> list[ConditionFailure]:
    field_name, value = _one_of(where, raw, "Action")
    actions = _strings(f"{where}.{field_name}", value)
    hit = any(wildcard_match(a, context.action, ignore_case=True) for a in actions)
    if hit == (field_name == "Action"):
        return []
    note = (
        action_note(actions, context.action)
        if field_name == "Action"
        else f"Remove {context.action} from NotAction."
    )
    return [ConditionFailure(field_name, "Action", actions, (context.action,), note=note)]


def _condition_failures(
    where: str, block: object, context: RequestContext, warnings: list[str]
) -> list[ConditionFailure]:
    if block is None:
        return []
    if not isinstance(block, Mapping):
        raise ConfigError(_type_message(f"{where}.Condition", "an object", block))
    failures: list[ConditionFailure] = []
    for op_name, entries in block.items():
        op_where = f"{where}.Condition.{op_name}"
        if not isinstance(entries, Mapping):
            raise ConfigError(_type_message(op_where, "an object of key: values", entries))
        operator = parse_operator(str(op_name))
        if not operator.known:
            fix = operator.suggestion()
            warnings.append(
                f"{op_where}: unknown condition operator"
                + (f"; did you mean {fix}?" if fix else "; AWS rejects this policy")
            )
        for key, raw_values in entries.items():
            items = raw_values if isinstance(raw_values, list) else [raw_values]
            wanted = tuple(_scalar(f"{op_where}.{key}", v) for v in items)
            if any("${" in w for w in wanted):
                warnings.append(f"{op_where}.{key}: policy variables are compared literally here")
            actual = context.get(str(key))
            if operator.known and condition_holds(operator, wanted, actual):
                continue
            if operator.known:
                note = condition_note(str(key), wanted, actual, context)
            else:
                fix = operator.suggestion()
                note = f"Unknown operator {op_name!r}: AWS rejects this policy." + (
                    f" Write {fix}." if fix else ""
                )
            failures.append(
                ConditionFailure(
                    str(op_name),
                    str(key),
                    wanted,
                    actual,
                    subject=condition_subject(str(key), context),
                    note=note,
                )
            )
    return failures
