"""Tests for the local trust-policy evaluator, table-driven from AWS's documented rules."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gcp2aws.errors import ConfigError
from gcp2aws.models import IdToken
from gcp2aws.policy.conditions import condition_holds, parse_operator, wildcard_match
from gcp2aws.policy.evaluate import ConditionFailure, RequestContext, evaluate
from gcp2aws.policy.generate import trust_policy
from tests.support import repo

UNIQUE_ID = "109876543210987654321"
EMAIL = "robot@my-project.iam.gserviceaccount.com"
GOOGLE = {"Federated": "accounts.google.com"}
ACTION = "sts:AssumeRoleWithWebIdentity"


def token(**claims: Any) -> IdToken:
    return IdToken(raw="not-a-token", header={}, claims=claims)


GCE = token(azp=UNIQUE_ID, aud="gcp", sub=UNIQUE_ID, email=EMAIL)
KEYFILE = token(azp=EMAIL, aud="gcp", sub=UNIQUE_ID, email=EMAIL)


def gce_context(session: str = "my-vm", source_ip: str | None = None) -> RequestContext:
    return RequestContext.from_token(GCE, role_session_name=session, source_ip=source_ip)


def statement(
    condition: Any = None,
    *,
    effect: str = "Allow",
    principal: Any = GOOGLE,
    action: Any = ACTION,
    sid: str = "S",
    **extra: Any,
) -> dict[str, Any]:
    st_: dict[str, Any] = {"Sid": sid, "Effect": effect, **extra}
    if "NotPrincipal" not in extra:
        st_["Principal"] = principal
    if "NotAction" not in extra:
        st_["Action"] = action
    if condition is not None:
        st_["Condition"] = condition
    return st_


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def ctx(**keys: Any) -> RequestContext:
    return RequestContext(keys={k.replace("__", ":"): v for k, v in keys.items()})


# --- operators, one key at a time ------------------------------------------------------------

# (operator, policy values, request values or None for absent, expected)
OPERATOR_TABLE = [
    ("StringEquals", ["abc"], ["abc"], True),
    ("StringEquals", ["abc"], ["ABC"], False),
    ("StringEquals", ["x", "abc"], ["abc"], True),  # several policy values are ORed
    ("StringEquals", ["abc"], None, False),
    ("StringNotEquals", ["abc"], ["abd"], True),
    ("StringNotEquals", ["abc"], ["abc"], False),
    ("StringNotEquals", ["x", "abc"], ["abc"], False),
    ("StringNotEquals", ["abc"], None, True),  # absent key: negated operators hold
    ("StringEqualsIgnoreCase", ["AbC"], ["aBc"], True),
    ("StringEqualsIgnoreCase", ["abc"], ["abd"], False),
    ("StringNotEqualsIgnoreCase", ["AbC"], ["abc"], False),
    ("StringNotEqualsIgnoreCase", ["AbC"], ["abd"], True),
    ("StringLike", ["gce-*"], ["gce-vm1"], True),
    ("StringLike", ["gce-*"], ["gce-"], True),  # * matches nothing too
    ("StringLike", ["gce-*"], ["GCE-vm1"], False),  # case-sensitive
    ("StringLike", ["vm-?"], ["vm-1"], True),
    ("StringLike", ["vm-?"], ["vm-12"], False),
    ("StringLike", ["vm-?"], ["vm-"], False),
    ("StringLike", ["exact"], ["exact"], True),  # no wildcard: a literal
    ("StringLike", ["exact"], ["exactly"], False),
    ("StringLike", ["a.c"], ["abc"], False),  # regex characters are literal
    ("StringLike", ["*"], None, False),
    ("StringNotLike", ["gce-*"], ["gke-1"], True),
    ("StringNotLike", ["gce-*"], ["gce-1"], False),
    ("StringNotLike", ["gce-*"], None, True),
    ("StringEqualsIfExists", ["abc"], None, True),
    ("StringEqualsIfExists", ["abc"], ["abd"], False),
    ("StringLikeIfExists", ["a*"], ["abc"], True),
    ("Bool", ["true"], ["true"], True),
    ("Bool", ["true"], ["TRUE"], True),
    ("Bool", ["false"], ["true"], False),
    ("Bool", ["true"], None, False),
    ("BoolIfExists", ["true"], None, True),
    ("IpAddress", ["203.0.113.0/24"], ["203.0.113.7"], True),
    ("IpAddress", ["203.0.113.0/24"], ["203.0.114.7"], False),
    ("IpAddress", ["203.0.113.7"], ["203.0.113.7"], True),  # a bare address is a /32
    ("IpAddress", ["2001:db8::/32"], ["2001:db8::1"], True),
    ("IpAddress", ["::/0"], ["10.0.0.1"], False),  # IPv4 never matches an IPv6 range
    ("IpAddress", ["10.0.0.0/8"], ["not-an-ip"], False),
    ("IpAddress", ["10.0.0.0/8"], None, False),
    ("IpAddressIfExists", ["10.0.0.0/8"], None, True),
    ("NotIpAddress", ["10.0.0.0/8"], ["192.0.2.1"], True),
    ("NotIpAddress", ["10.0.0.0/8"], ["10.1.2.3"], False),
    ("NumericLessThan", ["10"], ["9.5"], True),
    ("NumericLessThan", ["10"], ["10"], False),
    ("NumericGreaterThanEquals", ["10"], ["10"], True),
    ("NumericEquals", ["10"], ["ten"], False),
    ("DateLessThan", ["2030-01-01T00:00:00Z"], ["2026-11-28T12:00:00Z"], True),
    ("DateGreaterThan", ["2030-01-01T00:00:00Z"], ["1700000000"], False),
    ("ArnLike", ["arn:aws:iam::*:role/gcp-*"], ["arn:aws:iam::123456789012:role/gcp-x"], True),
    ("ArnLike", ["arn:aws:iam::*"], ["arn:aws:iam::1:role/x"], False),  # * stays in a segment
    ("ArnNotEquals", ["arn:aws:iam::1:role/x"], ["arn:aws:iam::1:role/y"], True),
    ("ForAnyValue:StringEquals", ["a", "b"], ["x", "b"], True),
    ("ForAnyValue:StringEquals", ["a"], ["x", "y"], False),
    ("ForAnyValue:StringEquals", ["a"], None, False),  # absent: ForAnyValue is false
    ("ForAnyValue:StringEquals", ["a"], ["a"], True),  # a single-valued key works too
    ("ForAnyValue:StringEqualsIfExists", ["a"], None, True),
    ("ForAllValues:StringEquals", ["a", "b"], ["a", "b"], True),
    ("ForAllValues:StringEquals", ["a", "b"], ["a", "c"], False),
    ("ForAllValues:StringEquals", ["a"], None, True),  # absent/empty: ForAllValues is true
    ("ForAllValues:StringEquals", ["a"], [], True),
    ("ForAllValues:StringLike", ["a*"], ["ab", "ac"], True),
    ("ForAnyValue:StringNotEquals", ["a"], ["a", "b"], True),
    ("ForAllValues:StringNotEquals", ["a"], ["a", "b"], False),
    ("Null", ["true"], None, True),  # "true": the key must be absent
    ("Null", ["true"], ["x"], False),
    ("Null", ["false"], ["x"], True),
    ("Null", ["false"], None, False),
    ("StringEqual", ["abc"], ["abc"], False),  # unknown operator never holds
    ("Foo:StringEquals", ["abc"], ["abc"], False),
]


@pytest.mark.parametrize(("operator", "wanted", "actual", "expected"), OPERATOR_TABLE)
def test_operator_table(
    operator: str, wanted: list[str], actual: list[str] | None, expected: bool
) -> None:
    assert condition_holds(parse_operator(operator), wanted, actual) is expected
    # The same through a whole policy: one Allow statement with just this condition.
    context = ctx(**({"k": actual} if actual is not None else {}))
    result = evaluate(policy(statement({operator: {"k": wanted}})), context)
    assert result.allowed is expected


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("*", "", True),
        ("a*b?c", "aXXbYc", True),
        ("a*b?c", "abc", False),
        ("[ab]", "a", False),
        ("[ab]", "[ab]", True),
        ("line*", "line\nbreak", True),
    ],
)
def test_wildcard_match(pattern: str, value: str, expected: bool) -> None:
    assert wildcard_match(pattern, value) is expected


def test_policy_values_of_any_json_scalar_type_are_compared_as_strings() -> None:
    context = ctx(flag=["true"], n=["3"])
    assert evaluate(policy(statement({"Bool": {"flag": True}})), context).allowed
    assert evaluate(policy(statement({"NumericEquals": {"n": 3}})), context).allowed
    assert evaluate(policy(statement({"StringEquals": {"n": 3}})), context).allowed
    assert not evaluate(policy(statement({"Bool": {"flag": False}})), context).allowed


# --- combining conditions --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"StringEquals": {"a": "1", "b": "2"}}, True),  # keys ANDed
        ({"StringEquals": {"a": "1", "b": "x"}}, False),
        ({"StringEquals": {"a": "1"}, "StringLike": {"b": "2*"}}, True),  # operators ANDed
        ({"StringEquals": {"a": "1"}, "StringLike": {"b": "x*"}}, False),
        ({"StringEquals": {"a": ["0", "1"]}}, True),  # values ORed
        ({"StringEquals": {"A": "1"}}, True),  # key names are case-insensitive
        ({"stringequals": {"a": "1"}}, False),  # operator names are not
        ({}, True),
    ],
)
def test_condition_combination(condition: dict[str, Any], expected: bool) -> None:
    assert evaluate(policy(statement(condition)), ctx(a=["1"], b=["2"])).allowed is expected


def test_context_key_names_are_case_insensitive() -> None:
    context = RequestContext(keys={"STS:RoleSessionName": ["x"]})
    assert context.get("sts:rolesessionname") == ("x",)
    cond = {"StringEquals": {"sts:ROLESESSIONNAME": "x"}}
    assert evaluate(policy(statement(cond)), context).allowed


# --- statements: effect, principal, action ---------------------------------------------------


def test_explicit_deny_overrides_allow() -> None:
    deny = statement({"StringLike": {"sts:RoleSessionName": "my-*"}}, effect="Deny", sid="D")
    result = evaluate(policy(statement(), deny), gce_context())
    assert not result.allowed
    assert [s.sid for s in result.decisive] == ["D"]
    assert "Denied explicitly by Statement[1] (Sid D)" in result.summary()


def test_deny_that_does_not_match_leaves_allow() -> None:
    deny = statement({"StringLike": {"sts:RoleSessionName": "other-*"}}, effect="Deny")
    result = evaluate(policy(deny, statement(sid="A")), gce_context())
    assert result.allowed
    assert result.summary() == "Allowed by Statement[1] (Sid A)."


def test_no_statement_is_implicit_deny() -> None:
    result = evaluate(policy(), gce_context())
    assert not result.allowed
    assert result.summary() == "Denied: the policy has no Allow statement."


@pytest.mark.parametrize(
    ("principal", "expected"),
    [
        ("*", True),
        (GOOGLE, True),
        ({"Federated": ["cognito-identity.amazonaws.com", "accounts.google.com"]}, True),
        ({"Federated": "cognito-identity.amazonaws.com"}, False),
        ({"AWS": "*"}, False),
        ({"AWS": "arn:aws:iam::123456789012:root"}, False),
        ({"Service": "ec2.amazonaws.com"}, False),
    ],
)
def test_principal_forms(principal: Any, expected: bool) -> None:
    assert evaluate(policy(statement(principal=principal)), gce_context()).allowed is expected


@pytest.mark.parametrize(
    ("not_principal", "expected"),
    [({"AWS": "arn:aws:iam::1:root"}, True), (GOOGLE, False)],
)
def test_not_principal(not_principal: Any, expected: bool) -> None:
    st_ = statement(NotPrincipal=not_principal)
    assert evaluate(policy(st_), gce_context()).allowed is expected


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (ACTION, True),
        ("sts:assumerolewithwebidentity", True),  # action names are case-insensitive
        ("sts:*", True),
        ("*", True),
        ("sts:AssumeRoleWith*", True),
        ("sts:AssumeRoleWith?ebIdentity", True),
        (["sts:TagSession", ACTION], True),
        ("sts:AssumeRole", False),
        ("iam:*", False),
    ],
)
def test_action_forms(action: Any, expected: bool) -> None:
    assert evaluate(policy(statement(action=action)), gce_context()).allowed is expected


@pytest.mark.parametrize(
    ("not_action", "expected"), [("sts:AssumeRole", True), ("sts:*", False), ([ACTION], False)]
)
def test_not_action(not_action: Any, expected: bool) -> None:
    assert evaluate(policy(statement(NotAction=not_action)), gce_context()).allowed is expected


def test_policy_as_json_string() -> None:
    assert evaluate(json.dumps(trust_policy(GCE)), gce_context()).allowed


def test_single_statement_object_is_accepted() -> None:
    assert evaluate({"Statement": statement()}, gce_context()).allowed


# --- the Google context ----------------------------------------------------------------------


def test_from_token_maps_claims_like_aws() -> None:
    context = RequestContext.from_token(GCE, role_session_name="s", source_ip="192.0.2.1")
    assert context.get("accounts.google.com:aud") == (UNIQUE_ID,)
    assert context.get("accounts.google.com:oaud") == ("gcp",)
    assert context.get("accounts.google.com:sub") == (UNIQUE_ID,)
    assert context.get("sts:RoleSessionName") == ("s",)
    assert context.get("aws:SourceIp") == ("192.0.2.1",)
    assert context.get("accounts.google.com:email") is None  # AWS does not expose email
    assert context.principal_federated == "accounts.google.com"
    assert context.action == ACTION


def test_from_token_without_azp_uses_aud_and_no_source_ip() -> None:
    context = RequestContext.from_token(token(aud="a", sub="1"), role_session_name="s")
    assert context.get("accounts.google.com:aud") == ("a",)
    assert context.get("aws:SourceIp") is None


def test_source_ip_condition_with_and_without_ip() -> None:
    cond = {"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}
    assert evaluate(policy(statement(cond)), gce_context(source_ip="192.0.2.9")).allowed
    assert not evaluate(policy(statement(cond)), gce_context()).allowed
    if_exists = {"IpAddressIfExists": {"aws:SourceIp": "192.0.2.0/24"}}
    assert evaluate(policy(statement(if_exists)), gce_context()).allowed


# --- explanations of the onboarding mistakes -------------------------------------------------


def only_failure(p: dict[str, Any], context: RequestContext) -> ConditionFailure:
    result = evaluate(p, context)
    assert not result.allowed
    (st_result,) = result.statements
    (failure,) = st_result.failures
    assert failure.explain() in result.summary()
    assert "Statement[0] (Sid S)" in result.summary()
    return failure


def test_explains_audience_put_under_aud() -> None:
    cond = {"StringEquals": {"accounts.google.com:aud": "gcp"}}
    line = only_failure(policy(statement(cond)), gce_context()).explain()
    assert line == (
        "Condition StringEquals accounts.google.com:aud wants 'gcp'; your token's azp is "
        f"'{UNIQUE_ID}'. accounts.google.com:aud is compared with azp (the service account's "
        "unique ID on GCE, its email with a key file). Put 'gcp' under accounts.google.com:oaud "
        "instead."
    )


def test_explains_email_where_numeric_azp_is_compared() -> None:
    cond = {"StringEquals": {"accounts.google.com:aud": EMAIL}}
    line = only_failure(policy(statement(cond)), gce_context()).explain()
    assert f"your token's azp is '{UNIQUE_ID}'" in line
    assert f"numeric unique ID of {EMAIL}" in line
    assert f"use '{UNIQUE_ID}' instead of the email" in line


def test_explains_numeric_id_where_key_file_azp_is_the_email() -> None:
    cond = {"StringEquals": {"accounts.google.com:aud": UNIQUE_ID}}
    context = RequestContext.from_token(KEYFILE, role_session_name="s")
    line = only_failure(policy(statement(cond)), context).explain()
    assert f"your token's azp is '{EMAIL}'" in line
    assert "key file, whose azp is the email" in line
    assert f"use '{EMAIL}'" in line


def test_explains_session_name_mismatch() -> None:
    cond = {"StringLike": {"sts:RoleSessionName": "gce-*"}}
    line = only_failure(policy(statement(cond)), gce_context("my-vm")).explain()
    assert "Condition StringLike sts:RoleSessionName wants 'gce-*'" in line
    assert "the session name is 'my-vm'" in line
    assert "role session name that matches 'gce-*'" in line


def test_explains_oidc_provider_arn_principal() -> None:
    arn = "arn:aws:iam::123456789012:oidc-provider/accounts.google.com"
    line = only_failure(policy(statement(principal={"Federated": arn})), gce_context()).explain()
    assert f"Principal Federated '{arn}' does not include 'accounts.google.com'" in line
    assert "IAM OIDC provider ARN" in line
    assert '"Federated": "accounts.google.com"' in line


@pytest.mark.parametrize(
    ("principal", "needle"),
    [
        ({"Federated": "https://accounts.google.com"}, "without scheme"),
        ({"AWS": "arn:aws:iam::1:root"}, "AWS principals are AWS accounts"),
        ({"Federated": "cognito-identity.amazonaws.com"}, "federated by accounts.google.com"),
    ],
)
def test_explains_other_wrong_principals(principal: Any, needle: str) -> None:
    line = only_failure(policy(statement(principal=principal)), gce_context()).explain()
    assert needle in line


def test_explains_wrong_action() -> None:
    line = only_failure(policy(statement(action="sts:AssumeRole")), gce_context()).explain()
    assert "Action 'sts:AssumeRole' does not include 'sts:AssumeRoleWithWebIdentity'" in line
    assert '"Action": "sts:AssumeRoleWithWebIdentity"' in line


def test_explains_wrong_requested_audience() -> None:
    cond = {"StringEquals": {"accounts.google.com:oaud": "sts.amazonaws.com"}}
    line = only_failure(policy(statement(cond)), gce_context()).explain()
    assert "your token's aud is 'gcp'" in line
    assert "Request the audience 'sts.amazonaws.com'" in line


def test_explains_unique_id_put_under_oaud() -> None:
    cond = {"StringEquals": {"accounts.google.com:oaud": UNIQUE_ID}}
    line = only_failure(policy(statement(cond)), gce_context()).explain()
    assert "belongs under accounts.google.com:aud" in line


def test_explains_email_condition_key_aws_never_sets() -> None:
    cond = {"StringEquals": {"accounts.google.com:email": EMAIL}}
    line = only_failure(policy(statement(cond)), gce_context()).explain()
    assert "accounts.google.com:email is not set" in line
    assert "never in the request" in line


def test_explains_email_under_sub() -> None:
    cond = {"StringEquals": {"accounts.google.com:sub": EMAIL}}
    line = only_failure(policy(statement(cond)), gce_context()).explain()
    assert f"not its email: use '{UNIQUE_ID}'" in line


def test_unknown_operator_is_reported_with_a_fix_and_a_warning() -> None:
    cond = {"stringEquals": {"accounts.google.com:aud": UNIQUE_ID}}
    result = evaluate(policy(statement(cond)), gce_context())
    assert not result.allowed
    assert "Write StringEquals" in result.summary()
    assert any("did you mean StringEquals" in w for w in result.warnings)


def test_summary_counts_further_failures_and_picks_closest_statement() -> None:
    far = statement(principal={"AWS": "arn:aws:iam::1:root"}, sid="Far")
    near = statement(
        {
            "StringEquals": {"accounts.google.com:aud": "gcp"},
            "StringLike": {"sts:RoleSessionName": "x-*"},
        },
        sid="Near",
    )
    summary = evaluate(policy(far, near), gce_context()).summary()
    assert summary.startswith("Denied: Statement[1] (Sid Near) does not match.")
    assert summary.endswith("(and 1 more)")
    assert "\n" not in summary


def test_resource_field_warns() -> None:
    result = evaluate(policy(statement(Resource="*")), gce_context())
    assert result.allowed
    assert any("'Resource' is not allowed" in w for w in result.warnings)


# --- malformed policies ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "needle"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ({"Version": "2012-10-17"}, "no Statement"),
        ({"Statement": "x"}, "Statement must be an object or a list"),
        ({"Statement": [1]}, "Statement[0] must be an object"),
        ({"Statement": [{"Effect": "allow"}]}, "Effect must be"),
        ({"Statement": [{"Effect": "Allow", "Action": ACTION}]}, "exactly one of Principal"),
        (
            {"Statement": [{"Effect": "Allow", "Principal": "*", "NotPrincipal": "*"}]},
            "exactly one of Principal",
        ),
        ({"Statement": [{"Effect": "Allow", "Principal": "*"}]}, "exactly one of Action"),
        ({"Statement": [statement(principal={"Fed": "x"})]}, "unknown principal type"),
        ({"Statement": [statement(principal="someone")]}, "Principal must be"),
        ({"Statement": [statement(action=5)]}, "Action must be a string or a list"),
        ({"Statement": [statement(condition=[])]}, "Condition must be an object"),
        ({"Statement": [statement({"StringEquals": "x"})]}, "StringEquals must be an object"),
        ({"Statement": [statement({"StringEquals": {"k": None}})]}, "StringEquals.k must be"),
        ({"Statement": [statement({"StringEquals": {"k": [{}]}})]}, "not an object"),
        ({"Statement": [{**statement(), "Sid": 3}]}, "Sid must be a string"),
    ],
)
def test_malformed_policy_is_config_error(document: Any, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        evaluate(document, gce_context())
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_deeply_nested_json_is_config_error() -> None:
    with pytest.raises(ConfigError):
        evaluate("[" * 100_000 + "]" * 100_000, gce_context())


# --- properties ------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)
operators = st.sampled_from(
    [
        "StringEquals",
        "StringNotLike",
        "ForAllValues:StringLike",
        "ForAnyValue:StringNotEqualsIfExists",
        "Null",
        "Bool",
        "IpAddress",
        "NotIpAddressIfExists",
        "NumericLessThan",
        "DateGreaterThan",
        "ArnLike",
        "Bogus",
        "x:y:z",
    ]
)
keys = st.sampled_from(
    ["accounts.google.com:aud", "ACCOUNTS.google.com:OAUD", "sts:RoleSessionName", "aws:SourceIp"]
)
plausible = st.sampled_from(
    [UNIQUE_ID, EMAIL, "gcp", "my-vm", "my-*", "*", "?", "true", "false", "10.0.0.0/8", "::/0"]
)
condition_values = st.one_of(
    plausible, st.lists(plausible | st.text(max_size=4), max_size=3), json_values
)
conditions = st.dictionaries(
    operators, st.dictionaries(keys | st.text(max_size=5), condition_values, max_size=3)
)
principals = st.one_of(
    st.just("*"),
    st.just(GOOGLE),
    st.dictionaries(st.sampled_from(["AWS", "Federated", "Service", "Bad"]), json_values),
    json_values,
)
actions = st.sampled_from([ACTION, "sts:*", "*", [ACTION], "sts:AssumeRole"])
# Well-formed statements reach the evaluation logic; free-form ones exercise the parser.
valid_statements = st.fixed_dictionaries(
    {
        "Effect": st.sampled_from(["Allow", "Allow", "Deny"]),
        "Principal": st.sampled_from(["*", GOOGLE, GOOGLE, {"AWS": "*"}]),
        "Action": actions,
    },
    optional={"Sid": st.text(max_size=5), "Condition": conditions},
)
free_statements = st.fixed_dictionaries(
    {},
    optional={
        "Sid": st.one_of(st.text(max_size=5), json_values),
        "Effect": st.sampled_from(["Allow", "Deny", "allow", 1]),
        "Principal": principals,
        "NotPrincipal": principals,
        "Action": st.one_of(actions, json_values),
        "NotAction": st.one_of(st.sampled_from(["sts:AssumeRole", "*"]), json_values),
        "Condition": st.one_of(conditions, json_values),
        "Resource": json_values,
    },
)
statements = valid_statements | free_statements
policies = st.one_of(
    st.fixed_dictionaries(
        {
            "Statement": st.one_of(
                st.lists(valid_statements, max_size=3),
                st.lists(statements, max_size=3),
                statements,
                json_values,
            )
        },
        optional={"Version": st.one_of(st.just("2012-10-17"), json_values)},
    ),
    json_values,
    st.text(max_size=30),
)
no_fixture_check = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@given(policies, st.sampled_from([None, "10.1.2.3", "2001:db8::1"]))
@no_fixture_check
def test_any_policy_either_evaluates_or_raises_config_error(
    document: Any, source_ip: str | None
) -> None:
    try:
        result = evaluate(document, gce_context(source_ip=source_ip))
    except ConfigError as exc:
        error: ConfigError | None = exc
    else:
        error = None
    if error is not None:
        assert "\n" not in str(error)
        return
    summary = result.summary()
    assert "\n" not in summary
    assert summary.startswith("Allowed" if result.allowed else "Denied")
    for st_result in result.statements:
        assert st_result.matched == (not st_result.failures)
        for failure in st_result.failures:
            assert "\n" not in failure.explain()


ids = st.from_regex(r"[1-9][0-9]{20}", fullmatch=True)
emails = st.from_regex(
    r"[a-z][a-z0-9-]{5,29}@[a-z][a-z0-9-]{5,29}\.iam\.gserviceaccount\.com", fullmatch=True
)
audiences = st.text(min_size=1, max_size=40).filter(lambda s: "," not in s)
session_names = st.from_regex(r"[\w+=,.@-]{2,64}", fullmatch=True)


@given(
    azp=st.one_of(ids, emails, st.none()),
    aud=audiences,
    sub=ids,
    session=session_names,
    pattern_kind=st.sampled_from(["none", "exact", "prefix", "star"]),
    audience=st.one_of(st.none(), audiences),
)
@no_fixture_check
def test_generated_policy_allows_its_own_token(
    *, azp: str | None, aud: str, sub: str, session: str, pattern_kind: str, audience: str | None
) -> None:
    claims: dict[str, Any] = {"aud": audience or aud, "sub": sub}
    if azp is not None:
        claims["azp"] = azp
    tok = token(**claims)
    pattern = {"none": None, "exact": session, "prefix": session[:1] + "*", "star": "*"}[
        pattern_kind
    ]
    generated = trust_policy(tok, audience=audience, session_name_pattern=pattern)
    context = RequestContext.from_token(tok, role_session_name=session)
    result = evaluate(generated, context)
    assert result.allowed, result.summary()
    # ...and the same policy refuses a different service account.
    other = token(**{**claims, "azp": "1" + (azp or aud)})
    refused = evaluate(generated, RequestContext.from_token(other, role_session_name=session))
    assert not refused.allowed
    assert "accounts.google.com:aud" in refused.summary()


def test_documented_gce_policy_allows_a_gce_token() -> None:
    text = (repo.DOCS / "trust-policy.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```json\n")[1:]]
    (document,) = [b for b in blocks if '"Version"' in b]
    documented = RequestContext.from_token(
        token(azp=UNIQUE_ID, aud="sts.amazonaws.com", sub=UNIQUE_ID), role_session_name="vm"
    )
    assert evaluate(document, documented).allowed
    assert not evaluate(document, gce_context()).allowed  # aud "gcp" is not sts.amazonaws.com


@pytest.mark.parametrize("key", ["accounts.google.com:oaud", "accounts.google.com:aud", "k"])
def test_empty_value_list_never_matches_and_explains(key: str) -> None:
    result = evaluate(policy(statement({"StringEquals": {key: []}})), gce_context())
    assert not result.allowed
    assert "wants no value" in result.summary()
