"""gcp2aws: temporary AWS credentials for Google Cloud workloads, from their Google identity.

The public API is loaded on first use (module ``__getattr__``), so ``import gcp2aws`` stays
cheap: the CLI's cache-hit path imports this package on every AWS CLI command.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from gcp2aws._version import __version__
    from gcp2aws.api import boto3_session, credentials
    from gcp2aws.errors import Gcp2AwsError
    from gcp2aws.models import AwsCredentials, IdToken

__all__ = [
    "AwsCredentials",
    "Gcp2AwsError",
    "IdToken",
    "__version__",
    "boto3_session",
    "credentials",
]

_LAZY = {
    "__version__": "gcp2aws._version",
    "credentials": "gcp2aws.api",
    "boto3_session": "gcp2aws.api",
    "AwsCredentials": "gcp2aws.models",
    "IdToken": "gcp2aws.models",
    "Gcp2AwsError": "gcp2aws.errors",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gcp2aws' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
