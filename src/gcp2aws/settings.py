"""Resolve flags > environment > defaults into one frozen, validated ``Settings``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from gcp2aws import options, paths, validation
from gcp2aws.errors import UsageError
from gcp2aws.idtoken import registry

DEFAULT_AUDIENCE = "sts.amazonaws.com"
DEFAULT_DURATION = 3600
DEFAULT_TIMEOUT = 30.0
MAX_CHAINED_DURATION = 3600  # STS's cap on a session assumed with role-chained credentials


@dataclass(frozen=True)
class Settings:
    """Everything one exchange needs, validated. ``raw`` feeds the cache key."""

    role_arn: str | None = None
    audience: str = DEFAULT_AUDIENCE
    role_session_name: str | None = None
    duration_seconds: int = DEFAULT_DURATION
    region: str | None = None
    session_policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    chain_role_arns: tuple[str, ...] = ()
    chain_external_id: str | None = None
    chain_role_session_name: str | None = None
    use_cache: bool = True
    cache_dir: str = ""
    refresh_window: int = options.DEFAULT_REFRESH_WINDOW
    timeout: float = DEFAULT_TIMEOUT
    token_source: str = "auto"
    credentials_file: str | None = None
    impersonate_service_account: str | None = None
    delegates: tuple[str, ...] = ()
    token_file: str | None = None
    token_command: str | None = None
    debug: bool = False
    raw: Mapping[str, str] = field(default_factory=dict, repr=False)
    provenance: Mapping[str, str] = field(default_factory=dict, repr=False)

    def require_role_arn(self) -> str:
        if not self.role_arn:
            raise UsageError(
                "no role ARN given",
                hint="Pass --role-arn arn:aws:iam::ACCOUNT:role/NAME or set GCP2AWS_ROLE_ARN",
            )
        return self.role_arn

    def cache_key_parts(self, environ: Mapping[str, str]) -> dict[str, str]:
        return options.key_parts(self.raw, environ)

    def hub(self) -> Settings:
        """The first hop alone (the web-identity exchange), with a cache key of its own, so
        chains that share it share its credentials."""
        raw = {k: v for k, v in self.raw.items() if k not in options.CHAIN_OPTIONS}
        return replace(
            self,
            chain_role_arns=(),
            chain_external_id=None,
            chain_role_session_name=None,
            raw=raw,
        )

    @property
    def chained_duration(self) -> int:
        """DurationSeconds of each chained hop: STS caps a role-chaining session at an hour."""
        return min(self.duration_seconds, MAX_CHAINED_DURATION)


def _read_policy(value: str, environ: Mapping[str, str]) -> str:
    if not value.startswith("@"):
        return value
    path = paths.expand_user(value[1:], environ)
    from gcp2aws.boundedread import POLICY_LIMIT, read_regular

    try:
        return read_regular(path, POLICY_LIMIT).decode("utf-8")
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8, or a NUL in the path
        reason = exc.strerror if isinstance(exc, OSError) else type(exc).__name__
        raise UsageError(
            f"cannot read session policy file {path}: {reason}",
            hint="Pass --session-policy @PATH with a readable UTF-8 JSON file",
        ) from exc


def load(
    cli: Mapping[str, str | bool | None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build validated settings from parsed flags (dest -> value) and the environment."""
    environ = os.environ if environ is None else environ
    cli = cli or {}
    raw = options.resolve_raw(cli, environ)
    provenance = {}
    for dest, flag, env, _takes, _help in options.OPTIONS:
        if dest in raw:
            from_flag = cli.get(dest) not in (None, False)
            provenance[dest] = flag if from_flag else env
    get = raw.get
    token_source = get("token_source", "auto")
    choices = registry.choices()
    if token_source not in choices:
        raise UsageError(
            f"unknown token source {token_source!r}",
            hint="Choose one of: " + ", ".join(choices),
        )
    policy = get("session_policy")
    credentials_file = get("credentials_file")
    token_file = get("token_file")
    return Settings(
        role_arn=validation.role_arn(raw["role_arn"]) if "role_arn" in raw else None,
        audience=validation.audience(get("audience", DEFAULT_AUDIENCE)),
        role_session_name=(
            validation.session_name(raw["role_session_name"])
            if "role_session_name" in raw
            else None
        ),
        duration_seconds=(
            validation.duration(raw["duration_seconds"])
            if "duration_seconds" in raw
            else DEFAULT_DURATION
        ),
        region=validation.region(raw["region"]) if "region" in raw else None,
        session_policy=validation.session_policy(_read_policy(policy, environ)) if policy else None,
        policy_arns=validation.policy_arns(get("policy_arns", "")),
        chain_role_arns=validation.chain(get("chain_role_arns", "")),
        chain_external_id=(
            validation.external_id(raw["chain_external_id"]) if "chain_external_id" in raw else None
        ),
        chain_role_session_name=(
            validation.session_name(raw["chain_role_session_name"])
            if "chain_role_session_name" in raw
            else None
        ),
        use_cache="no_cache" not in raw,
        cache_dir=options.cache_dir(raw, environ),
        refresh_window=(
            validation.whole_seconds(raw["refresh_window"], name="refresh window")
            if "refresh_window" in raw
            else options.DEFAULT_REFRESH_WINDOW
        ),
        timeout=(
            validation.positive_number(raw["timeout"], name="timeout")
            if "timeout" in raw
            else DEFAULT_TIMEOUT
        ),
        token_source=token_source,
        credentials_file=paths.expand_user(credentials_file, environ) if credentials_file else None,
        impersonate_service_account=get("impersonate_service_account"),
        delegates=tuple(d.strip() for d in get("delegates", "").split(",") if d.strip()),
        token_file=paths.expand_user(token_file, environ) if token_file else None,
        token_command=get("token_command"),
        debug="debug" in raw,
        raw=raw,
        provenance=provenance,
    )
