"""The fault matrix's one fixture: a row's context, with the emulators and an exit stack."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gcp2aws.emulator.metadata import MetadataEmulator
from tests.support.cli import Env
from tests.support.faults import Ctx, make_ctx


@pytest.fixture
def ctx(
    env: Env, metadata: MetadataEmulator, local_sts: Any, isolated_env: Path, tmp_path: Path
) -> Iterator[Ctx]:
    with contextlib.ExitStack() as stack:
        yield make_ctx(
            env=env.values,
            metadata=metadata,
            sts=local_sts,
            home=isolated_env,
            tmp=tmp_path,
            stack=stack,
        )
