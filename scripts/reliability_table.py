#!/usr/bin/env python3
"""Regenerate docs/reliability.md from the fault matrix's results, the fuzzing budget and coverage.

Nothing in the generated page is typed by hand: the fault table comes from the JSON lines the
matrix (tests/functional/faults) writes when GCP2AWS_RELIABILITY_OUT is set, the fuzzing budget
from the Hypothesis settings in the test sources, the coverage figure from a coverage report.

    scripts/reliability_table.py                       # run the fault matrix, then write the page
    scripts/reliability_table.py --results out.jsonl   # use results from an earlier run
    scripts/reliability_table.py --coverage coverage.json   # or a saved `coverage report`

Standard library only. Exits non-zero when a matrix row failed (the page is written anyway,
with the failure shown).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_ENV = "GCP2AWS_RELIABILITY_OUT"
HYPOTHESIS_DEFAULT_EXAMPLES = 100
GROUP_ORDER = ("metadata server", "STS", "local", "hostile input", "concurrency")


# -- fault matrix ---------------------------------------------------------------------------------
def run_matrix(results: Path, pytest_args: Sequence[str]) -> int:
    """Run tests/functional/faults with the results variable set; returns pytest's exit code."""
    env = {**os.environ, RESULTS_ENV: str(results)}
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "tests/functional/faults",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    return subprocess.run([*cmd, *pytest_args], cwd=ROOT, env=env, check=False).returncode


def load_results(path: Path) -> list[dict[str, object]]:
    """The rows, last result per (group, id) winning (a re-run replaces an earlier line)."""
    rows: dict[tuple[str, str], dict[str, object]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows[(str(row["group"]), str(row["id"]))] = row
    return list(rows.values())


def _calls(value: object) -> str:
    return "-" if value is None else str(value)


def _bound(expected: object) -> str:
    if not isinstance(expected, (list, tuple)) or len(expected) != 2:
        return "?"
    lo, hi = expected
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def fault_tables(rows: Iterable[dict[str, object]]) -> tuple[list[str], int, int]:
    by_group: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        by_group.setdefault(str(row["group"]), []).append(row)
    order = [g for g in GROUP_ORDER if g in by_group] + sorted(set(by_group) - set(GROUP_ORDER))
    out: list[str] = []
    passed = failed = 0
    for group in order:
        out += [
            f"### {group[0].upper()}{group[1:]}",
            "",
            "| Fault | What gcp2aws does | Outcome | Exit | Metadata calls | STS calls "
            "| Elapsed (bound) | Result |",
            "| --- | --- | --- | --: | --: | --: | --: | --- |",
        ]
        for row in by_group[group]:
            expected = row["expected"]
            if not isinstance(expected, dict):
                raise SystemExit(f"reliability_table: malformed result line for {row['id']}")
            status = str(row["status"])
            passed += status == "passed"
            failed += status == "failed"
            elapsed = row.get("elapsed")
            timing = f"{elapsed:.1f} s" if isinstance(elapsed, (int, float)) else "-"
            measured = f" ({row['measured']})" if row.get("measured") else ""
            out.append(
                "| "
                + " | ".join(
                    _cell(c)
                    for c in (
                        row["fault"],
                        f"{row['does']}{measured}",
                        expected["outcome"],
                        _calls(row.get("exit_code")),
                        f"{_calls(row.get('metadata_calls'))} "
                        f"(expect {_bound(expected['metadata_calls'])})",
                        f"{_calls(row.get('sts_calls'))} (expect {_bound(expected['sts_calls'])})",
                        f"{timing} (<= {expected['max_elapsed']:g} s)",
                        {"passed": "pass", "failed": "**FAIL**"}.get(status, status),
                    )
                )
                + " |"
            )
        out.append("")
    return out, passed, failed


# -- fuzzing budget -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Property:
    path: str
    name: str
    examples: int
    explicit: bool


class _Names:
    """Module-level constants and settings objects across the test sources, by name.

    Enough to follow ``MAX_EXAMPLES = 300``, ``register_profile(PROFILE, max_examples=N * 10)``
    and ``shell_budget = settings(max_examples=SHELL_MAX_EXAMPLES)`` without importing tests.
    """

    def __init__(self) -> None:
        self.values: dict[str, object] = {}
        self.settings: dict[str, int] = {}

    def eval(self, node: ast.expr | None) -> object:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.values.get(node.id)
        if isinstance(node, ast.Attribute):
            return self.values.get(node.attr)
        if isinstance(node, ast.BinOp):
            left, right = self.eval(node.left), self.eval(node.right)
            if isinstance(left, int) and isinstance(right, int):
                if isinstance(node.op, ast.Mult):
                    return left * right
                if isinstance(node.op, ast.Add):
                    return left + right
        return None

    def max_examples(self, node: ast.expr) -> int | None:
        """``max_examples`` of a ``settings(...)`` call or of a named settings object."""
        if isinstance(node, ast.Call) and _last_name(node.func) in ("settings", "register_profile"):
            for kw in node.keywords:
                if kw.arg == "max_examples":
                    value = self.eval(kw.value)
                    return value if isinstance(value, int) else None
            return None
        name = _last_name(node)
        return self.settings.get(name) if name else None


def _last_name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def _is_given(decorator: ast.expr) -> bool:
    func = decorator.func if isinstance(decorator, ast.Call) else decorator
    return _last_name(func) == "given"


def _collect_names(trees: list[tuple[Path, ast.Module]]) -> _Names:
    names = _Names()
    for _round in range(2):  # twice, so a constant defined from another file's resolves
        for _path, tree in trees:
            for stmt in tree.body:
                if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1):
                    continue
                target = stmt.targets[0]
                if not isinstance(target, ast.Name):
                    continue
                examples = names.max_examples(stmt.value)
                if examples is not None:
                    names.settings[target.id] = examples
                value = names.eval(stmt.value)
                if isinstance(value, (int, str)):
                    names.values[target.id] = value
    return names


