#!/usr/bin/env bash
# Compute Engine startup script: install gcp2aws once for every user of the VM and write the AWS
# profile for the users that need it. Set it as an instance template's `startup-script`
# metadata; it runs as root at every boot, and running it again changes nothing.
#
# Instance attributes it reads (instance metadata, set on the template):
#   gcp2aws-role-arn   required: the IAM role to assume
#   gcp2aws-profile    the AWS profile to write (default: gcp)
#   gcp2aws-users      space- or comma-separated users to write it for (default: root)
#   gcp2aws-audience   the ID token audience, when the trust policy does not use the default
#   gcp2aws-region     the AWS region; without it, init picks the one nearest the VM's zone
#   gcp2aws-package    what pipx installs (default: gcp2aws; a pinned `gcp2aws==X.Y.Z` is wiser)
#
# The same names in the environment (GCP2AWS_PACKAGE, ...) override the prefixes for an image
# build (Packer) or a test: GCP2AWS_PIPX_HOME (/opt/pipx), GCP2AWS_BIN_DIR (/usr/local/bin),
# GCP2AWS_SKEL (/etc/skel: users created later, e.g. by OS Login, start with the profile;
# set it empty to skip), GCE_METADATA_HOST (metadata.google.internal).
set -euo pipefail

PIPX_HOME_DIR="${GCP2AWS_PIPX_HOME:-/opt/pipx}"
BIN_DIR="${GCP2AWS_BIN_DIR:-/usr/local/bin}"
SKEL="${GCP2AWS_SKEL-/etc/skel}"
METADATA="http://${GCE_METADATA_HOST:-metadata.google.internal}/computeMetadata/v1"
LOG_TAG="gcp2aws-startup"

log() { echo "$LOG_TAG: $*" >&2; }
die() { log "$1"; exit "${2:-1}"; }

# One instance attribute, or empty when it is not set (404). The metadata server may not answer
# in the first seconds of a boot: retry for up to a minute, then give up with the reason.
attr() {
  local code body
  body="$(mktemp)"
  for _ in $(seq 1 30); do
    code="$(curl -s -o "$body" -w '%{http_code}' --max-time 5 --max-filesize 65536 \
      -H 'Metadata-Flavor: Google' "$METADATA/instance/attributes/$1")" || code=000
    case "$code" in
      200) cat "$body"; rm -f "$body"; return 0 ;;
      404) rm -f "$body"; return 0 ;;
    esac
    sleep 2
  done
  rm -f "$body"
  die "the metadata server at $METADATA did not answer (last HTTP status $code); is this a Compute Engine VM?" 3
}

ROLE_ARN="$(attr gcp2aws-role-arn)"
[ -n "$ROLE_ARN" ] || die "instance attribute gcp2aws-role-arn is not set; add it to the instance template's metadata" 2
PROFILE="$(attr gcp2aws-profile)"; PROFILE="${PROFILE:-gcp}"
USERS="$(attr gcp2aws-users)"; USERS="${USERS:-root}"
AUDIENCE="$(attr gcp2aws-audience)"
REGION="$(attr gcp2aws-region)"
PACKAGE="${GCP2AWS_PACKAGE:-$(attr gcp2aws-package)}"; PACKAGE="${PACKAGE:-gcp2aws}"

# Install once, system-wide: pipx from the distribution (Debian 12/13, Ubuntu 22.04+), its venvs
# under /opt, the command on every user's PATH. The system Python refuses a plain pip install
# (PEP 668), which is why pipx.
GCP2AWS="$BIN_DIR/gcp2aws"
if [ -x "$GCP2AWS" ] && "$GCP2AWS" --version >/dev/null 2>&1; then
  log "gcp2aws is installed ($("$GCP2AWS" --version)); not reinstalling"
else
  PIPX="${GCP2AWS_PIPX:-$(command -v pipx || true)}"
  if [ -z "$PIPX" ]; then
    command -v apt-get >/dev/null 2>&1 || die "pipx is missing and there is no apt-get to install it; install pipx, or use the container image" 4
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pipx >/dev/null || die "apt-get could not install pipx" 4
    PIPX="$(command -v pipx)"
  fi
  mkdir -p "$PIPX_HOME_DIR" "$BIN_DIR"
  PIPX_HOME="$PIPX_HOME_DIR" PIPX_BIN_DIR="$BIN_DIR" "$PIPX" install --force "$PACKAGE" >&2 \
    || die "pipx could not install $PACKAGE" 4
  log "installed $("$GCP2AWS" --version)"
fi

init_args=(init --role-arn "$ROLE_ARN" --profile "$PROFILE" --yes)
[ -z "$AUDIENCE" ] || init_args+=(--audience "$AUDIENCE")
[ -z "$REGION" ] || init_args+=(--region "$REGION")

# What init sees: a login-like environment, not root's, with only the overrides that point at
# the metadata server and STS carried over.
user_env() {
  local home="$1"
  echo "PATH=$BIN_DIR:/usr/bin:/bin" "HOME=$home" "LANG=C.UTF-8"
  local name
  for name in GCE_METADATA_HOST GCE_METADATA_IP AWS_ENDPOINT_URL_STS; do
    if [ -n "${!name:-}" ]; then echo "$name=${!name}"; fi
  done
}

status=0
for user in ${USERS//,/ }; do
  entry="$(getent passwd "$user" || true)"
  if [ -z "$entry" ]; then
    log "user $user does not exist; skipped (it gets the profile from $SKEL if it is created later)"
    continue
  fi
  home="$(echo "$entry" | cut -d: -f6)"
  # shellcheck disable=SC2046  # user_env prints one NAME=VALUE word per variable
  if runuser -u "$user" -- env -i $(user_env "$home") "$GCP2AWS" "${init_args[@]}" >&2; then
    log "profile $PROFILE written for $user"
  else
    log "init failed for $user (see above)"; status=5
  fi
done

# New users (OS Login creates them at first login) copy /etc/skel: give them the profile too.
# It is written without verifying, since the verification already ran above as each user.
if [ -n "$SKEL" ]; then
  mkdir -p "$SKEL/.aws"
  # shellcheck disable=SC2046
  if env -i $(user_env "$SKEL") AWS_CONFIG_FILE="$SKEL/.aws/config" \
    "$GCP2AWS" "${init_args[@]}" --no-verify >&2; then
    log "profile $PROFILE written to $SKEL for users created later"
  else
    log "init failed for $SKEL"; status=5
  fi
fi
exit "$status"
