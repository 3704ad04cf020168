"""Helpers for token-source tests: the Google APIs emulator fixture, credentials files on disk.

(Not a conftest.py: a second module named ``conftest`` would shadow the top-level one.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gcp2aws.emulator.google_apis import GoogleApisEmulator

TARGET = "aws-access@demo-project.iam.gserviceaccount.com"
USER = "alice@example.com"


@pytest.fixture(name="google_apis")
def google_apis_fixture() -> Iterator[GoogleApisEmulator]:
    with GoogleApisEmulator() as apis:
        apis.add_service_account_identity(TARGET)
        yield apis


def write_json(path: Path, doc: Any) -> str:
    path.write_text(json.dumps(doc))
    return str(path)
