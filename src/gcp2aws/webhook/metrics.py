"""The webhook's Prometheus metrics, in a registry of their own (no process-global state)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Admission is a few hundred microseconds when the ServiceAccount is cached; a miss adds a GET.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.admissions = Counter(
            "gcp2aws_webhook_admissions",
            "Admission reviews answered, by outcome (mutated, skipped, denied, error) and reason",
            ("outcome", "reason"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "gcp2aws_webhook_admission_duration_seconds",
            "Time from the end of a review's headers to the end of the answer",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.cache_events = Counter(
            "gcp2aws_webhook_serviceaccount_cache_events",
            "ServiceAccount cache events: hit, miss, relist, added, modified, deleted, watch_error",
            ("event",),
            registry=self.registry,
        )
        self.cached = Gauge(
            "gcp2aws_webhook_serviceaccounts_cached",
            "ServiceAccounts in the cache",
            registry=self.registry,
        )
        self.certificate_reloads = Counter(
            "gcp2aws_webhook_certificate_reloads",
            "Certificate reloads after the files changed, by result (ok, failed)",
            ("result",),
            registry=self.registry,
        )

    def count_cached(self, size: Callable[[], int]) -> None:
        self.cached.set_function(lambda: float(size()))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
