"""Which AWS region a written profile gets: the resolution order of ``gcp2aws init``.

The AWS CLI refuses a profile with no region ("You must specify a region") and a VM has no
``AWS_REGION``, so ``init`` always writes one. The table maps each Google Cloud region to the
nearest AWS region of the commercial partition that every account has enabled: regions that
need an opt-in (af-south-1, ap-east-1, me-central-1, ...) are left out on purpose, because STS
calls there fail until the account enables them. "Nearest" is by great-circle distance
between the two metros; ties go to the region most services launch in first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gcp2aws import envvars, validation

# Google Cloud region -> nearest default-enabled AWS region (commercial partition).
GOOGLE_TO_AWS: dict[str, str] = {
    "africa-south1": "ap-south-1",  # Johannesburg -> Mumbai (af-south-1 is opt-in)
    "asia-east1": "ap-northeast-2",  # Changhua County, Taiwan -> Seoul
    "asia-east2": "ap-northeast-2",  # Hong Kong -> Seoul (ap-east-1 is opt-in)
    "asia-northeast1": "ap-northeast-1",  # Tokyo
    "asia-northeast2": "ap-northeast-3",  # Osaka
    "asia-northeast3": "ap-northeast-2",  # Seoul
    "asia-south1": "ap-south-1",  # Mumbai
    "asia-south2": "ap-south-1",  # Delhi -> Mumbai (ap-south-2 is opt-in)
    "asia-southeast1": "ap-southeast-1",  # Singapore
    "asia-southeast2": "ap-southeast-1",  # Jakarta -> Singapore (ap-southeast-3 is opt-in)
    "australia-southeast1": "ap-southeast-2",  # Sydney
    "australia-southeast2": "ap-southeast-2",  # Melbourne -> Sydney (ap-southeast-4 is opt-in)
    "europe-central2": "eu-central-1",  # Warsaw -> Frankfurt
    "europe-north1": "eu-north-1",  # Hamina -> Stockholm
    "europe-north2": "eu-north-1",  # Stockholm
    "europe-southwest1": "eu-west-3",  # Madrid -> Paris (eu-south-2 is opt-in)
    "europe-west1": "eu-west-3",  # St. Ghislain, Belgium -> Paris
    "europe-west2": "eu-west-2",  # London
    "europe-west3": "eu-central-1",  # Frankfurt
    "europe-west4": "eu-central-1",  # Eemshaven, Netherlands -> Frankfurt
    "europe-west6": "eu-central-1",  # Zurich -> Frankfurt (eu-central-2 is opt-in)
    "europe-west8": "eu-central-1",  # Milan -> Frankfurt (eu-south-1 is opt-in)
    "europe-west9": "eu-west-3",  # Paris
    "europe-west10": "eu-central-1",  # Berlin -> Frankfurt
    "europe-west12": "eu-central-1",  # Turin -> Frankfurt
    "me-central1": "ap-south-1",  # Doha -> Mumbai (me-south-1, me-central-1 are opt-in)
    "me-central2": "ap-south-1",  # Dammam -> Mumbai
    "me-west1": "eu-central-1",  # Tel Aviv -> Frankfurt (il-central-1 is opt-in)
    "northamerica-northeast1": "ca-central-1",  # Montreal
    "northamerica-northeast2": "ca-central-1",  # Toronto -> Montreal
    "northamerica-south1": "us-east-2",  # Queretaro -> Ohio (mx-central-1 is opt-in)
    "southamerica-east1": "sa-east-1",  # Sao Paulo
    "southamerica-west1": "sa-east-1",  # Santiago -> Sao Paulo
    "us-central1": "us-east-2",  # Council Bluffs, Iowa -> Ohio
    "us-east1": "us-east-1",  # Moncks Corner, South Carolina -> N. Virginia
    "us-east4": "us-east-1",  # Ashburn, N. Virginia
    "us-east5": "us-east-2",  # Columbus, Ohio
    "us-south1": "us-east-2",  # Dallas -> Ohio
    "us-west1": "us-west-2",  # The Dalles, Oregon
    "us-west2": "us-west-1",  # Los Angeles -> N. California
    "us-west3": "us-west-2",  # Salt Lake City -> Oregon
    "us-west4": "us-west-1",  # Las Vegas -> N. California
}

# Commercial regions an account must enable before STS answers there (launched after
# March 2019). The table above never maps to one.
OPT_IN_REGIONS = frozenset(
    {
        "af-south-1",
        "ap-east-1",
        "ap-east-2",
        "ap-south-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-6",
        "ap-southeast-7",
        "ca-west-1",
        "eu-central-2",
        "eu-south-1",
        "eu-south-2",
        "il-central-1",
        "me-central-1",
        "me-south-1",
        "mx-central-1",
    }
)


@dataclass(frozen=True)
class RegionChoice:
    """The region ``init`` writes, and the one-line reason it prints."""

    region: str
    why: str


def google_region(location: str) -> str | None:
    """The Google region of a metadata ``instance/zone`` or ``instance/region`` value.

    Accepts ``projects/123/zones/asia-northeast1-b``, ``asia-northeast1-b``, Cloud Run's
    ``us-central1-1`` and a bare region; None for anything the table does not know.
    """
    name = location.strip().rsplit("/", 1)[-1]
    if name in GOOGLE_TO_AWS:
        return name
    region, _, _zone = name.rpartition("-")
    return region if region in GOOGLE_TO_AWS else None


def nearest_aws_region(location: str, role_arn: str) -> str | None:
    """The AWS region nearest to a Google location, when the role is in the commercial
    partition (the table says nothing about China, GovCloud or the isolated partitions)."""
    if validation.partition_of(role_arn) != "aws":
        return None
    region = google_region(location)
    return GOOGLE_TO_AWS[region] if region else None


def choose(
    *,
    role_arn: str,
    explicit: str | None,
    explicit_from: str,
    environ: Mapping[str, str],
    profile_region: str | None,
    google_location: Callable[[], str | None],
) -> RegionChoice:
    """The region for a profile, in ``init``'s order of precedence.

    ``google_location`` is called only when nothing before it decides: it asks the metadata
    server, which costs a round trip (and is absent off Google Cloud).
    """
    if explicit:
        return RegionChoice(explicit, f"from {explicit_from}")
    for name in (envvars.AWS_REGION, envvars.AWS_DEFAULT_REGION):
        value = environ.get(name)
        if value:
            return RegionChoice(validation.region(value), f"from {name}")
    if profile_region:
        return RegionChoice(profile_region, "kept from the profile")
    location = google_location()
    if location:
        nearest = nearest_aws_region(location, role_arn)
        if nearest:
            zone = location.rsplit("/", 1)[-1]
            return RegionChoice(nearest, f"the nearest AWS region to the workload's zone {zone}")
    default = validation.default_region(role_arn)
    return RegionChoice(default, "the partition's default; pass --region to choose another")
