"""The one fuzzing budget: how many examples each property gets, as a Hypothesis profile.

Importing this module registers and loads the ``gcp2aws-ci`` profile; tests/conftest.py
imports it, so it is the default for every property in any run, whichever subset is collected,
also those outside tests/functional/fuzz/ that do not set their own ``max_examples``.
Properties that start a real shell per example use ``SHELL_MAX_EXAMPLES`` instead: a shell
process costs milliseconds where a parser call costs microseconds. The two numbers keep the
whole fuzz suite well under a minute on 2 cores; ``--hypothesis-profile=gcp2aws-deep`` runs
ten times as many for a longer local session.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

MAX_EXAMPLES = 300
SHELL_MAX_EXAMPLES = 100
DEEP_FACTOR = 10

PROFILE = "gcp2aws-ci"
DEEP_PROFILE = "gcp2aws-deep"

_COMMON = {
    # CI machines are shared and slow: wall-clock deadlines would only add flakes.
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    "print_blob": True,
}


def _load() -> None:
    current = settings.get_current_profile_name()
    # Keep a profile chosen with --hypothesis-profile; build on Hypothesis' own "ci" profile
    # (derandomized, no example database) when the CI variable selected it.
    parent = settings.get_profile(current) if current == "ci" else None
    settings.register_profile(PROFILE, parent, max_examples=MAX_EXAMPLES, **_COMMON)
    settings.register_profile(
        DEEP_PROFILE,
        parent,
        max_examples=MAX_EXAMPLES * DEEP_FACTOR,
        **_COMMON,
    )
    if current in ("default", "ci"):
        settings.load_profile(PROFILE)


_load()

# For properties that spawn a process per example (real shells, the console script).
shell_budget = settings(
    max_examples=SHELL_MAX_EXAMPLES,
    **_COMMON,  # type: ignore[arg-type]
)
