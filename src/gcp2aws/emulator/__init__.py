"""Local emulators of the GCE metadata server, Google's token/IAM APIs and AWS STS.

Importing this package is cheap: each name is loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MetadataEmulator": "gcp2aws.emulator.metadata",
    "GoogleApisEmulator": "gcp2aws.emulator.google_apis",
    "LocalSts": "gcp2aws.emulator.local_sts",
    "Signer": "gcp2aws.emulator.signer",
    "make_service_account_key": "gcp2aws.emulator.signer",
    "serve_forever": "gcp2aws.emulator.serve",
    "Status": "gcp2aws.emulator.faults",
    "Hang": "gcp2aws.emulator.faults",
    "Reset": "gcp2aws.emulator.faults",
    "Drip": "gcp2aws.emulator.faults",
    "Body": "gcp2aws.emulator.faults",
    "Token": "gcp2aws.emulator.faults",
    "StsError": "gcp2aws.emulator.faults",
}

__all__ = [
    "Body",
    "Drip",
    "GoogleApisEmulator",
    "Hang",
    "LocalSts",
    "MetadataEmulator",
    "Reset",
    "Signer",
    "Status",
    "StsError",
    "Token",
    "make_service_account_key",
    "serve_forever",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
