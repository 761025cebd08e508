"""Each lint rule on a fixture that breaks it and one that keeps it; lines point at the culprit."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from irflow.authoring import lint
from irflow.authoring.rules import REASONS

from .helpers import CATALOG, FIXTURES

RULES = FIXTURES / "rules"

# fixture -> the (line, rule) problems of its own rule, exactly.
FAILING: dict[str, list[tuple[int, str]]] = {
    "plain-asl/fail.asl.json": [(4, "plain-asl")],
    "plain-asl/fail-key.asl.json": [(7, "plain-asl")],
    "asl-valid/fail.asl.json": [(3, "asl-valid"), (4, "asl-valid")],
    "asl-statelint/fail.asl.json": [(8, "asl-statelint")],
    "task-retry-throttling/fail.asl.json": [(7, "task-retry-throttling")],
    "task-retry-throttling/fail-zero.asl.json": [(8, "task-retry-throttling")],
    "task-catch-records/fail.asl.json": [(7, "task-catch-records")],
    "task-catch-records/fail-unrecorded.asl.json": [(7, "task-catch-records")],
    "task-catch-records/fail-discarded.asl.json": [(7, "task-catch-records")],
    "destructive-needs-approval/fail.asl.json": [(5, "destructive-needs-approval")],
    "destructive-needs-approval/fail-rejected.asl.json": [(13, "destructive-needs-approval")],
    "approval-timeout/fail.asl.json": [(4, "approval-timeout")],
    "approval-timeout-safe/fail.asl.json": [(9, "approval-timeout-safe")],
    "approval-timeout-safe/fail-destructive.asl.json": [(11, "approval-timeout-safe")],
    "evidence-before-destructive/fail.asl.json": [(11, "evidence-before-destructive")] * 2,
    "placeholder-unknown/fail.asl.json": [(7, "placeholder-unknown")],
    "no-secrets/fail.asl.json": [(10, "no-secrets"), (11, "no-secrets")],
    "no-secrets/fail-keys.asl.json": [(10, "no-secrets"), (11, "no-secrets"), (12, "no-secrets")],
    "unreachable-state/fail.asl.json": [(5, "unreachable-state")],
}


def own(path: Path) -> list[tuple[int, str]]:
    """The problems a fixture has under the rule its folder is named after."""
    return [(p.line, p.rule) for p in lint.lint_file(path, CATALOG) if p.rule == path.parent.name]


@pytest.mark.parametrize("fixture", sorted(FAILING))
def test_failing_fixture_breaks_its_rule_on_the_right_line(fixture: str) -> None:
    assert own(RULES / fixture) == FAILING[fixture]


@pytest.mark.parametrize("fixture", sorted(str(p.relative_to(RULES)) for p in RULES.rglob("pass*.asl.json")))
def test_passing_fixture_keeps_its_rule(fixture: str) -> None:
    assert own(RULES / fixture) == []


def test_every_rule_has_a_failing_and_a_passing_fixture() -> None:
    for rule in REASONS:
        assert any(f.startswith(f"{rule}/") for f in FAILING), rule
        assert list((RULES / rule).glob("pass*.asl.json")), rule


def test_a_playbook_that_follows_every_rule_is_clean() -> None:
    assert lint.lint_file(FIXTURES / "clean.asl.json", CATALOG) == []


def test_output_is_file_line_rule_message_and_exit_status_is_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)
    out = io.StringIO()
    assert lint.run(["rules/unreachable-state/fail.asl.json"], as_json=False, catalog=CATALOG, out=out) == 1
    assert out.getvalue() == ("rules/unreachable-state/fail.asl.json:5: unreachable-state "
                              "state 'Forgotten' is not reachable from StartAt\n")
    out = io.StringIO()
    assert lint.run(["clean.asl.json"], as_json=False, catalog=CATALOG, out=out) == 0
    assert out.getvalue() == ""


def test_json_output_for_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)
    out = io.StringIO()
    assert lint.run(["rules/approval-timeout"], as_json=True, catalog=CATALOG, out=out) == 1
    report = json.loads(out.getvalue())
    assert report["files"] == ["rules/approval-timeout/fail.asl.json", "rules/approval-timeout/pass.asl.json"]
    timeouts = [p for p in report["problems"] if p["rule"] == "approval-timeout"]
    assert timeouts == [{"file": "rules/approval-timeout/fail.asl.json", "line": 4, "rule": "approval-timeout",
                         "message": "approval 'AskApproval' has no TimeoutSeconds, TimeoutSecondsPath or "
                                    "HeartbeatSeconds",
                         "reason": REASONS["approval-timeout"]}]


def test_a_file_that_is_not_json_is_one_problem(tmp_path: Path) -> None:
    broken = tmp_path / "broken.asl.json"
    broken.write_text('{\n  "StartAt": "A",\n  "States": {\n}', encoding="utf-8")
    problems = lint.lint_file(broken, CATALOG)
    assert [(p.line, p.rule) for p in problems] == [(4, "asl-valid")]
