"""Run the AWS-recorded conformance cases on irflow's engine and report how closely it matches.

One case: create the state machine, start one execution with the recorded input (Lambda calls
answered per the case's ``lambdas``), run it to the end on the virtual clock, normalise the
history like the recording and compare status, output (or error and cause) and the sequence of
event types; the whole normalised history is compared too (reported, not a target).

    python -m tests.conformance.runner [--category C] [--case SUBSTR] [-v]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import difflib
import json
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cases import REPO, Case, categories, load_cases, register_lambdas
from .normalise import (
    Names,
    first_difference,
    mask_fixed_values,
    normalise_history,
    parse_if_json,
    renumber_references,
)

ROLE_ARN = "arn:aws:iam::111111111111:role/irflow-conformance"
CASE_TIMEOUT_SECONDS = 5.0
REPORT_PATH = REPO / "build" / "conformance-report.txt"
TERMINAL_DETAILS = {
    "ExecutionSucceeded": "executionSucceededEventDetails",
    "ExecutionFailed": "executionFailedEventDetails",
    "ExecutionTimedOut": "executionTimedOutEventDetails",
    "ExecutionAborted": "executionAbortedEventDetails",
}

# Runnable cases (per the data) that this harness cannot run faithfully: {case id: reason}.
UNSUPPORTED: dict[str, str] = {}


class CaseTimeout(BaseException):
    """The per-case wall-clock guard fired (a BaseException so engine error handling can't eat it)."""


@dataclass
class CaseResult:
    """How one case went. `history_ok`/`full_ok` are None when the recording has no history."""

    case_id: str
    category: str
    expected_status: str
    status: str = "NOT_RUN"
    status_ok: bool = False
    output_ok: bool = False
    history_ok: bool | None = None
    full_ok: bool | None = None
    problems: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  # longer diffs, shown with -v
    seconds: float = 0.0

    @property
    def matches(self) -> bool:
        """Status and output (or error/cause) both match: the conformance target."""
        return self.status_ok and self.output_ok


# --- running one case -------------------------------------------------------------------------


@contextlib.contextmanager
def wall_clock_guard(seconds: float) -> Iterator[None]:
    """Raise CaseTimeout in the running code after `seconds` of real time (main thread only).

    The alarm repeats until the block ends, so a handler that swallows it once cannot keep a
    hung case alive. Elsewhere than the main thread the block runs unguarded.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def fire(_signum: int, _frame: Any) -> None:
        raise CaseTimeout(f"case still running after {seconds:.1f} s of wall-clock time")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.05)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Observed:
    """What the engine did for one case, normalised like the recording."""

    status: str
    events: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    message: str = ""


def execute(case: Case, engine_factory: Callable[[], Any]) -> Observed:
    """Run `case` on a fresh engine; CREATE_FAILED when the definition is refused."""
    from irflow.engine import ClientError

    engine = engine_factory()
    try:
        register_lambdas(engine, case)
        names = case.normalise
        try:
            created = engine.create_state_machine(
                name=names["stateMachineName"], definition=json.dumps(case.definition), roleArn=ROLE_ARN
            )
        except ClientError as exc:
            return Observed("CREATE_FAILED", error=getattr(exc, "code", type(exc).__name__), message=str(exc))
        started = engine.start_execution(
            stateMachineArn=created["stateMachineArn"],
            name=names.get("executionName") or "conformance",
            input=json.dumps(case.input),
        )
        engine.run_until_complete()
        arn = started["executionArn"]
        status = engine.describe_execution(executionArn=arn)["status"]
        events: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = engine.get_execution_history(
                executionArn=arn, maxResults=1000, includeExecutionData=True, **({"nextToken": token} if token else {})
            )
            events.extend(page["events"])
            token = page.get("nextToken")
            if not token:
                break
        return Observed(status, events=events)
    finally:
        close = getattr(engine, "close", None)
        if close is not None:
            close()


def _terminal(events: list[dict[str, Any]]) -> tuple[str | None, dict[str, Any]]:
    for event in reversed(events):
        if event.get("type") in TERMINAL_DETAILS:
            return event["type"], event.get(TERMINAL_DETAILS[event["type"]]) or {}
    return None, {}


def type_sequence(events: Sequence[dict[str, Any]]) -> list[Any]:
    """Event types in order; each run of masked Parallel events (id == [0]) as a sorted group."""
    sequence: list[Any] = []
    group: list[str] = []
    for event in events:
        if event.get("id") == [0]:
            group.append(str(event.get("type")))
            continue
        if group:
            sequence.append(sorted(group))
            group = []
        sequence.append(event.get("type"))
    if group:
        sequence.append(sorted(group))
    return sequence


def _canonical_events(events: Sequence[dict[str, Any]]) -> list[Any]:
    """Events with masked runs sorted, so the full comparison treats them as multisets."""
    out: list[Any] = []
    group: list[dict[str, Any]] = []
    for event in [*events, None]:
        if event is not None and event.get("id") == [0]:
            group.append(event)
            continue
        if group:
            out.extend(sorted(group, key=lambda e: json.dumps(e, sort_keys=True)))
            group = []
        if event is not None:
            out.append(event)
    return out


def _recorded(value: Any) -> Any:
    """The recorded value with response metadata masked as the newer recordings have it."""
    return mask_fixed_values(copy.deepcopy(value))


def _compare_value(label: str, expected: Any, actual: Any, problems: list[str]) -> bool:
    diff = first_difference(renumber_references(_recorded(expected)), renumber_references(actual), label)
    if diff:
        problems.append(diff)
    return diff is None


def compare(case: Case, observed: Observed, result: CaseResult) -> None:
    """Fill `result` from what was observed against what AWS recorded."""
    expected = case.expected
    result.status = observed.status
    result.status_ok = observed.status == expected.get("status")
    if not result.status_ok:
        result.problems.append(f"status: expected {expected.get('status')} != actual {observed.status}")
    if expected.get("status") == "CREATE_FAILED" or observed.status == "CREATE_FAILED":
        result.output_ok = result.status_ok and observed.error == expected.get("error")
        if result.status_ok and not result.output_ok:
            result.problems.append(f"error: expected {expected.get('error')} != actual {observed.error}")
        if observed.status == "CREATE_FAILED" and not result.status_ok:
            result.problems.append(f"definition refused: {observed.message[:300]}")
        return

    names = Names(
        state_machine_name=case.normalise["stateMachineName"],
        execution_name=case.normalise.get("executionName") or "conformance",
        role_arn=ROLE_ARN,
    )
    raw_type, raw_details = _terminal(observed.events)
    raw_output = parse_if_json(raw_details.get("output")) if raw_type == "ExecutionSucceeded" else None
    events = normalise_history(observed.events, case.normalise, names, output=raw_output)
    terminal, details = _terminal(events)

    if expected.get("status") == "SUCCEEDED":
        if terminal != "ExecutionSucceeded":
            result.problems.append(f"output: no ExecutionSucceeded event (last terminal event: {terminal})")
        else:
            actual_output = details.get("output")
            if not expected.get("outputRawText"):
                actual_output = parse_if_json(actual_output)
            result.output_ok = _compare_value("output", expected.get("output"), actual_output, result.problems)
    elif expected.get("history") is None and "error" not in expected and "cause" not in expected:
        result.output_ok = result.status_ok  # the recording holds the status only
    else:
        error_ok = _compare_value("error", expected.get("error"), details.get("error"), result.problems)
        cause_ok = _compare_value(
            "cause", parse_if_json(expected.get("cause")), parse_if_json(details.get("cause")), result.problems
        )
        result.output_ok = error_ok and cause_ok

    if case.has_history:
        recorded = expected["history"]
        result.history_ok = type_sequence(recorded) == type_sequence(events)
        if not result.history_ok:
            result.problems.append(_sequence_difference(type_sequence(recorded), type_sequence(events)))
            result.details.extend(difflib.unified_diff(
                [str(t) for t in type_sequence(recorded)], [str(t) for t in type_sequence(events)],
                "recorded event types", "irflow event types", lineterm="", n=2))
        full_expected = renumber_references(_canonical_events(_recorded(recorded)))
        full_actual = renumber_references(_canonical_events(events))
        diff = first_difference(full_expected, full_actual, "events")
        result.full_ok = diff is None
        if diff and result.history_ok:
            result.problems.append(f"history detail: {diff}")


def _sequence_difference(expected: list[Any], actual: list[Any]) -> str:
    for index, (e, a) in enumerate(zip(expected, actual, strict=False)):
        if e != a:
            return f"event types: first difference at #{index + 1}: expected {e} != actual {a}"
    return f"event types: {len(expected)} expected events != {len(actual)} actual (prefix equal)"


def run_case(case: Case, timeout: float = CASE_TIMEOUT_SECONDS, engine_factory: Callable[[], Any] | None = None
             ) -> CaseResult:
    """Run one case under the wall-clock guard; a crash or hang is a failed case, not a failed suite."""
    if engine_factory is None:
        from irflow.engine import Engine

        def engine_factory() -> Any:
            return Engine(clock="virtual")

    result = CaseResult(case.id, case.category, str(case.expected.get("status")))
    began = time.perf_counter()
    try:
        with wall_clock_guard(timeout):
            observed = execute(case, engine_factory)
            compare(case, observed, result)
    except CaseTimeout as exc:
        result.status = "HUNG"
        result.problems.append(str(exc))
    except Exception as exc:  # an engine or harness crash is reported with the case
        result.status = "CRASHED"
        result.problems.append(f"{type(exc).__name__}: {exc}"[:400])
    result.seconds = time.perf_counter() - began
    return result


@dataclass(frozen=True)
class NotRun:
    case_id: str
    category: str
    reason: str


def runnable(cases: Sequence[Case]) -> tuple[list[Case], list[NotRun]]:
    """Cases to run, and every other case with the reason it is not run."""
    run: list[Case] = []
    not_run: list[NotRun] = []
    for case in cases:
        if case.skip:
            not_run.append(NotRun(case.id, case.category, "data: " + "; ".join(case.skip)))
        elif case.id in UNSUPPORTED:
            not_run.append(NotRun(case.id, case.category, "harness: " + UNSUPPORTED[case.id]))
        else:
            run.append(case)
    return run, not_run


def run_all(cases: Sequence[Case], timeout: float = CASE_TIMEOUT_SECONDS) -> list[CaseResult]:
    return [run_case(case, timeout) for case in cases]


# --- reporting --------------------------------------------------------------------------------


@dataclass
class Row:
    category: str
    runnable: int = 0
    status: int = 0
    output: int = 0
    both: int = 0
    with_history: int = 0
    history: int = 0
    full: int = 0
    seconds: float = 0.0

    def add(self, r: CaseResult) -> None:
        self.runnable += 1
        self.status += r.status_ok
        self.output += r.output_ok
        self.both += r.matches
        self.with_history += r.history_ok is not None
        self.history += bool(r.history_ok)
        self.full += bool(r.full_ok)
        self.seconds += r.seconds


def _pct(n: int, d: int) -> str:
    return f"{100.0 * n / d:5.1f}%" if d else "    -"


def summarise(results: Sequence[CaseResult]) -> tuple[list[Row], Row]:
    """Per-category rows (in data order) and the total."""
    rows: dict[str, Row] = {}
    total = Row("TOTAL")
    for r in results:
        rows.setdefault(r.category, Row(r.category)).add(r)
        total.add(r)
    order = {c: i for i, c in enumerate(categories())}
    return sorted(rows.values(), key=lambda row: order.get(row.category, len(order))), total


def table(results: Sequence[CaseResult], not_run: Sequence[NotRun]) -> str:
    rows, total = summarise(results)
    skipped = Counter(n.category for n in not_run)
    head = (f"{'category':<20}{'runnable':>9}{'status':>8}{'output':>8}{'st+out':>8}{'%':>8}"
            f"{'w/hist':>8}{'types':>7}{'%':>8}{'full':>6}{'not run':>9}{'ms':>8}")
    lines = [head, "-" * len(head)]
    for row in [*rows, total]:
        not_run_count = len(not_run) if row is total else skipped.get(row.category, 0)
        lines.append(
            f"{row.category:<20}{row.runnable:>9}{row.status:>8}{row.output:>8}{row.both:>8}"
            f"{_pct(row.both, row.runnable):>8}{row.with_history:>8}{row.history:>7}"
            f"{_pct(row.history, row.with_history):>8}{row.full:>6}{not_run_count:>9}{row.seconds * 1000:>8.0f}"
        )
    lines.append("status/output: cases matching AWS on status / on output (or error+cause); st+out: both; "
                 "types: event-type sequence matches (of w/hist cases with a recorded history); "
                 "full: whole normalised history equal")
    return "\n".join(lines)


def mismatch_lines(results: Sequence[CaseResult], verbose: bool = False) -> list[str]:
    lines: list[str] = []
    for r in results:
        if r.matches and r.history_ok is not False and (not verbose or r.full_ok is not False):
            continue
        flags = "".join([
            "S" if not r.status_ok else ".", "O" if not r.output_ok else ".",
            "T" if r.history_ok is False else ".", "F" if r.full_ok is False else ".",
        ])
        lines.append(f"[{flags}] {r.case_id}  ({r.expected_status} -> {r.status})")
        shown = [*r.problems, *r.details] if verbose else r.problems[:1]
        lines.extend(f"        {p}" for p in shown)
    return lines


def render(results: Sequence[CaseResult], not_run: Sequence[NotRun], verbose: bool = False) -> str:
    """The table, the mismatches and the cases not run, as one text."""
    parts = ["irflow ASL engine vs AWS recordings (LocalStack's snapshots)", "", table(results, not_run), ""]
    mismatches = mismatch_lines(results, verbose)
    count = sum(1 for line in mismatches if line.startswith("["))
    parts.append(f"Mismatches ({count}); flags S=status O=output T=event types F=full history:")
    parts.extend(mismatches or ["  none"])
    parts.append("")
    parts.append(f"Not run ({len(not_run)}):")
    reasons = Counter(n.reason for n in not_run)
    parts.extend(f"  {n:4}  {reason}" for reason, n in reasons.most_common())
    if verbose:
        parts.extend(f"  - {n.case_id}: {n.reason}" for n in not_run)
    return "\n".join(parts)


def write_report(text: str, path: Path = REPORT_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.conformance.runner", description=__doc__.split("\n\n")[0])
    parser.add_argument("--category", help="only this category")
    parser.add_argument("--case", help="only cases whose id contains this text")
    parser.add_argument("-v", "--verbose", action="store_true", help="every difference, and the full not-run list")
    parser.add_argument("--timeout", type=float, default=CASE_TIMEOUT_SECONDS, help="wall-clock seconds per case")
    args = parser.parse_args(argv)
    from .cases import missing_data_reason

    if reason := missing_data_reason():
        print(reason, file=sys.stderr)
        return 2
    cases, not_run = runnable(load_cases(args.category, args.case))
    began = time.perf_counter()
    results = run_all(cases, args.timeout)
    text = render(results, not_run, args.verbose)
    print(text)
    print(f"\n{len(results)} cases in {time.perf_counter() - began:.2f} s")
    return 0 if all(r.matches and r.history_ok is not False for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
