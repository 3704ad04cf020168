"""Get AWS credentials for settings: cache lookup, single-flight refresh, exchange, fallback.

The cache wraps the exchange; it does not live inside it (aws-vault's
CachedSessionProvider). Every mode (credentials, env, exec, serve, the Python API) comes through
``CredentialProvider.get`` so that none of them can stampede STS.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gcp2aws import formats, sts
from gcp2aws.cache import CacheEntry, CredentialCache, cache_key
from gcp2aws.errors import DeadlineExceededError, Gcp2AwsError, StsError
from gcp2aws.idtoken import chain
from gcp2aws.idtoken.base import TokenSource, default_session_name
from gcp2aws.idtoken.jwt import check_audience, check_fresh
from gcp2aws.models import AwsCredentials, IdToken
from gcp2aws.retry import Deadline, backoff_delays, sleep_within
from gcp2aws.settings import Settings

if TYPE_CHECKING:
    import botocore.session

log = logging.getLogger(__name__)

# Serve stale credentials when a refresh fails only while they have this much life left.
STALE_MIN_REMAINING = 300
# After a failed refresh with stale credentials left, other callers serve them for this long
# instead of trying again, so an STS outage sees one attempt per back-off, not one per process.
FAILURE_BACKOFF = 30.0
# Exchanges tried with a fresh token for identity-side transient errors (botocore retries
# throttling and 5xx inside each one).
EXCHANGE_ATTEMPTS = 3
# Seconds that must be left for another token fetch and exchange to be worth starting.
MIN_RETRY_BUDGET = 2.0


@dataclass(frozen=True)
class Result:
    credentials: AwsCredentials
    payload: str  # the credential_process document
    from_cache: bool = False
    stale: bool = False
    token: IdToken | None = None


class CredentialProvider:
    """Credentials for one ``Settings``, shared cache and lock included."""

    def __init__(
        self,
        settings: Settings,
        *,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        source: TokenSource | None = None,
        botocore_session: botocore.session.Session | None = None,
    ) -> None:
        self.settings = settings
        self.environ = os.environ if environ is None else environ
        self.clock = clock
        self.sleep = sleep
        self._source = source
        self._botocore_session = botocore_session
        self._rng = random.Random()  # noqa: S311 - jitter only

    # -- token side ---------------------------------------------------------------------------
    def source(self) -> TokenSource:
        if self._source is None:
            self._source = chain.select(self.settings, self.environ)
        return self._source

    def fetch_token(self, deadline: Deadline) -> IdToken:
        source = self.source()
        token = source.fetch(self.settings.audience, deadline)
        check_fresh(token, now=self.clock())
        if source.requests_audience:
            check_audience(token, self.settings.audience)
        return token

    # -- exchange -----------------------------------------------------------------------------
    def exchange(self, deadline: Deadline | None = None) -> tuple[AwsCredentials, IdToken]:
        """A fresh exchange, retried with a fresh token on identity-side transient errors."""
        settings = self.settings
        role_arn = settings.require_role_arn()
        deadline = deadline or Deadline(settings.timeout)
        delays = backoff_delays(base=0.2, rng=self._rng)
        for attempt in range(1, EXCHANGE_ATTEMPTS + 1):
            token = self.fetch_token(deadline)
            session_name = settings.role_session_name or default_session_name(token)
            log.debug("token from %s: %s", token.source, token.describe())
            try:
                creds = sts.assume_role_with_web_identity(
                    token=token,
                    role_arn=role_arn,
                    session_name=session_name,
                    duration_seconds=settings.duration_seconds,
                    deadline=deadline,
                    region=settings.region,
                    session_policy=settings.session_policy,
                    policy_arns=settings.policy_arns,
                    session=self._botocore_session,
                    environ=self.environ,
                )
            except StsError as exc:
                if not exc.transient or attempt == EXCHANGE_ATTEMPTS:
                    raise
                log.debug("STS attempt %d: %s; retrying with a fresh token", attempt, exc.code)
                # Without time for another token and exchange, the STS error is the answer.
                delay = next(delays)
                if deadline.remaining() < delay + MIN_RETRY_BUDGET:
                    if exc.code == "Timeout":
                        # A hang that used up the budget exits 8, like a hung metadata server.
                        raise DeadlineExceededError(
                            f"{exc.message}, and the {deadline.seconds:g}s budget ran out"
                        ) from exc
                    raise
                sleep_within(deadline, delay, self.sleep)
                continue
            log.debug("assumed %s, key %s", creds.assumed_role_arn, creds.redacted_key_id())
            return creds, token
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    # -- cache around it ----------------------------------------------------------------------
    def _cache(self) -> CredentialCache | None:
        if not self.settings.use_cache:
            return None
        cache = CredentialCache(self.settings.cache_dir, clock=self.clock)
        reason = cache.unsafe_reason(create=True)
        if reason is not None:
            log.warning(
                "not using cache directory %s: %s; running uncached", cache.directory, reason
            )
            return None
        return cache

    def _fresh(self, entry: CacheEntry | None) -> bool:
        return entry is not None and entry.remaining(self.clock()) > self.settings.refresh_window

    def _from_entry(self, entry: CacheEntry, *, stale: bool = False) -> Result:
        creds = formats.from_credential_process(entry.payload)
        return Result(creds, entry.payload.decode(), from_cache=True, stale=stale)

    def get(self) -> Result:
        """Cached credentials while they are fresh, else one exchange for all waiting callers."""
        cache = self._cache()
        if cache is None:
            return self._exchange_result()
        key = cache_key(self.settings.cache_key_parts(self.environ))
        entry = cache.read(key)
        if self._fresh(entry):
            assert entry is not None  # noqa: S101 - narrowed by _fresh
            log.debug("cache hit: %s", cache.path_for(key))
            return self._from_entry(entry)
        with cache.lock(key, timeout=self.settings.timeout + 5) as lock:
            if lock.error is not None:
                log.warning(
                    "cannot create cache lock %s (%s); refreshing without it", lock.path, lock.error
                )
            elif not lock.acquired:
                log.warning("cache lock %s is busy; refreshing without it", lock.path)
            entry = cache.read(key) or entry  # another process may have refreshed meanwhile
            if self._fresh(entry):
                assert entry is not None  # noqa: S101 - narrowed by _fresh
                log.debug("cache filled by another process while waiting")
                return self._from_entry(entry)
            usable = entry is not None and entry.remaining(self.clock()) > STALE_MIN_REMAINING
            failed_at = cache.last_failure(key)
            if usable and failed_at is not None and self.clock() - failed_at < FAILURE_BACKOFF:
                # Another process just failed to refresh: during an outage, every process
                # retrying in turn would hammer STS; serve the stale set until the back-off ends.
                assert entry is not None  # noqa: S101 - narrowed by usable
                log.warning(
                    "a refresh failed %ds ago; serving cached credentials valid for %d more "
                    "minutes",
                    self.clock() - failed_at,
                    entry.remaining(self.clock()) // 60,
                )
                return self._from_entry(entry, stale=True)
            try:
                result = self._exchange_result()
            except Gcp2AwsError as exc:
                if usable:
                    assert entry is not None  # noqa: S101 - narrowed by usable
                    cache.mark_failure(key, self.clock())
                    log.warning(
                        "refresh failed (%s); serving cached credentials valid for %d more minutes",
                        exc.one_line(),
                        entry.remaining(self.clock()) // 60,
                    )
                    return self._from_entry(entry, stale=True)
                raise
            cache.clear_failure(key)
            try:
                cache.write(
                    CacheEntry(key, result.credentials.expires_epoch, result.payload.encode())
                )
            except OSError as exc:
                log.warning(
                    "could not write the cache in %s (%s); credentials are fine but "
                    "will not be reused",
                    cache.directory,
                    exc.strerror or exc,
                )
            return result

    def _exchange_result(self) -> Result:
        if self.settings.chain_role_arns:
            return self._chain_result()
        creds, token = self.exchange()
        left = creds.remaining(self.clock())
        if left <= self.settings.refresh_window:
            log.warning(
                "the credentials last %ds, inside the %ds refresh window: they will not be "
                "reused, and SDKs will refresh them on every call; raise --duration-seconds",
                int(left),
                self.settings.refresh_window,
            )
        return Result(creds, formats.credential_process(creds), token=token)

    def _chain_result(self) -> Result:
        """The first hop through its own cache entry and lock (chains sharing a hub share its
        exchange), then one AssumeRole per hop with the previous hop's credentials.

        The caller holds this chain's lock, so concurrent runs of one chain make one call per
        hop; the hub's lock, taken inside it, is only ever taken after a chain's.
        """
        settings = self.settings
        hub = CredentialProvider(
            settings.hub(),
            environ=self.environ,
            clock=self.clock,
            sleep=self.sleep,
            source=self._source,
            botocore_session=self._botocore_session,
        ).get()
        if settings.duration_seconds > settings.chained_duration:
            log.warning(
                "--duration-seconds %d: chained hops last at most %ds (STS caps role "
                "chaining), so they get %ds",
                settings.duration_seconds,
                settings.chained_duration,
                settings.chained_duration,
            )
        hops = assume_hops(
            settings, hub.credentials, environ=self.environ, session=self._botocore_session
        )
        creds = hub.credentials
        for _hop, _role, assumed in hops:
            creds = assumed  # the last hop's are the chain's
        return Result(creds, formats.credential_process(creds), token=hub.token)


def assume_hops(
    settings: Settings,
    creds: AwsCredentials,
    *,
    environ: Mapping[str, str],
    region: str | None = None,
    session: botocore.session.Session | None = None,
) -> Iterator[tuple[int, str, AwsCredentials]]:
    """(hop number, role, its credentials) for each ``--chain-role-arn``, each assumed with the
    previous hop's credentials; a refusal raises, naming the hop (``doctor`` reports each)."""
    session_name = settings.chain_role_session_name or _session_of(creds)
    deadline = Deadline(settings.timeout)
    for hop, role_arn in enumerate(settings.chain_role_arns, start=2):
        creds = sts.assume_role(
            credentials=creds,
            role_arn=role_arn,
            session_name=session_name,
            duration_seconds=settings.chained_duration,
            deadline=deadline,
            hop=hop,
            external_id=settings.chain_external_id,
            region=region or settings.region,
            session=session,
            environ=environ,
        )
        yield hop, role_arn, creds


def _session_of(creds: AwsCredentials) -> str:
    """The first hop's session name, from its assumed-role ARN (…:assumed-role/ROLE/SESSION)."""
    arn = creds.assumed_role_arn or ""
    name = arn.rsplit("/", 1)[-1] if arn.count("/") >= 2 else ""
    from gcp2aws.validation import sanitize_session_name

    return sanitize_session_name(name)
