"""`irflow test [SCENARIOS] [--json]`: run scenarios, check their `expect:` blocks, report playbook coverage.

Each scenario runs exactly as `irflow simulate` runs it (`irflow.local.simulate.run_scenario`,
a fresh embedded AWS and engine each time); its report is checked against `expect:`
(`expect.py`), and the histories of its executions are read back from the engine to count what
of each playbook it exercised (`coverage.py`). The coverage report lists every state, Choice
branch and Catch path no scenario reached.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .coverage import Coverage

SCENARIO_GLOBS = ("*.yaml", "*.yml")


@dataclass
class Result:
    """One scenario's run."""

    path: str
    name: str = ""
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    checked: bool = False  # the scenario has an expect: block

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class Run:
    """Every scenario's result and the coverage of every playbook they ran."""

    results: list[Result] = field(default_factory=list)
    coverage: dict[str, Coverage] = field(default_factory=dict)


def find_scenarios(paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for glob in SCENARIO_GLOBS for p in path.rglob(glob)))
        else:
            found.append(path)
    return found


def run_scenarios(paths: list[Path], runtime_options: Mapping[str, Any] | None = None) -> Run:
    """Run each scenario and gather coverage over all of them.

    `runtime_options` go to the local runtime (`workflows_dir`, `tasks`, `load_handler`); by
    default it runs the repository's playbooks and registered tasks.
    """
    from irflow.local import speed

    speed.apply()
    run = Run()
    for path in paths:
        run.results.append(run_one(path, run.coverage, runtime_options))
    return run


def run_one(path: Path, gathered: dict[str, Coverage], runtime_options: Mapping[str, Any] | None = None) -> Result:
    """Run one scenario, check it, and add what its executions exercised to `gathered`."""
    from irflow.local.events import EventError
    from irflow.local.playbooks import PlaybookError
    from irflow.local.runtime import Runtime
    from irflow.local.scenario import ScenarioError, load
    from irflow.local.simulate import run_scenario

    from . import expect

    result = Result(str(path))
    runtimes: list[Any] = []

    def factory(**kwargs: Any) -> Any:
        runtime = Runtime(**{**kwargs, **(runtime_options or {})})
        runtimes.append(runtime)
        return runtime

    started = time.perf_counter()
    try:
        scenario = load(path)
        result.name = scenario.name
        outcome = run_scenario(scenario, runtime_factory=factory)
    except (ScenarioError, PlaybookError, EventError) as error:
        result.failures.append(f"cannot run: {error}")
        return result
    finally:
        result.seconds = time.perf_counter() - started
    if scenario.expect is not None:
        result.checked = True
        result.failures.extend(expect.check(scenario.expect, outcome.document))
    for runtime in runtimes:
        _gather(runtime, gathered)
    return result


def _gather(runtime: Any, gathered: dict[str, Coverage]) -> None:
    """Add the histories of a (finished) runtime's executions to the coverage of their playbooks."""
    from . import coverage

    for execution in runtime.executions():
        playbook = runtime.playbooks[execution["playbook"]]
        definition = json.loads(playbook.definition)
        found = gathered.setdefault(playbook.name, coverage.coverage_for(playbook.name, definition))
        history = runtime.engine.get_execution_history(executionArn=execution["executionArn"], maxResults=25000)
        coverage.record(found, definition, history["events"])


def report(run: Run, out: Any) -> None:
    from . import coverage

    for result in run.results:
        verdict = "PASS" if result.passed else "FAIL"
        note = "" if result.checked or not result.passed else " (no expect: block, ran only)"
        out.write(f"{verdict} {result.path} ({result.seconds:.2f}s){note}\n")
        for failure in result.failures:
            out.write(f"    {failure}\n")
    for found in run.coverage.values():
        out.write("\n" + coverage.render(found) + "\n")
    passed = sum(1 for r in run.results if r.passed)
    out.write(f"\n{passed} passed, {len(run.results) - passed} failed\n")


def as_json(run: Run) -> dict[str, Any]:
    from . import coverage

    return {
        "scenarios": [{"path": r.path, "name": r.name, "passed": r.passed, "failures": r.failures,
                       "seconds": round(r.seconds, 3), "checked": r.checked} for r in run.results],
        "coverage": [coverage.as_json(c) for c in run.coverage.values()],
    }


def main(paths: list[str], as_json_output: bool = False, out: Any = None) -> int:
    """The `irflow test` command; exit status 1 when a scenario failed (or none was found)."""
    out = out or sys.stdout
    default = [Path("scenarios"), *sorted(Path("workflows").glob("*/scenarios"))]
    scenarios = find_scenarios([Path(p) for p in paths] or default)
    if not scenarios:
        print("irflow test: no scenarios (*.yaml) found", file=sys.stderr)
        return 1
    run = run_scenarios(scenarios)
    if as_json_output:
        out.write(json.dumps(as_json(run), indent=2) + "\n")
    else:
        report(run, out)
    return 0 if all(r.passed for r in run.results) else 1


def register(subparsers: Any) -> None:
    """Add `irflow test` to the CLI."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "test", help="run scenarios, check their expect: blocks and report playbook coverage",
        description="Run scenarios (default: scenarios/ and workflows/*/scenarios/) on the local engine and embedded AWS, check each "
                    "expect: block, and report which states, Choice branches and Catch paths of each playbook "
                    "the scenarios exercised. Exit 1 when a scenario fails.")
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="scenario files or folders of them")
    parser.add_argument("--json", action="store_true", help="one JSON document, for CI")
    parser.set_defaults(run=lambda args: main(args.scenarios, args.json))
