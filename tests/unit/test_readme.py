"""The README documents what the code does: every flag, environment variable and exit code."""

from __future__ import annotations

import re

from gcp2aws import envvars, options
from gcp2aws.errors import ExitCode
from tests.support import compat, repo

README = repo.README.read_text(encoding="utf-8")


def test_every_exchange_flag_and_its_variable_is_in_the_flag_table() -> None:
    rows = [line for line in README.splitlines() if line.startswith("| `--")]
    for _dest, flag, env, _takes_value, _help in options.OPTIONS:
        assert any(f"`{flag}" in row and f"`{env}`" in row for row in rows), flag


def test_every_environment_variable_is_named() -> None:
    names = {
        value
        for name, value in vars(envvars).items()
        if name.isupper() and isinstance(value, str) and "_" in value
    }
    missing = sorted(name for name in names if name not in README)
    assert missing == []


def test_exit_code_table_matches_the_code() -> None:
    section = README.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", section, re.M)}
    assert documented == {int(code) for code in ExitCode}


def test_compatibility_table_is_the_one_the_matrix_runs() -> None:
    """Each row is what tests/functional/e2e/test_compat_matrix.py asserts at CI's versions."""
    section = README.split("## Which AWS clients work, in which mode", 1)[1].split("\n## ", 1)[0]
    for client in compat.CLIENTS:
        assert compat.readme_row(client) in section, client
    for mode in compat.MODES:
        assert f"`{mode}`" in section, mode


def test_the_guides_name_the_same_minimum_versions_as_the_table() -> None:
    guides = {
        name: (repo.DOCS / name).read_text(encoding="utf-8") for name in ("consumers.md", "gke.md")
    }
    for (client, mode), minimum in compat.MINIMUM.items():
        assert minimum in guides["consumers.md"], (client, mode)
        if mode == "serve-token-file":  # the endpoint pattern's token file
            assert minimum in guides["gke.md"], client


def test_the_japanese_readme_carries_the_same_table() -> None:
    japanese = (repo.REPO / "README.ja.md").read_text(encoding="utf-8")
    for client in compat.CLIENTS:
        assert compat.readme_row(client) in japanese, client


def test_the_gke_section_starts_with_the_annotation() -> None:
    section = README.split("## Running on GKE\n", 1)[1].lstrip()
    assert section.startswith("Annotate the ServiceAccount")
    assert "gcp2aws webhook manifests" in section


def test_docs_gke_walks_both_paths_and_gives_the_benchmark_command() -> None:
    gke = (repo.DOCS / "gke.md").read_text(encoding="utf-8")
    for heading in ("### The GSA path", "### The projected path", "### failurePolicy"):
        assert heading in gke
    assert "python bench/webhook_bench.py" in gke
    assert "gcp2aws policy --kubernetes-issuer" in gke
