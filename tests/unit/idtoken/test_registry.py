"""Unit tests for gcp2aws.idtoken.registry: one record per source, everything derived from it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from gcp2aws import options, settings
from gcp2aws.idtoken import chain, registry
from gcp2aws.idtoken.base import TokenSource
from gcp2aws.models import IdToken
from gcp2aws.retry import Deadline
from gcp2aws.settings import Settings


class FakeSource:
    name = "fake"
    requests_audience = True

    def describe(self) -> str:
        return "the fake source"

    def fetch(self, audience: str, deadline: Deadline) -> IdToken:
        raise NotImplementedError


def applies(settings: Settings, environ: Mapping[str, str], forced: bool) -> TokenSource | None:
    """The whole of a new source's detector: configured by FAKE_TOKEN_FILE."""
    return FakeSource() if environ.get("FAKE_TOKEN_FILE") or forced else None


@pytest.fixture
def with_fake(monkeypatch: pytest.MonkeyPatch) -> registry.Source:
    # The one registry line a new source needs, placed before the metadata server.
    fake = registry.Source(
        "fake",
        f"{__name__}:applies",
        "FAKE_TOKEN_FILE is unset",
        trigger_env=("FAKE_TOKEN_FILE",),
        key_env=("FAKE_TOKEN_FILE",),
        key_files=(("stamp.fake", lambda raw, env: env.get("FAKE_TOKEN_FILE")),),
    )
    sources = list(registry.SOURCES)
    sources.insert(next(i for i, s in enumerate(sources) if s.name == "metadata"), fake)
    monkeypatch.setattr(registry, "SOURCES", sources)
    return fake


def test_a_registered_source_is_a_choice_in_the_chain_and_in_the_key(
    with_fake: registry.Source, tmp_path: Path
) -> None:
    assert "fake" in registry.choices()
    assert settings.load({"token_source": "fake"}, {}).token_source == "fake"

    token_file = tmp_path / "t"
    token_file.write_text("x")
    env = {"HOME": str(tmp_path), "FAKE_TOKEN_FILE": str(token_file)}
    found = chain.explain(settings.load({}, env), env)
    assert found.source is not None
    assert found.source.name == "fake"
    # Every earlier source said why it did not apply, from its own record.
    assert found.notes[0] == "command: no --token-command"
    assert found.notes[-1].startswith("gcloud-adc-file: no gcloud ADC file")
    assert chain.select(settings.load({}, env), env).name == "fake"

    parts = options.key_parts({"role_arn": "arn:aws:iam::1:role/r"}, env)
    assert parts["source"] == "fake"
    assert parts["env.FAKE_TOKEN_FILE"] == str(token_file)
    assert parts["stamp.fake"] != "-"


def test_a_source_that_does_not_apply_explains_itself(
    with_fake: registry.Source, tmp_path: Path
) -> None:
    env = {"HOME": str(tmp_path), "GCE_METADATA_IP": "127.0.0.1:9"}
    found = chain.explain(settings.load({}, env), env)
    assert found.source is None
    assert "fake: FAKE_TOKEN_FILE is unset" in found.notes
    assert found.notes[-1].startswith("metadata: no metadata server answered")
    assert found.error is not None
    assert "no credentials found" in found.error.message


def test_the_cache_key_inputs_are_those_of_before_the_registry() -> None:
    # Same inputs, same keys: existing cache entries stay valid across the redesign.
    assert set(registry.key_env()) == {
        "GCE_METADATA_HOST",
        "GCE_METADATA_ROOT",
        "GCE_METADATA_IP",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "CLOUDSDK_CONFIG",
        "GCP2AWS_IAM_CREDENTIALS_ENDPOINT",
        "GCP2AWS_OAUTH_TOKEN_URI",
    }
    assert registry.choices() == (
        "auto",
        "command",
        "file",
        "impersonate",
        "service-account-key",
        "adc-impersonated",
        "metadata",
    )


def test_an_unusable_gcloud_file_lets_the_metadata_server_try_then_says_why(
    tmp_path: Path,
) -> None:
    adc = tmp_path / "gcloud" / "application_default_credentials.json"
    adc.parent.mkdir()
    adc.write_text('{"type": "authorized_user"}')
    env = {"HOME": str(tmp_path), "CLOUDSDK_CONFIG": str(adc.parent)}
    env["GCE_METADATA_IP"] = "127.0.0.1:9"
    found = chain.explain(settings.load({}, env), env)
    assert found.source is None
    assert not found.broken
    assert found.notes[-1].startswith("metadata: ")
    assert found.error is not None
    assert "cannot mint ID tokens" in found.error.message
    assert found.error.__cause__ is not None
