"""Every environment variable gcp2aws reads or writes, by name, with what it means.

Names only: nothing here reads the environment (that happens in ``settings`` at call time).
"""

from __future__ import annotations

# --- gcp2aws's own settings (each mirrors a flag; the flag wins) -------------------------------
ROLE_ARN = "GCP2AWS_ROLE_ARN"  # --role-arn: the IAM role to assume
AUDIENCE = "GCP2AWS_AUDIENCE"  # --audience: the `aud` requested for the Google ID token
ROLE_SESSION_NAME = "GCP2AWS_ROLE_SESSION_NAME"  # --role-session-name
DURATION_SECONDS = "GCP2AWS_DURATION_SECONDS"  # --duration-seconds (900-43200)
REGION = "GCP2AWS_REGION"  # --region: the STS region (else botocore's resolution)
SESSION_POLICY = "GCP2AWS_SESSION_POLICY"  # --session-policy: inline JSON or @file
POLICY_ARNS = "GCP2AWS_POLICY_ARNS"  # --policy-arns: comma-separated managed policy ARNs
CHAIN_ROLE_ARNS = "GCP2AWS_CHAIN_ROLE_ARNS"  # --chain-role-arn (repeated): comma-separated hops
CHAIN_EXTERNAL_ID = "GCP2AWS_CHAIN_EXTERNAL_ID"  # --chain-external-id: sts:ExternalId per hop
CHAIN_ROLE_SESSION_NAME = "GCP2AWS_CHAIN_ROLE_SESSION_NAME"  # --chain-role-session-name
NO_CACHE = "GCP2AWS_NO_CACHE"  # --no-cache: "1"/"true" disables the on-disk cache
CACHE_DIR = "GCP2AWS_CACHE_DIR"  # --cache-dir: overrides $XDG_CACHE_HOME/gcp2aws
REFRESH_WINDOW = "GCP2AWS_REFRESH_WINDOW"  # --refresh-window: seconds left below which we refresh
TIMEOUT = "GCP2AWS_TIMEOUT"  # --timeout: total seconds for all retries of one exchange
TOKEN_SOURCE = "GCP2AWS_TOKEN_SOURCE"  # --token-source: force one Google token source
CREDENTIALS_FILE = (
    "GCP2AWS_CREDENTIALS_FILE"  # --credentials-file (else GOOGLE_APPLICATION_CREDENTIALS)
)
IMPERSONATE = "GCP2AWS_IMPERSONATE_SERVICE_ACCOUNT"  # --impersonate-service-account
DELEGATES = "GCP2AWS_DELEGATES"  # --delegates: comma-separated delegation chain
TOKEN_FILE = "GCP2AWS_TOKEN_FILE"  # --token-file: read the OIDC token from this file
TOKEN_COMMAND = "GCP2AWS_TOKEN_COMMAND"  # --token-command: run this (no shell) for the token
DEBUG = "GCP2AWS_DEBUG"  # --debug: log to stderr, tracebacks on failure (never secrets)
IAM_CREDENTIALS_ENDPOINT = "GCP2AWS_IAM_CREDENTIALS_ENDPOINT"  # IAM Credentials API root (tests)
OAUTH_TOKEN_URI = "GCP2AWS_OAUTH_TOKEN_URI"  # OAuth 2.0 token endpoint override (tests)

# --- Google conventions (google-auth reads the same names) -------------------------------------
GCE_METADATA_HOST = "GCE_METADATA_HOST"  # metadata host[:port]; default metadata.google.internal
GCE_METADATA_ROOT = "GCE_METADATA_ROOT"  # legacy name of GCE_METADATA_HOST
GCE_METADATA_IP = "GCE_METADATA_IP"  # address used to detect the metadata server
GOOGLE_APPLICATION_CREDENTIALS = "GOOGLE_APPLICATION_CREDENTIALS"  # ADC file
CLOUDSDK_CONFIG = "CLOUDSDK_CONFIG"  # gcloud config dir (holds application_default_credentials)

