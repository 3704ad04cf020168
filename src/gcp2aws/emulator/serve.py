"""Run the emulators in the foreground until SIGINT/SIGTERM (the `gcp2aws emulator` command)."""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from typing import Any, TextIO

from gcp2aws import signals
from gcp2aws.emulator.metadata import MetadataEmulator

log = logging.getLogger(__name__)


def serve_forever(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    sts: bool = False,
    stdout: TextIO | None = None,
    stop: threading.Event | None = None,
    **metadata_options: Any,
) -> int:
    """Serve a :class:`MetadataEmulator` (and, with ``sts``, a :class:`LocalSts`) until
    SIGINT/SIGTERM or until ``stop`` is set; returns the exit status (0).

    The ``export`` lines a shell needs to use them go to ``stdout`` as soon as the servers
    listen, e.g. ``eval "$(gcp2aws emulator)"`` style; ``metadata_options`` are passed to
    :class:`MetadataEmulator` (email, project_id, zone, ...).

    Raises:
        ConfigError: ``sts`` was asked for and moto is not installed.
    """
    out = stdout or sys.stdout
    stop = stop or threading.Event()
    with contextlib.ExitStack() as stack:
        # Handlers go in before the export lines announce readiness: a supervisor that stops
        # us as soon as it reads them must get a clean exit, not a KeyboardInterrupt.
        stack.enter_context(signals.stopping(stop))
        metadata = stack.enter_context(MetadataEmulator(host=host, port=port, **metadata_options))
        lines = [
            f"export GCE_METADATA_HOST={metadata.address}",
            f"export GCE_METADATA_IP={metadata.address}",
        ]
        if sts:
            from gcp2aws.emulator.local_sts import LocalSts

            local_sts = stack.enter_context(LocalSts(host=host))
            lines.append(f"export AWS_ENDPOINT_URL_STS={local_sts.url}")
        out.write("".join(line + "\n" for line in lines))
        out.flush()
        log.info("metadata emulator for %s on %s", metadata.email, metadata.url)
        while not stop.wait(0.5):
            pass
    return 0
