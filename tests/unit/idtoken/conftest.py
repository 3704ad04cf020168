"""Fixtures for token-source tests: the Google OAuth / IAM Credentials emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gcp2aws.emulator.google_apis import GoogleApisEmulator
from tests.support.google import TARGET


@pytest.fixture
def google_apis() -> Iterator[GoogleApisEmulator]:
    with GoogleApisEmulator() as apis:
        apis.add_service_account_identity(TARGET)
        yield apis
