"""serve_forever in-process (stopped by its Event) and the package's lazy exports."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

from gcp2aws.emulator.serve import serve_forever
from tests.support.emulator import FLAVOR, request

WAIT = 60.0  # a guard against a hang, not a timing assertion


class FlushSignal(io.StringIO):
    """stdout stand-in that tells the test when serve_forever has printed its exports."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed = threading.Event()

    def flush(self) -> None:
        super().flush()
        self.flushed.set()


def exports_of(text: str) -> dict[str, str]:
    pairs = (line.removeprefix("export ").partition("=") for line in text.splitlines())
    return {name: value for name, _, value in pairs}


def run_in_thread(
    check: Callable[[dict[str, str]], None], **options: Any
) -> tuple[int | None, dict[str, str]]:
    out = FlushSignal()
    stop = threading.Event()
    result: list[int] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(serve_forever(stdout=out, stop=stop, **options))
        except BaseException as exc:  # surfaced in the test thread below
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        assert out.flushed.wait(WAIT), errors
        exports = exports_of(out.getvalue())
        check(exports)
    finally:
        stop.set()
        thread.join(WAIT)
    assert not thread.is_alive()
    assert not errors, errors
    return (result[0] if result else None), exports


def test_thread_serves_metadata_until_stop_is_set() -> None:
    seen: dict[str, Any] = {}

    def check(exports: dict[str, str]) -> None:
        reply = request(
            exports["GCE_METADATA_HOST"],
            "/computeMetadata/v1/instance/service-accounts/default/email",
            headers=FLAVOR,
        )
        seen["status"], seen["email"] = reply.status, reply.text

    code, exports = run_in_thread(
        check, email="thread@proj.iam.gserviceaccount.com", project_id="proj"
    )
    assert code == 0
    assert set(exports) == {"GCE_METADATA_HOST", "GCE_METADATA_IP"}
    assert seen == {"status": 200, "email": "thread@proj.iam.gserviceaccount.com"}
    # Once stopped, the port no longer answers.
    with pytest.raises(ConnectionRefusedError):
        request(exports["GCE_METADATA_HOST"], "/", headers=FLAVOR, timeout=5)


def test_thread_with_sts_exports_a_working_sts_endpoint() -> None:
    seen: dict[str, Any] = {}

    def check(exports: dict[str, str]) -> None:
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        client = boto3.client(
            "sts",
            endpoint_url=exports["AWS_ENDPOINT_URL_STS"],
            region_name="us-east-1",
            config=Config(signature_version=UNSIGNED),
        )
        reply = client.assume_role_with_web_identity(
            RoleArn="arn:aws:iam::123456789012:role/serve-role",
            RoleSessionName="serve-test",
            WebIdentityToken="header.payload.signature",
        )
        seen["arn"] = reply["AssumedRoleUser"]["Arn"]
        seen["key"] = reply["Credentials"]["AccessKeyId"]

    code, exports = run_in_thread(check, sts=True)
    assert code == 0
    assert exports["AWS_ENDPOINT_URL_STS"].startswith("http://127.0.0.1:")
    assert seen["arn"] == "arn:aws:sts::123456789012:assumed-role/serve-role/serve-test"
    assert seen["key"]


def test_main_thread_installs_and_restores_signal_handlers() -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    out = FlushSignal()
    stop = threading.Event()
    during: dict[int, Any] = {}

    def watcher() -> None:
        if out.flushed.wait(WAIT):
            during.update({sig: signal.getsignal(sig) for sig in before})
        stop.set()

    thread = threading.Thread(target=watcher, daemon=True)
    thread.start()
    assert serve_forever(stdout=out, stop=stop) == 0
    thread.join(WAIT)
    assert set(during) == set(before)
    assert all(during[sig] is not before[sig] for sig in before)  # ours while serving
    assert {sig: signal.getsignal(sig) for sig in before} == before  # restored after


def test_lazy_exports_resolve_to_the_defining_modules() -> None:
    import gcp2aws.emulator as pkg
    from gcp2aws.emulator import metadata, serve, signer

    assert pkg.MetadataEmulator is metadata.MetadataEmulator
    assert pkg.serve_forever is serve.serve_forever
    assert pkg.make_service_account_key is signer.make_service_account_key
    for name in pkg.__all__:
        assert getattr(pkg, name) is not None, name


def test_unknown_attribute_raises_attribute_error() -> None:
    import gcp2aws.emulator as pkg

    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        pkg.NoSuchThing  # noqa: B018
    assert not hasattr(pkg, "_private_helper")


def test_importing_the_package_loads_no_emulator_module() -> None:
    code = (
        "import sys, gcp2aws.emulator; "
        "print(sorted(m for m in sys.modules if m.startswith('gcp2aws.emulator.')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=WAIT
    )
    assert proc.stdout.strip() == "[]"
