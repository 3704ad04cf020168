"""The Google-to-AWS region table and ``init``'s order for choosing a profile's region."""

from __future__ import annotations

import re

import botocore.loaders
import pytest

from gcp2aws.awsconfig import region
from gcp2aws.errors import UsageError

ROLE = "arn:aws:iam::123456789012:role/r"


def partition_regions(name: str) -> set[str]:
    data = botocore.loaders.Loader().load_data("endpoints")
    for partition in data["partitions"]:
        if partition["partition"] == name:
            return set(partition["regions"])
    raise AssertionError(f"botocore knows no partition {name}")


def test_every_google_region_maps_to_a_real_default_enabled_aws_region() -> None:
    known = partition_regions("aws")
    for google, aws in region.GOOGLE_TO_AWS.items():
        assert re.fullmatch(r"[a-z]+-[a-z]+\d+", google), google
        assert aws in known, (google, aws)
        assert aws not in region.OPT_IN_REGIONS, (google, aws)


def test_the_opt_in_list_names_real_regions() -> None:
    # A typo here would let the table map to an opt-in region unnoticed.
    assert region.OPT_IN_REGIONS.issubset(partition_regions("aws"))


@pytest.mark.parametrize(
    ("google", "aws"),
    [
        ("asia-northeast1", "ap-northeast-1"),
        ("europe-west2", "eu-west-2"),
        ("us-central1", "us-east-2"),
        ("asia-east2", "ap-northeast-2"),  # Hong Kong's own AWS region needs an opt-in
    ],
)
def test_examples(google: str, aws: str) -> None:
    assert region.nearest_aws_region(google, ROLE) == aws


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("projects/123456789/zones/asia-northeast1-b", "asia-northeast1"),
        ("asia-northeast1-b", "asia-northeast1"),
        ("projects/1/regions/europe-west2", "europe-west2"),  # Cloud Run's instance/region
        ("us-central1-1", "us-central1"),  # Cloud Run's instance/zone
        ("europe-west10-a", "europe-west10"),
        ("mars-north1-a", None),
        ("", None),
        ("<html>", None),
    ],
)
def test_google_region_of_a_metadata_location(location: str, expected: str | None) -> None:
    assert region.google_region(location) == expected


def test_other_partitions_get_no_mapping() -> None:
    for arn in ("arn:aws-cn:iam::123456789012:role/r", "arn:aws-us-gov:iam::123456789012:role/r"):
        assert region.nearest_aws_region("asia-northeast1-b", arn) is None


def choose(
    *,
    explicit: str | None = None,
    environ: dict[str, str] | None = None,
    profile_region: str | None = None,
    location: str | None = None,
    role_arn: str = ROLE,
) -> region.RegionChoice:
    asked: list[bool] = []

    def google_location() -> str | None:
        asked.append(True)
        return location

    choice = region.choose(
        role_arn=role_arn,
        explicit=explicit,
        explicit_from="--region",
        environ=environ or {},
        profile_region=profile_region,
        google_location=google_location,
    )
    # The metadata server is asked only when nothing before it decided.
    decided_early = bool(explicit or (environ or {}) or profile_region)
    assert asked == ([] if decided_early else [True])
    return choice


def test_the_flag_wins() -> None:
    choice = choose(
        explicit="eu-west-1", environ={"AWS_REGION": "us-west-2"}, profile_region="sa-east-1"
    )
    assert choice == region.RegionChoice("eu-west-1", "from --region")


def test_aws_region_then_aws_default_region() -> None:
    env = {"AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "eu-west-1"}
    assert choose(environ=env, profile_region="sa-east-1").why == "from AWS_REGION"
    only_default = choose(environ={"AWS_DEFAULT_REGION": "eu-west-1"})
    assert only_default == region.RegionChoice("eu-west-1", "from AWS_DEFAULT_REGION")


def test_a_malformed_environment_region_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        choose(environ={"AWS_REGION": "not a region"})


def test_the_profile_region_is_kept() -> None:
    choice = choose(profile_region="sa-east-1", location="projects/1/zones/asia-northeast1-b")
    assert choice == region.RegionChoice("sa-east-1", "kept from the profile")


def test_the_workload_zone_picks_the_nearest() -> None:
    choice = choose(location="projects/1/zones/asia-northeast1-b")
    assert choice.region == "ap-northeast-1"
    assert "asia-northeast1-b" in choice.why


def test_otherwise_the_partition_default() -> None:
    assert choose().region == "us-east-1"
    assert choose(location="mars-north1-a").region == "us-east-1"
    china = choose(location="asia-east2-a", role_arn="arn:aws-cn:iam::123456789012:role/r")
    assert china.region == "cn-north-1"
    assert "--region" in china.why
