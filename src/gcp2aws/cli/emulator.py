"""``gcp2aws emulator``: run the metadata emulator (and a local STS) in the foreground."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from gcp2aws import validation

DESCRIPTION = """\
Serve a local GCE metadata server (RS256 ID tokens with realistic claims, the
Metadata-Flavor rules, service-account and instance paths) on loopback, so that
gcp2aws, google-auth and your own code can be tested off Google Cloud. Prints the
export lines to use it, then runs until Ctrl-C or SIGTERM. With --sts it also serves
a local STS (moto; needs `pip install 'gcp2aws[demo]'`).
"""


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "emulator",
        help="run the local metadata emulator (and STS) for testing off Google Cloud",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--port", type=validation.port, default=0, help="metadata port (default: any free)"
    )
    parser.add_argument("--sts", action="store_true", help="also serve a local STS (moto)")
    parser.add_argument("--email", help="the service account's email")
    parser.add_argument("--project-id", help="the project id")
    parser.add_argument("--instance-name", help="the VM's name (session name default)")
    parser.add_argument("--token-lifetime", type=int, help="ID token lifetime in seconds")
    parser.add_argument(
        "--no-compute-engine-claims",
        action="store_true",
        help="omit google.compute_engine claims, like GKE and Cloud Run",
    )
    parser.add_argument("--zone", help="the VM's zone, served on instance/zone")
    parser.add_argument(
        "--attribute",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="serve instance/attributes/KEY (repeatable)",
    )
    parser.add_argument(
        "--runtime",
        choices=sorted(RUNTIMES),
        default="gce",
        help="reproduce a runtime: gke-unannotated (identity 404 on GKE), cloudbuild-default "
        "(Cloud Build's default service account, which cannot mint ID tokens)",
    )
    parser.add_argument("--debug", action="store_true", help="log to stderr")
    parser.set_defaults(func=run)


# What each runtime's metadata server looks like where it differs from Compute Engine's. The
# refusal texts are this project's best knowledge; the real ones are unconfirmed.
GKE_UNANNOTATED = (
    "Your Kubernetes service account (default/default) is not annotated with a target Google "
    "service account, which is a requirement for retrieving Identity Tokens."
)
RUNTIMES: dict[str, dict[str, Any]] = {
    "gce": {},
    "gke-unannotated": {
        "attributes": {"cluster-name": "demo-cluster", "cluster-location": "us-central1"},
        "compute_engine_claims": False,
        "identity_refusal": (404, GKE_UNANNOTATED),
    },
    "cloudbuild-default": {
        "email": "123456789012@cloudbuild.gserviceaccount.com",
        "compute_engine_claims": False,
        "identity_refusal": (404, "Not Found"),
    },
}


def run(ns: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from gcp2aws.emulator.serve import serve_forever
    from gcp2aws.errors import UsageError

    options: dict[str, Any] = dict(RUNTIMES[ns.runtime])
    attributes = dict(options.get("attributes", {}))
    for item in ns.attribute:
        key, sep, value = item.partition("=")
        if not sep or not key or "/" in key:
            raise UsageError(f"invalid --attribute {item!r}", hint="Use --attribute KEY=VALUE")
        attributes[key] = value
    if attributes:
        options["attributes"] = attributes
    for name in ("email", "project_id", "instance_name", "token_lifetime", "zone"):
        value = getattr(ns, name)
        if value is not None:
            options[name] = value
    if ns.no_compute_engine_claims:
        options["compute_engine_claims"] = False
    return serve_forever(port=ns.port, sts=ns.sts, **options)
