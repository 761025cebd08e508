"""irflow's engine against the AWS recordings: the conformance targets.

Runs every runnable case once (module-scoped), prints the per-category table (``pytest -s``)
and writes it with the mismatches to ``build/conformance-report.txt``. Details of one case:
``python -m tests.conformance.runner --case SUBSTR -v``.
"""

from __future__ import annotations

import importlib.util

import pytest

from .cases import load_cases, missing_data_reason
from .runner import CaseResult, NotRun, render, run_all, runnable, summarise, table, write_report

ALL_TARGET = 0.95  # of all runnable cases: status and output match
CATEGORY_TARGET = 0.90  # the same, in every category
HISTORY_TARGET = 0.90  # of cases with a recorded history: event-type sequence matches

if reason := missing_data_reason():
    pytest.skip(reason, allow_module_level=True)
if importlib.util.find_spec("irflow.engine") is None:
    pytest.skip("irflow.engine is not importable yet", allow_module_level=True)


@pytest.fixture(scope="module")
def outcome() -> tuple[list[CaseResult], list[NotRun]]:
    cases, not_run = runnable(load_cases())
    results = run_all(cases)
    text = render(results, not_run)
    path = write_report(text)
    print("\n" + table(results, not_run) + f"\n(full report: {path})")
    return results, not_run


def test_no_case_crashes_or_hangs(outcome: tuple[list[CaseResult], list[NotRun]]) -> None:
    broken = [f"{r.case_id}: {r.status}: {r.problems[-1]}" for r in outcome[0] if r.status in ("CRASHED", "HUNG")]
    assert not broken, "\n".join(broken)


def test_cases_not_run_have_reasons(outcome: tuple[list[CaseResult], list[NotRun]]) -> None:
    assert all(n.reason for n in outcome[1])
    assert len(outcome[0]) + len(outcome[1]) == len(load_cases())


def test_status_and_output_match_overall(outcome: tuple[list[CaseResult], list[NotRun]]) -> None:
    _rows, total = summarise(outcome[0])
    assert total.both >= ALL_TARGET * total.runnable, f"{total.both}/{total.runnable} match on status and output"


@pytest.mark.parametrize("category", sorted({c.category for c in load_cases() if not c.skip}))
def test_status_and_output_match_per_category(outcome: tuple[list[CaseResult], list[NotRun]], category: str) -> None:
    rows, _total = summarise(outcome[0])
    row = next(r for r in rows if r.category == category)
    misses = [f"{r.case_id}: {r.problems[0] if r.problems else ''}"
              for r in outcome[0] if r.category == category and not r.matches]
    assert row.both >= CATEGORY_TARGET * row.runnable, (
        f"{category}: {row.both}/{row.runnable} match on status and output\n" + "\n".join(misses))


def test_event_type_sequences_match(outcome: tuple[list[CaseResult], list[NotRun]]) -> None:
    _rows, total = summarise(outcome[0])
    assert total.history >= HISTORY_TARGET * total.with_history, (
        f"{total.history}/{total.with_history} event-type sequences match")
