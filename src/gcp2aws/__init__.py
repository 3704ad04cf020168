"""gcp2aws: temporary AWS credentials for Google Cloud workloads, from their Google identity."""

from __future__ import annotations

from gcp2aws._version import __version__

__all__ = ["__version__"]