def fuzzing_budget(tests: Path) -> tuple[list[Property], dict[str, int], str | None]:
    """Every @given test with its max_examples, the registered profiles and the loaded one."""
    trees = [
        (path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        for path in sorted(tests.rglob("*.py"))
    ]
    names = _collect_names(trees)
    profiles: dict[str, int] = {}
    loaded: str | None = None
    props: list[Property] = []
    for path, tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _last_name(node.func) == "register_profile":
                name = names.eval(node.args[0]) if node.args else None
                examples = names.max_examples(node)
                if isinstance(name, str) and examples is not None:
                    profiles[name] = examples
            if isinstance(node, ast.Call) and _last_name(node.func) == "load_profile":
                name = names.eval(node.args[0]) if node.args else None
                loaded = name if isinstance(name, str) else loaded
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if not any(_is_given(d) for d in node.decorator_list):
                continue
            explicit = next(
                (n for d in node.decorator_list if (n := names.max_examples(d)) is not None), None
            )
            props.append(
                Property(
                    str(path.relative_to(tests.parent)),
                    node.name,
                    explicit if explicit is not None else -1,
                    explicit is not None,
                )
            )
    default = profiles.get(loaded, HYPOTHESIS_DEFAULT_EXAMPLES) if loaded else None
    fallback = HYPOTHESIS_DEFAULT_EXAMPLES if default is None else default
    props = [p if p.explicit else dataclasses.replace(p, examples=fallback) for p in props]
    return props, profiles, loaded


def fuzzing_section(
    props: list[Property], profiles: dict[str, int], loaded: str | None
) -> list[str]:
    total = sum(p.examples for p in props)
    if loaded and loaded in profiles:
        default = f"the `{loaded}` Hypothesis profile: {profiles[loaded]} examples"
    else:
        default = f"Hypothesis's default of {HYPOTHESIS_DEFAULT_EXAMPLES} examples"
    others = "".join(
        f"; profile `{name}`: {n}" for name, n in sorted(profiles.items()) if name != loaded
    )
    out = [
        f"{len(props)} property tests run {total} generated examples per test run. Tests "
        f"without their own `max_examples` use {default}{others}.",
        "",
        "| Property test | Examples |",
        "| --- | --: |",
    ]
    for p in sorted(props, key=lambda p: (p.path, p.name)):
        suffix = "" if p.explicit else " (profile)" if loaded else " (default)"
        out.append(f"| `{p.path}::{p.name}` | {p.examples}{suffix} |")
    out.append("")
    return out


# -- coverage -------------------------------------------------------------------------------------
def coverage_figure(path: Path | None) -> str | None:
    """Total line (and branch) coverage from `coverage json` output or a saved text report."""
    if path is None or not path.exists():
        return None
    text = path.read_text(encoding="utf-8")
    try:
        totals = json.loads(text)["totals"]
    except (ValueError, KeyError, TypeError):
        match = re.search(r"^TOTAL\s.*?(\d+(?:\.\d+)?)%\s*$", text, flags=re.MULTILINE)
        return f"{match.group(1)}%" if match else None
    return f"{float(totals['percent_covered']):.1f}%"


# -- page -----------------------------------------------------------------------------------------
def render(
    rows: list[dict[str, object]],
    budget: tuple[list[Property], dict[str, int], str | None],
    cov: str | None,
) -> tuple[str, int]:
    tables, passed, failed = fault_tables(rows)
    lines = [
        "<!-- Generated by scripts/reliability_table.py from the tests/functional/faults results,",
        "     the Hypothesis settings in tests/ and a coverage report. Do not edit by hand. -->",
        "## Reliability",
        "",
        "Every row is an end-to-end test in `tests/functional/faults/`: the real",
        "`gcp2aws credentials` (or `gcp2aws serve`) process against the metadata emulator and a",
        "local STS (moto behind a fault-injecting proxy). Each asserts the outcome, the exit code,",
        "an elapsed bound, the number of upstream calls, the one-line error contract for failures,",
        "and that no ID token, secret key or session token reaches stderr. Calls are those of the",
        "run under test; elapsed is the whole process, start-up included, on the machine that",
        "generated the page.",
        "",
        f"**{passed} of {len(rows)} rows pass**" + (f", {failed} fail." if failed else "."),
        "",
        *tables,
        "### Fuzzing budget",
        "",
        *fuzzing_section(*budget),
        "### Coverage",
        "",
        (
            f"Test coverage of `src/gcp2aws` (line and branch): **{cov}**."
            if cov
            else "No coverage report was given (`--coverage coverage.json`)."
        ),
        "",
    ]
    return "\n".join(lines), failed


README_START = "<!-- reliability:start -->"
README_END = "<!-- reliability:end -->"


def update_readme(readme: Path, page: str) -> bool:
    """Put the generated page between the README's markers; False when it has none."""
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        return False
    body = page.split("## Reliability", 1)[-1].lstrip("\n")
    new = f"{text[: start + len(README_START)]}\n{body.rstrip()}\n{text[end:]}"
    readme.write_text(new, encoding="utf-8")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, help="existing results (JSON lines); default: run")
    parser.add_argument(
        "--coverage", type=Path, help="`coverage json` output or a saved `coverage report`"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "reliability.md")
    parser.add_argument("--tests", type=Path, default=ROOT / "tests")
    parser.add_argument(
        "--readme",
        type=Path,
        default=ROOT / "README.md",
        help="also replace the README's section between the reliability markers",
    )
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments for the run")
    ns = parser.parse_args(argv)

    code = 0
    if ns.results is None:
        with tempfile.TemporaryDirectory() as tmp:
            results = Path(tmp) / "results.jsonl"
            code = run_matrix(results, ns.pytest_args)
            if not results.exists():
                print("reliability_table: the matrix wrote no results", file=sys.stderr)
                return code or 1
            rows = load_results(results)
    else:
        rows = load_results(ns.results)
    page, failed = render(rows, fuzzing_budget(ns.tests), coverage_figure(ns.coverage))
    ns.output.parent.mkdir(parents=True, exist_ok=True)
    ns.output.write_text(page, encoding="utf-8")
    print(f"reliability_table: wrote {ns.output} ({len(rows)} rows, {failed} failed)")
    if ns.readme.exists() and update_readme(ns.readme, page):
        print(f"reliability_table: updated the reliability section of {ns.readme}")
    return 1 if failed else code


if __name__ == "__main__":
    sys.exit(main())
