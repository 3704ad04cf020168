# syntax=docker/dockerfile:1
# gcp2aws container image: a GKE sidecar that turns the pod's Google identity into AWS credentials,
# and the admission webhook that injects it (the image has the webhook extra).
#
#   docker build -t gcp2aws:0.1.0 .
#
# Two stages: the builder makes a wheel of gcp2aws and installs it, with its dependencies pinned
# by deploy/constraints.txt, into a virtualenv; the runtime stage copies only that virtualenv.
# The image runs as a numeric non-root UID and writes nothing to its root filesystem: the
# credential cache and the token live in mounted volumes (see deploy/kubernetes/).

FROM python:3.12.8-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY deploy/constraints.txt deploy/build-constraints.txt deploy/
# The build backend is pinned too, so the same sources always give the same wheel.
RUN python -m pip install --no-cache-dir --constraint deploy/build-constraints.txt hatchling

COPY pyproject.toml README.md ./
COPY src/ src/
RUN python -m pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels . \
 && python -m venv /opt/gcp2aws \
 && /opt/gcp2aws/bin/pip install --no-cache-dir --constraint deploy/constraints.txt \
      "$(echo /wheels/gcp2aws-*.whl)[webhook]" \
 && /opt/gcp2aws/bin/pip uninstall --yes pip \
 && /opt/gcp2aws/bin/gcp2aws --version

FROM python:3.12.8-slim-bookworm

LABEL org.opencontainers.image.title="gcp2aws" \
      org.opencontainers.image.description="Temporary AWS credentials for Google Cloud workloads" \
      org.opencontainers.image.licenses="Apache-2.0"

# Same base image in both stages, so the virtualenv's interpreter link stays valid.
COPY --from=builder /opt/gcp2aws /opt/gcp2aws

# The cache directory exists for `docker run` without volumes; in Kubernetes an emptyDir is
# mounted on /var/cache and gcp2aws creates gcp2aws/ in it at 0700 (it refuses a directory
# that others can write to, which is what an emptyDir's root is).
RUN install -d -o 65532 -g 65532 -m 0700 /var/cache/gcp2aws /var/run/gcp2aws

ENV PATH=/opt/gcp2aws/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    GCP2AWS_CACHE_DIR=/var/cache/gcp2aws

USER 65532:65532
WORKDIR /tmp

ENTRYPOINT ["gcp2aws"]
CMD ["--help"]
