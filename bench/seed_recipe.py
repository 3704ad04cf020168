#!/usr/bin/env python3
"""The blog recipe gcp2aws replaces (shared/seed/recipe-ja.txt), kept for side-by-side timing.

Same approach as the original: requests to the metadata server, boto3 STS with empty keys,
no cache, no timeout. Two changes only, so it can run against the local emulators: the
metadata host comes from GCE_METADATA_HOST, and boto3 picks up AWS_ENDPOINT_URL_STS itself.
"""

import json
import os
import sys

import boto3
import requests


def get_metadata(path: str, parameter: str) -> str:
    host = os.environ.get("GCE_METADATA_HOST", "metadata.google.internal")
    metadata_url = f"http://{host}/computeMetadata/v1/{path}/{parameter}"
    headers = {"Metadata-Flavor": "Google"}
    try:
        meta_request = requests.get(metadata_url, headers=headers)  # noqa: S113 - as in the recipe
    except requests.exceptions.RequestException as e:
        raise SystemExit(e) from e
    if meta_request.ok:
        return meta_request.text
    raise SystemExit("Compute Engine meta data error")


if __name__ == "__main__":
    try:
        aws_role_arn = sys.argv[1]
    except IndexError:
        sys.exit(0)
    token = get_metadata(
        "instance", "service-accounts/default/identity?format=standard&audience=gcp"
    )
    sts = boto3.client("sts", aws_access_key_id="", aws_secret_access_key="")
    res = sts.assume_role_with_web_identity(
        RoleArn=aws_role_arn, WebIdentityToken=token, RoleSessionName="recipe"
    )
    aws_temporary_credentials = {
        "Version": 1,
        "AccessKeyId": res["Credentials"]["AccessKeyId"],
        "SecretAccessKey": res["Credentials"]["SecretAccessKey"],
        "SessionToken": res["Credentials"]["SessionToken"],
        "Expiration": res["Credentials"]["Expiration"].isoformat(),
    }
    print(json.dumps(aws_temporary_credentials))
