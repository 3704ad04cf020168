"""AdmissionReview parsing and the decisions that are not a mutation: skips, denials, errors."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import pytest

from gcp2aws.webhook import injection, mutate, review

ROLE = "arn:aws:iam::123456789012:role/app"
OPTIONS = mutate.Options(image="gcp2aws:test")


def request(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uid": "u-1",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "operation": "CREATE",
        "namespace": "shop",
        "object": {
            "metadata": {"generateName": "app-"},
            "spec": {"serviceAccountName": "app", "containers": [{"name": "app", "image": "x"}]},
        },
    }
    body.update(overrides)
    return body


def lookup_of(annotations: Mapping[str, str] | None) -> review.Lookup:
    return lambda _ns, _name: annotations


def decide(annotations: Mapping[str, str] | None, **overrides: Any) -> review.Outcome:
    return review.answer(request(**overrides), lookup_of(annotations), OPTIONS)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (b"[]", "not an AdmissionReview"),
        (
            json.dumps(
                {"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1beta1"}
            ).encode(),
            "only admission.k8s.io/v1",
        ),
        (
            json.dumps({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1"}).encode(),
            "no request.uid",
        ),
        (
            json.dumps(
                {
                    "kind": "AdmissionReview",
                    "apiVersion": "admission.k8s.io/v1",
                    "request": {"uid": "u", "object": []},
                }
            ).encode(),
            "request.object",
        ),
    ],
)
def test_a_malformed_review_is_a_review_error(body: bytes, fragment: str) -> None:
    with pytest.raises(review.ReviewError, match=fragment):
        review.parse(body)


def test_a_pod_object_that_is_not_an_object_is_a_review_error() -> None:
    with pytest.raises(review.ReviewError):
        review.answer(request(object={"metadata": [], "spec": {}}), lookup_of({}), OPTIONS)
    bad_annotations = {"metadata": {"annotations": ["x"]}, "spec": {}}
    with pytest.raises(review.ReviewError):
        review.answer(request(object=bad_annotations), lookup_of({}), OPTIONS)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"kind": {"group": "apps", "version": "v1", "kind": "Deployment"}}, "not_a_pod"),
        ({"subResource": "ephemeralcontainers"}, "not_a_pod"),
        ({"operation": "UPDATE"}, "not_create"),
    ],
)
def test_what_the_webhook_does_not_mutate_is_allowed_unchanged(
    overrides: dict[str, Any], reason: str
) -> None:
    outcome = decide({injection.ROLE_ARN: ROLE}, **overrides)
    assert (outcome.outcome, outcome.reason) == ("skipped", reason)
    assert outcome.response == {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": "u-1", "allowed": True},
    }


def test_an_unknown_service_account_is_skipped() -> None:
    assert decide(None).reason == "no_service_account"


def test_the_default_service_account_is_looked_up_when_the_pod_names_none() -> None:
    seen = []

    def lookup(namespace: str, name: str) -> None:
        seen.append((namespace, name))

    pod = {"metadata": {}, "spec": {"containers": [{"name": "a", "image": "x"}]}}
    review.answer(request(object=pod), lookup, OPTIONS)
    assert seen == [("shop", "default")]


def test_a_failed_lookup_propagates_for_the_failure_policy() -> None:
    def failing(_ns: str, _name: str) -> Mapping[str, str] | None:
        raise review.LookupFailedError("API server down")

    with pytest.raises(review.LookupFailedError):
        review.answer(request(), failing, OPTIONS)


def test_the_default_region_applies_only_without_a_region_annotation() -> None:
    options = mutate.Options(image="gcp2aws:test", default_region="eu-west-3")

    def env(annotations: dict[str, str]) -> dict[str, str]:
        outcome = review.answer(request(), lookup_of(annotations), options)
        ops = json.loads(base64.b64decode(outcome.response["response"]["patch"]))
        container = next(op["value"] for op in ops if op["path"] == "/spec/containers/0/env")
        return {item["name"]: item.get("value") for item in container}

    assert env({injection.ROLE_ARN: ROLE})["AWS_REGION"] == "eu-west-3"
    assert env({injection.ROLE_ARN: ROLE, injection.REGION: "us-west-1"})["AWS_REGION"] == (
        "us-west-1"
    )


def test_mode_words_are_case_insensitive() -> None:
    want = injection.from_service_account({injection.ROLE_ARN: ROLE, injection.MODE: " Endpoint "})
    assert want is not None
    assert want.mode == "endpoint"


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        (injection.MODE, "magic", "is not one of sidecar, endpoint, projected"),
        (injection.ROLE_ARN, "not-an-arn", "role-arn"),
        (injection.REGION, "Mars", "region"),
        (injection.AUDIENCE, "two words", "audience"),
        (injection.STS_REGIONAL_ENDPOINTS, "maybe", "is not true, false, regional or legacy"),
        (injection.DURATION_SECONDS, "10", "duration-seconds"),
        (injection.DURATION_SECONDS, "٣٦٠٠", "duration-seconds"),  # Arabic-Indic digits
        (injection.TOKEN_EXPIRATION, "60", "out of range"),
        (injection.TOKEN_EXPIRATION, "1h", "not a whole number"),
    ],
)
def test_an_unusable_service_account_annotation_denies_with_the_reason(
    key: str, value: str, fragment: str
) -> None:
    annotations = {injection.ROLE_ARN: ROLE, key: value}
    outcome = decide(annotations)
    assert outcome.outcome == "denied"
    response = outcome.response["response"]
    assert response["allowed"] is False
    assert response["status"]["code"] == 403
    assert fragment in response["status"]["message"]
    assert key in response["status"]["message"]


@pytest.mark.parametrize(
    ("annotations", "fragment"),
    [
        ({injection.INJECT: "maybe"}, 'is not "true" or "false"'),
        ({injection.SKIP_CONTAINERS: "app,Bad_Name"}, "not a container name"),
    ],
)
def test_an_unusable_pod_annotation_denies(annotations: dict[str, str], fragment: str) -> None:
    pod = {
        "metadata": {"annotations": annotations},
        "spec": {"containers": [{"name": "app", "image": "x"}]},
    }
    outcome = decide({injection.ROLE_ARN: ROLE}, object=pod)
    assert outcome.outcome == "denied"
    assert fragment in outcome.response["response"]["status"]["message"]


def test_foreign_bytes_in_an_annotation_are_escaped_in_the_denial() -> None:
    outcome = decide({injection.ROLE_ARN: ROLE, injection.MODE: "x\n\x1b[2Jevil" + "A" * 500})
    message = outcome.response["response"]["status"]["message"]
    assert "\n" not in message
    assert "\x1b" not in message
    assert len(message) < 300


def test_inject_true_on_the_pod_changes_nothing_but_cannot_widen() -> None:
    pod = {
        "metadata": {"annotations": {injection.INJECT: "true"}},
        "spec": {"containers": [{"name": "app", "image": "x"}]},
    }
    assert decide(None, object=pod).reason == "no_service_account"
    assert decide({}, object=pod).reason == "no_role_annotation"
    assert decide({injection.ROLE_ARN: ROLE}, object=pod).outcome == "mutated"


@pytest.mark.parametrize(
    "spec",
    [
        {"containers": "app"},
        {"containers": ["app"]},
        {"containers": [{"name": "a", "env": {"AWS_REGION": "x"}}]},
        {"containers": [{"name": "a", "volumeMounts": [1]}]},
        {"containers": [{"name": "a"}], "initContainers": {}},
        {"containers": [{"name": "a"}], "volumes": [None]},
    ],
)
def test_a_pod_of_the_wrong_shape_is_a_review_error(spec: dict[str, Any]) -> None:
    with pytest.raises(review.ReviewError):
        review.answer(
            request(object={"spec": spec}), lookup_of({injection.ROLE_ARN: ROLE}), OPTIONS
        )


def test_json_nulls_where_objects_belong_are_absent_objects() -> None:
    pod = {
        "metadata": {"annotations": None, "labels": None},
        "spec": {
            "containers": [{"name": "app", "image": "x", "env": None}],
            "volumes": None,
            "initContainers": None,
        },
    }
    outcome = decide({injection.ROLE_ARN: ROLE}, object=pod)
    assert outcome.outcome == "mutated"
