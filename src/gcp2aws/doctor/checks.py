"""`gcp2aws doctor`: a checklist from the Python version to the exchange, with the fix for each.

On AccessDenied it evaluates the role's trust policy locally against the token's claims, with
AWS's Google key mapping, and names the exact statement and condition that fails.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from gcp2aws import envvars, sts
from gcp2aws._version import __version__
from gcp2aws.awsconfig import file as awsconfig_file
from gcp2aws.awsconfig import profile as awsconfig
from gcp2aws.boundedread import CONFIG_LIMIT, read_regular
from gcp2aws.cache import CredentialCache
from gcp2aws.errors import ConfigError, Gcp2AwsError, StsDeniedError, TokenInvalidError
from gcp2aws.idtoken import chain, metadata
from gcp2aws.idtoken.base import TokenSource, default_session_name
from gcp2aws.models import AwsCredentials, IdToken
from gcp2aws.policy.evaluate import RequestContext, evaluate
from gcp2aws.provider import CredentialProvider
from gcp2aws.retry import Deadline
from gcp2aws.sanitize import for_terminal
from gcp2aws.settings import Settings

PASS, WARN, FAIL, SKIP = "PASS", "WARN", "FAIL", "SKIP"
MAX_SKEW = 300  # seconds: beyond this, STS may judge the token not yet valid or expired


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""


SEED_SCRIPT = "credential_process.py"


def runs_gcp2aws(argv: Sequence[str]) -> bool:
    """The console script, or ``python -m gcp2aws``."""
    if not argv:
        return False
    if os.path.basename(argv[0]) == "gcp2aws":
        return True
    return list(argv[1:3]) == ["-m", "gcp2aws"]


def is_seed_script(argv: Sequence[str]) -> bool:
    """The 30-line recipe gcp2aws replaces: ``python3 /path/to/credential_process.py ARN``."""
    return any(os.path.basename(word) == SEED_SCRIPT for word in argv[:2])


class Checklist:
    """Checks in the order they ran; failed if any of them failed."""

    checks: list[Check]

    def add(self, name: str, status: str, detail: str, fix: str = "") -> None:
        self.checks.append(Check(name, status, " ".join(detail.split()), " ".join(fix.split())))

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self.checks)


def load_trust_policy(path: str | None, role_arn: str, *, fetch: bool) -> tuple[Any, str]:
    """The role's trust policy and where it came from: ``--trust-policy`` FILE, else
    ``iam:GetRole`` (unless ``fetch`` is off)."""
    if path:
        try:
            text = read_regular(path, CONFIG_LIMIT).decode("utf-8", "replace")
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
        return text, f"trust policy from {path}"
    if not fetch:
        raise ConfigError("no --trust-policy given")
    from gcp2aws.policy.iam import fetch_role_trust_policy

    return fetch_role_trust_policy(role_arn)


@dataclass
class Doctor(Checklist):
    """Runs the checks in order; later checks use what earlier ones found."""

    settings: Settings
    environ: Mapping[str, str]
    trust_policy_file: str | None = None
    source_ip: str | None = None
    profile: str | None = None
    clock: Callable[[], float] = time.time
    fetch_role_policy: bool = True

    def __post_init__(self) -> None:
        self.checks = []
        self.token: IdToken | None = None
        self.source: TokenSource | None = None

    # -- the checklist ------------------------------------------------------------------------
    def run(self) -> list[Check]:
        self.check_versions()
        self.check_profile()
        self.check_sources()
        self.check_metadata()
        self.check_token()
        self.check_cache()
        region = self.check_endpoint()
        self.check_exchange(region)
        return self.checks

    def check_versions(self) -> None:
        from importlib.metadata import PackageNotFoundError, version

        parts = [f"Python {platform.python_version()}", f"gcp2aws {__version__}"]
        for dist in ("botocore", "google-auth"):
            try:
                parts.append(f"{dist} {version(dist)}")
            except PackageNotFoundError:
                parts.append(f"{dist} missing")
        missing = [p for p in parts if p.endswith("missing")]
        self.add(
            "versions",
            FAIL if missing else PASS,
            ", ".join(parts),
            "Reinstall: pip install --force-reinstall gcp2aws" if missing else "",
        )

    def check_profile(self) -> None:
        path = awsconfig_file.config_path(self.environ)
        name = self.profile or self.environ.get(envvars.AWS_PROFILE) or "default"
        try:
            text = awsconfig_file.read_config(path)
        except Gcp2AwsError as exc:
            self.add("aws config", WARN, f"{path}: {exc.one_line()}")
            return
        if not text:
            self.add(
                "aws config",
                WARN,
                f"{path} does not exist",
                "Run `gcp2aws init --role-arn ARN` to write a profile",
            )
            return
        values = awsconfig.read_profile(text, name)
        if not values:
            status = FAIL if self.profile else WARN
            self.add(
                "aws config",
                status,
                f"profile {name!r} not found in {path}",
                "Run `gcp2aws init --role-arn ARN --profile NAME`",
            )
            return
        line = values.get("credential_process")
        if not line:
            self.add(
                "aws config",
                WARN,
                f"profile {name!r} in {path} has no credential_process",
                "Run `gcp2aws init --role-arn ARN`",
            )
            return
        self.check_region(name, values)
        self.check_aws_profile(name)
        try:
            argv = awsconfig.parse_credential_process(line)
        except Gcp2AwsError as exc:
            self.add("aws config", FAIL, f"profile {name!r}: {exc.one_line()}")
            return
        exe = argv[0] if argv else ""
        found = shutil.which(exe)
        if not found:
            exists = os.sep in exe and os.path.exists(exe)
            why = "is not executable by this user" if exists else "does not exist"
            self.add(
                "aws config",
                FAIL,
                f"profile {name!r}: credential_process runs {for_terminal(exe)!r}, which {why}",
                "Use the absolute path from `command -v gcp2aws` (a pipx or venv path of "
                f"another user will not do), or rerun `gcp2aws init --profile {name} --yes`",
            )
            return
        if not runs_gcp2aws(argv):
            self.add(
                "aws config",
                WARN,
                f"profile {name!r}: credential_process runs {for_terminal(' '.join(argv[:2]))}"
                + (", the blog recipe's script" if is_seed_script(argv) else ", not gcp2aws")
                + " (no cache, retries or clear errors)",
                f"Replace it: gcp2aws init --role-arn ARN --profile {name} --yes",
            )
            return
        self.add("aws config", PASS, f"profile {name!r} in {path}: credential_process runs {found}")

    def check_region(self, name: str, values: Mapping[str, str]) -> None:
        """The AWS CLI stops with "You must specify a region" when nothing gives one."""
        for var in (envvars.AWS_REGION, envvars.AWS_DEFAULT_REGION):
            if self.environ.get(var):
                self.add("aws region", PASS, f"{self.environ[var]} (from {var})")
                return
        if values.get("region"):
            self.add("aws region", PASS, f"{values['region']} (from profile {name!r})")
            return
        self.add(
            "aws region",
            FAIL,
            f"profile {name!r} has no region and neither AWS_REGION nor AWS_DEFAULT_REGION "
            "is set: the AWS CLI will stop with 'You must specify a region'",
            f"Rerun `gcp2aws init --role-arn ARN --profile {name} --yes` (it writes the nearest "
            "region) or add `region = REGION` to the profile",
        )

    def check_aws_profile(self, name: str) -> None:
        exported = self.environ.get(envvars.AWS_PROFILE)
        if self.profile and exported and exported != self.profile:
            self.add(
                "aws profile",
                WARN,
                f"AWS_PROFILE={for_terminal(exported)} is exported: aws commands without "
                f"--profile use that profile, not {name!r}",
                f"Run `export AWS_PROFILE={name}`, or `unset AWS_PROFILE` and pass --profile",
            )

    def check_sources(self) -> None:
        found = chain.explain(self.settings, self.environ)
        notes = "; ".join(found.notes)
        if found.source is None:
            assert found.error is not None  # noqa: S101 - explain sets one or the other
            if found.broken:
                self.add("token source", FAIL, notes, found.error.hint)
            else:
                self.add("token source", FAIL, found.error.message + ". " + notes, found.error.hint)
            return
        self.source = found.source
        others = f" (skipped: {notes})" if notes else ""
        self.add("token source", PASS, f"{found.source.name}: {found.source.describe()}{others}")

    def check_metadata(self) -> None:
        host = metadata.metadata_host(self.environ)
        if self.source is None:
            # The token source line already says why the metadata server does not apply;
            # probing metadata.google.internal off Google Cloud only adds a misleading FAIL.
            self.add("metadata server", SKIP, "not used (no token source applies)")
            return
        if self.source.name != metadata.NAME:
            self.add("metadata server", SKIP, f"not used (the token source is {self.source.name})")
            return
        client = metadata.MetadataClient(host, max_attempts=2, attempt_timeout=2.0)
        try:
            reply = client.get("instance/id", Deadline(5.0), what="instance id request")
        except Gcp2AwsError as exc:
            self.add("metadata server", FAIL, exc.message, exc.hint)
            return
        skew = _date_skew(reply.headers.get("date"), self.clock())
        detail = f"{host} answered HTTP {reply.status}"
        if skew is not None and abs(skew) > MAX_SKEW:
            self.add(
                "clock",
                FAIL,
                f"this machine's clock is {abs(skew):.0f}s "
                f"{'ahead of' if skew > 0 else 'behind'} the metadata server's Date",
                "Synchronise the clock (chrony / systemd-timesyncd)",
            )
        elif skew is not None:
            detail += f"; clock skew against its Date header {skew:+.0f}s"
        self.add("metadata server", PASS if reply.status == 200 else WARN, detail)

    def check_token(self) -> None:
        if self.source is None:
            self.add("token", SKIP, "no token source")
            return
        provider = CredentialProvider(
            self.settings, environ=self.environ, clock=self.clock, source=self.source
        )
        try:
            token = provider.fetch_token(Deadline(self.settings.timeout))
        except TokenInvalidError as exc:
            self.add("token", FAIL, exc.message, exc.hint)
            return
        except Gcp2AwsError as exc:
            self.add("token", FAIL, exc.message, exc.hint)
            return
        self.token = token
        now = self.clock()
        exp = token.expires_at or 0
        self.add(
            "token",
            PASS,
            f"{token.describe()}; expires in {int(exp - now)}s "
            f"(accounts.google.com:aud <- azp {token.aws_aud!r}, :oaud <- aud "
            f"{token.aud!r}, :sub <- sub {token.sub!r})",
        )
        iat = token.issued_at
        if iat is not None and iat - now > MAX_SKEW:
            self.add(
                "clock",
                FAIL,
                f"the token was issued {iat - now:.0f}s in the future by this machine's "
                "clock: the clock is behind",
                "Synchronise the clock (chrony / systemd-timesyncd)",
            )

    def check_cache(self) -> None:
        cache = CredentialCache(self.settings.cache_dir)
        reason = cache.unsafe_reason()
        if reason is None:
            self.add("cache", PASS, f"{cache.directory} is private to you")
        elif reason == "it does not exist yet":
            self.add("cache", PASS, f"{cache.directory} will be created (0700) on first use")
        else:
            self.add(
                "cache",
                WARN,
                f"{cache.directory} is refused: {reason}; gcp2aws runs uncached",
                f"chmod 700 {cache.directory}, or set GCP2AWS_CACHE_DIR",
            )

    def check_endpoint(self) -> str | None:
        role_arn = self.settings.role_arn
        if not role_arn:
            self.add("sts endpoint", SKIP, "no role ARN (pass --role-arn or use a profile)")
            return None
        from botocore.exceptions import BotoCoreError

        try:
            session = sts.new_session()
            region = sts.resolve_region(role_arn, self.settings.region, session, self.environ)
            client = sts.make_client(region, Deadline(5.0), session)
        except (BotoCoreError, ValueError) as exc:  # ValueError: botocore's invalid endpoint URL
            self.add(
                "sts endpoint",
                FAIL,
                f"cannot configure STS: {type(exc).__name__}: {exc}",
                "Check AWS_REGION, AWS_ENDPOINT_URL_STS and the profile's settings",
            )
            return None
        self.add("sts endpoint", PASS, f"region {region}, endpoint {client.meta.endpoint_url}")
        return region

    def check_exchange(self, region: str | None) -> None:
        role_arn = self.settings.role_arn
        if not role_arn or self.token is None or region is None:
            self.add("exchange", SKIP, "needs a role ARN, a token and an STS endpoint")
            return
        provider = CredentialProvider(
            self.settings, environ=self.environ, clock=self.clock, source=_Fixed(self.token)
        )
        denied: StsDeniedError | None = None
        try:
            creds, _ = provider.exchange(Deadline(self.settings.timeout))
        except StsDeniedError as exc:
            denied = exc
            self.add("exchange", FAIL, exc.message, "See the trust policy check below")
        except Gcp2AwsError as exc:
            self.add("exchange", FAIL, exc.message, exc.hint)
            return
        else:
            self.add(
                "exchange",
                PASS,
                f"assumed {creds.assumed_role_arn or role_arn} (key {creds.redacted_key_id()})",
            )
            self.check_hops(creds, region)
        if denied is not None or self.trust_policy_file:
            self.check_trust_policy(role_arn, denied is not None)

    def check_hops(self, creds: AwsCredentials, region: str) -> None:
        """Each --chain-role-arn in turn, with the previous hop's credentials."""
        from gcp2aws.provider import assume_hops

        try:
            for hop, role_arn, assumed in assume_hops(
                self.settings, creds, environ=self.environ, region=region
            ):
                self.add(f"hop {hop}", PASS, f"assumed {assumed.assumed_role_arn or role_arn}")
        except Gcp2AwsError as exc:
            self.add(f"hop {exc.fields.get('hop', '?')}", FAIL, exc.message, exc.hint)

    def check_trust_policy(self, role_arn: str, denied: bool) -> None:
        assert self.token is not None  # noqa: S101 - check_exchange ran first
        try:
            policy, origin = self._trust_policy(role_arn)
        except Gcp2AwsError as exc:
            wrong_arn = bool(exc.fields.get("role_missing"))
            fix = (
                "Fix --role-arn (aws iam list-roles shows the roles of that account)"
                if wrong_arn
                else "Pass --trust-policy FILE (aws iam get-role --role-name NAME "
                "--query Role.AssumeRolePolicyDocument > FILE)"
            )
            self.add("trust policy", FAIL if denied or wrong_arn else WARN, exc.message, fix)
            return
        session_name = self.settings.role_session_name or default_session_name(self.token)
        context = RequestContext.from_token(
            self.token, role_session_name=session_name, source_ip=self.source_ip
        )
        try:
            result = evaluate(policy, context)
        except Gcp2AwsError as exc:
            self.add("trust policy", FAIL, f"{origin}: {exc.one_line()}")
            return
        for warning in result.warnings:
            self.add("trust policy", WARN, warning)
        if result.allowed and denied:
            self.add(
                "trust policy",
                FAIL,
                f"{origin} allows this token ({result.summary()}) but STS denied it",
                "Check the role ARN's account and name, and that this is the role's "
                "current trust policy",
            )
        elif result.allowed:
            self.add("trust policy", PASS, f"{origin}: {result.summary()}")
        else:
            self.add("trust policy", FAIL, f"{origin}: {result.summary()}")

    def _trust_policy(self, role_arn: str) -> tuple[Any, str]:
        return load_trust_policy(self.trust_policy_file, role_arn, fetch=self.fetch_role_policy)


class _Fixed:
    """A token source that returns the token the doctor already fetched (no second fetch)."""

    name = "doctor"
    requests_audience = False

    def __init__(self, token: IdToken) -> None:
        self.token = token

    def describe(self) -> str:
        return "the token fetched above"

    def fetch(self, audience: str, deadline: Deadline) -> IdToken:
        return self.token


def _date_skew(header: str | None, now: float) -> float | None:
    if not header:
        return None
    try:
        return now - parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError):
        return None


def render_text(checks: list[Check]) -> str:
    lines = []
    for check in checks:
        lines.append(f"{check.status:4}  {check.name}: {check.detail}")
        if check.fix and check.status in (FAIL, WARN):
            lines.append(f"      fix: {check.fix}")
    return "\n".join(lines) + "\n"


def render_json(checks: list[Check]) -> str:
    ok = all(c.status != FAIL for c in checks)
    return json.dumps({"ok": ok, "checks": [asdict(c) for c in checks]}, indent=2) + "\n"
