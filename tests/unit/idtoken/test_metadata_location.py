"""``metadata.workload_location``: the zone or region ``init`` picks a default region from."""

from __future__ import annotations

from gcp2aws.emulator.metadata import MetadataEmulator
from gcp2aws.idtoken import metadata


def test_the_zone_as_the_server_names_it() -> None:
    with MetadataEmulator(zone="asia-northeast1-b", project_number="123") as emu:
        assert metadata.workload_location(emu.address) == "projects/123/zones/asia-northeast1-b"


def test_nothing_listening_gives_none() -> None:
    assert metadata.workload_location("127.0.0.1:9", timeout=0.5) is None
