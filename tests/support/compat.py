"""The compatibility table: which AWS client consumes gcp2aws in which mode, from which version.

``tests/functional/e2e/test_compat_matrix.py`` runs every cell with the real client and asserts
``supports()`` for the version it finds; ``tests/unit/test_readme.py`` checks that README.md's
table says the same for the versions CI runs (``TESTED``).
"""

from __future__ import annotations

CLIENTS = ["awscli-v1", "awscli-v2", "boto3", "js-v3", "go-v2"]
MODES = [
    "credential_process",
    "token-file",
    "serve-token-file",
    "serve-token-value",
    "serve-ipv6",
]

# The component whose version decides, per client: what `aws --version` prints for the CLIs,
# the package that holds the credential chain for the SDKs.
COMPONENT = {
    "awscli-v1": "botocore",
    "awscli-v2": "aws-cli",
    "boto3": "botocore",
    "js-v3": "@aws-sdk/credential-providers",
    "go-v2": "github.com/aws/aws-sdk-go-v2/config",
}

# Where a mode needs a newer client than some in use. AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
# came to the SDKs in late 2023; before botocore 1.32 / AWS CLI 2.15 the container provider
# accepted only 169.254.170.2, localhost and 127.0.0.1, so not http://[::1].
MINIMUM: dict[tuple[str, str], str] = {
    ("awscli-v1", "serve-token-file"): "1.34.41",
    ("awscli-v1", "serve-ipv6"): "1.32.0",
    ("boto3", "serve-token-file"): "1.34.41",
    ("boto3", "serve-ipv6"): "1.32.0",
    ("awscli-v2", "serve-token-file"): "2.15.0",
    ("awscli-v2", "serve-ipv6"): "2.15.0",
    ("js-v3", "serve-token-file"): "3.458.0",
    ("go-v2", "serve-token-file"): "1.25.0",
}

# The versions CI runs: Debian 12's packages, and what pip and npm (the lock file) install.
TESTED = {
    "awscli-v1": "1.44.8",
    "awscli-v2": "2.9.19",
    "boto3": "1.44.8",
    "js-v3": "3.1175.0",
    "go-v2": "1.17.10",
}


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:3])


def supports(client: str, mode: str, version: str) -> bool:
    """Whether ``client`` at ``version`` (of its ``COMPONENT``) consumes gcp2aws in ``mode``."""
    minimum = MINIMUM.get((client, mode))
    return minimum is None or version_tuple(version) >= version_tuple(minimum)


LABEL = {
    "awscli-v1": "AWS CLI v1 (PyPI `awscli`)",
    "awscli-v2": "AWS CLI v2 (Debian 12 `awscli`)",
    "boto3": "boto3 (PyPI)",
    "js-v3": "JS SDK v3 (npm `@aws-sdk/credential-providers`)",
    "go-v2": "Go SDK v2 (Debian 12 `golang-github-aws-aws-sdk-go-v2-dev`)",
}


def readme_row(client: str) -> str:
    """The README table's row for ``client`` at the version CI runs."""
    short = COMPONENT[client].rsplit("/", 1)[-1]
    cells = []
    for mode in MODES:
        minimum = MINIMUM.get((client, mode))
        if minimum is None:
            cells.append("yes")
        elif supports(client, mode, TESTED[client]):
            cells.append(f"yes (needs {short} ≥ {minimum})")
        else:
            cells.append(f"**no**: needs {short} ≥ {minimum}")
    return f"| `{client}` {LABEL[client]} | {short} {TESTED[client]} | " + " | ".join(cells) + " |"
