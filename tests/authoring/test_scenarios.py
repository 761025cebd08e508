"""`irflow test` end to end on a small playbook: scenarios run on the local runtime, expect: checked, coverage."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from irflow.authoring import scenarios
from tasks.registry import TaskSpec

DEFINITION = {
    "StartAt": "Measure",
    "States": {
        "Measure": {
            "Type": "Task", "Resource": "${MeasureFunctionArn}", "ResultPath": "$.measured",
            "Retry": [{"ErrorEquals": ["irflow.Throttled"], "MaxAttempts": 2}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Broken"}],
            "Next": "Loud?",
        },
        "Loud?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.measured.level", "NumericGreaterThanEquals": 7, "Next": "Loud"}],
            "Default": "Quiet",
        },
        "Loud": {"Type": "Succeed"},
        "Quiet": {"Type": "Succeed"},
        "Broken": {"Type": "Fail", "Error": "mini.Broken"},
    },
}
MEASURE = TaskSpec(name="measure", module="tests.authoring.test_scenarios", handler="measure",
                   member_permissions=(), central_permissions=(), destructive=False, example={})


def measure(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The playbook's one task: reads the level, refuses a negative one."""
    level = event["detail"]["level"]
    if level < 0:
        raise ValueError("a level cannot be negative")
    return {"level": level}


def scenario(folder: Path, name: str, level: int, expect: dict[str, Any]) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(json.dumps({
        "name": name,
        "event": {"version": "0", "id": f"id-{name}", "detail-type": "Mini Level", "source": "test.mini",
                  "account": "222222222222", "time": "2025-01-01T00:00:00Z", "region": "us-east-1",
                  "resources": [], "detail": {"level": level}},
        "expect": expect,
    }), encoding="utf-8")
    return path


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    playbook = tmp_path / "workflows" / "mini"
    playbook.mkdir(parents=True)
    (playbook / "definition.asl.json").write_text(json.dumps(DEFINITION), encoding="utf-8")
    (playbook / "playbook.yaml").write_text("name: mini\ntriggers:\n  - source: [test.mini]\n", encoding="utf-8")
    return {"workflows_dir": tmp_path / "workflows", "tasks": {"measure": MEASURE}, "load_handler": lambda spec: measure}


def test_scenarios_are_checked_and_coverage_lists_what_none_reached(tmp_path: Path, world: dict[str, Any]) -> None:
    loud = scenario(tmp_path, "loud", 9, {"status": "SUCCEEDED", "visited": ["Measure", "Loud"],
                                          "not_visited": ["Quiet"]})
    broken = scenario(tmp_path, "broken", -1, {"status": "SUCCEEDED"})
    run = scenarios.run_scenarios([loud, broken], world)
    assert [(r.name, r.passed, r.checked) for r in run.results] == [("loud", True, True), ("broken", False, True)]
    assert run.results[1].failures == [
        "status: expected 'SUCCEEDED', mini execution ended with 'FAILED' (mini.Broken)"]
    # The first scenario pays the start-up (imports, moto); each one after it runs in well under a second.
    assert run.results[1].seconds < 0.5, run.results[1].seconds
    found = run.coverage["mini"]
    assert found.executions == 2
    assert found.summary() == {"state": (4, 5), "branch": (1, 2), "catch": (1, 1)}
    assert [i.label for i in found.missed()] == ["Loud?: Default -> Quiet", "Quiet"]

    out = io.StringIO()
    scenarios.report(run, out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"PASS {loud} (") and lines[1].startswith(f"FAIL {broken} (")
    assert lines[2] == "    status: expected 'SUCCEEDED', mini execution ended with 'FAILED' (mini.Broken)"
    assert "coverage of mini (2 executions): states 4/5 (80%), Choice branches 1/2 (50%), Catch paths 1/1 (100%)" \
        in lines
    assert lines[-1] == "1 passed, 1 failed"
    assert scenarios.as_json(run)["coverage"][0]["missed"][0] == {
        "kind": "branch", "state": "Loud?", "key": "Default", "label": "Loud?: Default -> Quiet"}


def test_a_scenario_that_cannot_be_read_fails_with_one_line(tmp_path: Path, world: dict[str, Any]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nevents: nope\n", encoding="utf-8")
    run = scenarios.run_scenarios([bad], world)
    assert not run.results[0].passed
    assert run.results[0].failures[0].startswith("cannot run: ")
