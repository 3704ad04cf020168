"""`gcp2aws demo`: the real credential_process flow against local emulators, no cloud account.

It starts the metadata emulator and a local STS (moto) on loopback, writes a throwaway AWS
config whose profile runs ``gcp2aws credentials``, and lets botocore use that profile exactly
as the AWS CLI would: the first call exchanges a token, the second is a cache hit.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from gcp2aws import envvars

DEMO_ROLE_ARN = "arn:aws:iam::123456789012:role/gcp2aws-demo"
DEMO_PROFILE = "gcp2aws-demo"
DEMO_REGION = "us-east-1"


@contextmanager
def _patched_environ(values: dict[str, str], remove: tuple[str, ...]) -> Iterator[None]:
    # botocore reads os.environ itself, so the demo steers it there, and restores it after.
    saved = dict(os.environ)
    try:
        for name in remove:
            os.environ.pop(name, None)
        os.environ.update(values)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run(out: Callable[[str], None] = print) -> str:
    """Run the demo, reporting each step through ``out``; returns the assumed-role ARN."""
    import botocore.session

    from gcp2aws.emulator.local_sts import LocalSts
    from gcp2aws.emulator.metadata import MetadataEmulator

    with (
        MetadataEmulator() as metadata,
        LocalSts() as local_sts,
        tempfile.TemporaryDirectory(prefix="gcp2aws-demo-") as tmp,
    ):
        out(f"metadata emulator  {metadata.url}  (service account {metadata.email})")
        out(f"local STS (moto)   {local_sts.url}")
        config = os.path.join(tmp, "config")
        command = f"{sys.executable} -m gcp2aws credentials --role-arn {DEMO_ROLE_ARN}"
        with open(config, "w", encoding="utf-8") as fh:
            fh.write(
                f"[profile {DEMO_PROFILE}]\ncredential_process = {command}\n"
                f"region = {DEMO_REGION}\n"
            )
        out(
            f"profile [{DEMO_PROFILE}]  credential_process = gcp2aws credentials "
            f"--role-arn {DEMO_ROLE_ARN}"
        )
        values = {
            envvars.GCE_METADATA_HOST: metadata.address,
            envvars.GCE_METADATA_IP: metadata.address,
            envvars.AWS_ENDPOINT_URL_STS: local_sts.url,
            envvars.AWS_CONFIG_FILE: config,
            "AWS_SHARED_CREDENTIALS_FILE": os.path.join(tmp, "credentials"),
            envvars.CACHE_DIR: os.path.join(tmp, "cache"),
        }
        remove = tuple(n for n in os.environ if n.startswith(("AWS_", "GCP2AWS_")))
        with _patched_environ(values, remove):
            arn = ""
            for label in (
                "GetCallerIdentity #1 (credential_process exchanged a token)",
                "GetCallerIdentity #2 (credential_process answered from the cache)",
            ):
                started = time.perf_counter()
                session = botocore.session.Session(profile=DEMO_PROFILE)
                client = session.create_client("sts", region_name=DEMO_REGION)
                arn = str(client.get_caller_identity()["Arn"])  # type: ignore[attr-defined]
                elapsed = (time.perf_counter() - started) * 1000
                out(f"{label}: {elapsed:.0f} ms")
        out(
            f"token requests to the metadata server: {metadata.identity_calls}; "
            f"STS AssumeRoleWithWebIdentity calls: "
            f"{local_sts.calls['AssumeRoleWithWebIdentity']}"
        )
        out(f"aws sts get-caller-identity -> {arn}")
        return arn