# --- AWS conventions: read to resolve STS region/endpoint, written by env/exec/serve -----------
AWS_REGION = "AWS_REGION"
AWS_DEFAULT_REGION = "AWS_DEFAULT_REGION"
AWS_PROFILE = "AWS_PROFILE"
AWS_DEFAULT_PROFILE = "AWS_DEFAULT_PROFILE"
AWS_CONFIG_FILE = "AWS_CONFIG_FILE"
AWS_SHARED_CREDENTIALS_FILE = "AWS_SHARED_CREDENTIALS_FILE"
AWS_ENDPOINT_URL = "AWS_ENDPOINT_URL"
AWS_ENDPOINT_URL_STS = "AWS_ENDPOINT_URL_STS"
AWS_STS_REGIONAL_ENDPOINTS = "AWS_STS_REGIONAL_ENDPOINTS"
AWS_USE_FIPS_ENDPOINT = "AWS_USE_FIPS_ENDPOINT"
AWS_USE_DUALSTACK_ENDPOINT = "AWS_USE_DUALSTACK_ENDPOINT"
AWS_IGNORE_CONFIGURED_ENDPOINT_URLS = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
AWS_CA_BUNDLE = "AWS_CA_BUNDLE"
AWS_ACCESS_KEY_ID = "AWS_ACCESS_KEY_ID"
AWS_SECRET_ACCESS_KEY = "AWS_SECRET_ACCESS_KEY"
AWS_SESSION_TOKEN = "AWS_SESSION_TOKEN"
AWS_SECURITY_TOKEN = "AWS_SECURITY_TOKEN"
AWS_CREDENTIAL_EXPIRATION = "AWS_CREDENTIAL_EXPIRATION"
AWS_ACCOUNT_ID = "AWS_ACCOUNT_ID"  # the account of the credentials (account-based endpoints)
AWS_CONTAINER_CREDENTIALS_FULL_URI = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
AWS_CONTAINER_AUTHORIZATION_TOKEN = "AWS_CONTAINER_AUTHORIZATION_TOKEN"
AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
AWS_WEB_IDENTITY_TOKEN_FILE = "AWS_WEB_IDENTITY_TOKEN_FILE"
AWS_ROLE_ARN = "AWS_ROLE_ARN"
AWS_ROLE_SESSION_NAME = "AWS_ROLE_SESSION_NAME"

# --- POSIX and XDG ------------------------------------------------------------------------------
HOME = "HOME"  # what ~ means in every path gcp2aws expands
XDG_CACHE_HOME = "XDG_CACHE_HOME"

# Everything that steers botocore's STS region and endpoint choice: part of the cache key.
AWS_ENDPOINT_INPUTS = (
    AWS_REGION,
    AWS_DEFAULT_REGION,
    AWS_PROFILE,
    AWS_DEFAULT_PROFILE,
    AWS_CONFIG_FILE,
    AWS_ENDPOINT_URL,
    AWS_ENDPOINT_URL_STS,
    AWS_STS_REGIONAL_ENDPOINTS,
    AWS_USE_FIPS_ENDPOINT,
    AWS_USE_DUALSTACK_ENDPOINT,
    AWS_IGNORE_CONFIGURED_ENDPOINT_URLS,
)

# What steers which Google identity the chain picks is declared per source in idtoken.registry.

# Variables an `exec` child must not inherit: they would override the credentials we hand it.
CONFLICTING_FOR_CHILD = (
    AWS_PROFILE,
    AWS_DEFAULT_PROFILE,
    AWS_SECURITY_TOKEN,
    AWS_WEB_IDENTITY_TOKEN_FILE,
    AWS_ROLE_ARN,
    AWS_ROLE_SESSION_NAME,
    AWS_ACCOUNT_ID,  # a parent's would name another account; set again when it is known
)
CONFLICTING_PREFIXES_FOR_CHILD = ("AWS_CONTAINER_",)
