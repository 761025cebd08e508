"""Coverage from real engine histories: states, Choice branches (even sharing a target) and Catch paths."""

from __future__ import annotations

import json
from typing import Any

from irflow.authoring import coverage
from irflow.engine import Engine

FN = "arn:aws:lambda:us-east-1:111111111111:function:work"
MACHINE: dict[str, Any] = {
    "StartAt": "Work",
    "States": {
        "Work": {
            "Type": "Task", "Resource": FN, "ResultPath": "$.work",
            "Catch": [
                {"ErrorEquals": ["Gone"], "ResultPath": "$.error", "Next": "Low"},
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Recover"},
            ],
            "Next": "Route",
        },
        "Recover": {"Type": "Pass", "Next": "Route"},
        "Route": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.severity", "NumericGreaterThanEquals": 7, "Next": "Both"},
                {"Variable": "$.severity", "NumericGreaterThanEquals": 4, "Next": "Mid"},
                {"Variable": "$.status", "StringEquals": "Failed", "Next": "Mid"},
            ],
            "Default": "Low",
        },
        "Both": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "Left", "States": {"Left": {"Type": "Pass", "End": True}}},
                {"StartAt": "Right", "States": {"Right": {"Type": "Pass", "End": True}}},
            ],
            "Next": "Done",
        },
        "Mid": {"Type": "Pass", "Next": "Done"},
        "Low": {"Type": "Pass", "Next": "Done"},
        "Done": {"Type": "Succeed"},
    },
}


class Gone(Exception):
    """Raised by the test function; its name is the error Step Functions reports."""


def work(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("fail") == "gone":
        raise Gone("the instance is gone")
    if event.get("fail"):
        raise RuntimeError("boom")
    return {"ok": True}


def run_all(inputs: list[dict[str, Any]]) -> coverage.Coverage:
    definition = MACHINE
    engine = Engine()
    engine.register_lambda(FN, work)
    arn = engine.create_state_machine(name="m", definition=json.dumps(definition))["stateMachineArn"]
    found = coverage.coverage_for("m", definition)
    for payload in inputs:
        started = engine.start_execution(stateMachineArn=arn, input=json.dumps(payload))
        assert engine.describe_execution(executionArn=started["executionArn"])["status"] == "SUCCEEDED"
        coverage.record(found, definition, engine.get_execution_history(executionArn=started["executionArn"])["events"])
    return found


def hits(found: coverage.Coverage) -> dict[str, int]:
    return {f"{i.kind}:{i.state}:{i.key}".rstrip(":"): i.hits for i in found.items}


def test_counts_states_branches_and_catches() -> None:
    found = run_all([
        {"severity": 8},                       # Choices[0] -> Both (Parallel: Left, Right)
        {"severity": 2, "status": "Failed"},   # Choices[2] -> Mid (shares Mid with Choices[1])
        {"severity": 5, "fail": True},         # Catch[1] -> Recover, then Choices[1] -> Mid
        {"severity": 1, "fail": "gone"},       # Catch[0] -> Low
    ])
    assert found.executions == 4
    assert hits(found) == {
        "state:Work": 4, "state:Recover": 1, "state:Route": 3, "state:Both": 1, "state:Left": 1, "state:Right": 1,
        "state:Mid": 2, "state:Low": 1, "state:Done": 4,
        "branch:Route:Choices[0]": 1, "branch:Route:Choices[1]": 1, "branch:Route:Choices[2]": 1,
        "branch:Route:Default": 0,
        "catch:Work:Catch[0]": 1, "catch:Work:Catch[1]": 1,
    }
    assert found.summary() == {"state": (9, 9), "branch": (3, 4), "catch": (2, 2)}
    assert [i.label for i in found.missed()] == ["Route: Default -> Low"]


def test_report_lists_what_no_scenario_exercised() -> None:
    found = run_all([{"severity": 8}])
    text = coverage.render(found)
    assert text.splitlines()[0] == ("coverage of m (1 executions): states 6/9 (66%), Choice branches 1/4 (25%), "
                                   "Catch paths 0/2 (0%)")
    assert "    Recover" in text and "    Mid" in text and "    Low" in text
    assert "    Route: $.severity >= 4 -> Mid" in text
    assert "    Route: $.status == \"Failed\" -> Mid" in text
    assert "    Work: Catch [States.ALL] -> Recover" in text
    assert coverage.as_json(found)["summary"]["branch"] == {"exercised": 1, "total": 4}


def test_jsonata_branches_sharing_a_target_are_told_apart_with_variables() -> None:
    definition: dict[str, Any] = {
        "QueryLanguage": "JSONata",
        "StartAt": "Note",
        "States": {
            "Note": {"Type": "Pass", "Assign": {"limit": "{% $states.input.limit %}"}, "Next": "Route"},
            "Route": {
                "Type": "Choice",
                "Choices": [
                    {"Condition": "{% $states.input.severity >= $limit %}", "Next": "Act"},
                    {"Condition": "{% $states.input.forced = true %}", "Next": "Act"},
                ],
                "Default": "Skip",
            },
            "Act": {"Type": "Succeed"},
            "Skip": {"Type": "Succeed"},
        },
    }
    engine = Engine()
    arn = engine.create_state_machine(name="j", definition=json.dumps(definition))["stateMachineArn"]
    found = coverage.coverage_for("j", definition)
    for payload in ({"severity": 7, "limit": 5, "forced": True}, {"severity": 2, "limit": 5, "forced": True},
                    {"severity": 2, "limit": 5, "forced": False}):
        started = engine.start_execution(stateMachineArn=arn, input=json.dumps(payload))
        coverage.record(found, definition, engine.get_execution_history(executionArn=started["executionArn"])["events"])
    assert {i.key: i.hits for i in found.of("branch")} == {"Choices[0]": 1, "Choices[1]": 1, "Default": 1}
