"""JSONata states, Assign variables in both query languages, and how AWS scopes them."""

from __future__ import annotations

from typing import Any

from irflow.engine import Engine

from .helpers import chain, events, output, run


def test_jsonata_arguments_output_and_condition() -> None:
    engine = Engine()
    engine.register_lambda("score", lambda event, ctx: {"score": event["severity"] * 10})
    definition = {"QueryLanguage": "JSONata", "StartAt": "Score", "States": {
        "Score": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                  "Arguments": {"FunctionName": "score", "Payload": {"severity": "{% $states.input.detail.severity %}"}},
                  "Output": "{% $states.result.Payload %}", "Next": "Route"},
        "Route": {"Type": "Choice", "Choices": [{"Condition": "{% $states.input.score >= 70 %}", "Next": "High"}],
                  "Default": "Low"},
        "High": {"Type": "Pass", "Output": {"band": "high", "score": "{% $states.input.score %}"}, "End": True},
        "Low": {"Type": "Pass", "Output": {"band": "low"}, "End": True}}}
    assert output(run(definition, {"detail": {"severity": 8}}, engine)[1]) == {"band": "high", "score": 80}
    assert output(run(definition, {"detail": {"severity": 2}}, engine)[1]) == {"band": "low"}


def test_jsonata_map_items_and_step_functions_functions() -> None:
    definition = {"QueryLanguage": "JSONata", "StartAt": "M", "States": {"M": {
        "Type": "Map", "Items": "{% $range(1, 3, 1) %}",
        "ItemSelector": {"n": "{% $states.context.Map.Item.Value %}"},
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass",
                                                            "Output": "{% $states.input.n * 2 %}", "End": True}}},
        "Output": {"doubled": "{% $states.result %}", "parts": "{% $partition([1,2,3,4], 2) %}"},
        "End": True}}}
    assert output(run(definition, {})[1]) == {"doubled": [2, 4, 6], "parts": [[1, 2], [3, 4]]}


def test_jsonata_evaluation_error_is_reported() -> None:
    definition = {"QueryLanguage": "JSONata", "StartAt": "P", "States": {
        "P": {"Type": "Pass", "Output": {"x": "{% $number('abc') + {} %}"}, "End": True}}}
    engine, desc = run(definition, {})
    assert desc["status"] == "FAILED" and desc["error"] == "States.QueryEvaluationError"
    assert desc["cause"].startswith("An error occurred while executing the state 'P'")


def test_assign_jsonpath_then_read_in_jsonata() -> None:
    definition = {"StartAt": "Keep", "States": {
        "Keep": {"Type": "Pass", "Result": {"id": "inc-1"}, "Assign": {"incident.$": "$.id", "count": 1},
                 "Next": "Use"},
        "Use": {"Type": "Pass", "QueryLanguage": "JSONata",
                "Output": {"incident": "{% $incident %}", "next": "{% $count + 1 %}"}, "End": True}}}
    engine, desc = run(definition, {})
    assert output(desc) == {"incident": "inc-1", "next": 2}
    exited = [e for e in events(engine, desc) if e["type"] == "PassStateExited"][0]
    assert exited["stateExitedEventDetails"]["assignedVariables"] == {"incident": '"inc-1"', "count": "1"}


def test_assign_sees_old_values_and_output_too() -> None:
    definition = {"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"x": 1}, "Next": "B"},
        "B": {"Type": "Pass", "Assign": {"x": "{% $x + 1 %}", "seen": "{% $x %}"},
              "Output": {"x": "{% $x %}"}, "Next": "C"},
        "C": {"Type": "Pass", "Output": {"x": "{% $x %}", "seen": "{% $seen %}"}, "End": True}}}
    _, desc = run(definition, {})
    assert output(desc) == {"x": 2, "seen": 1}


def test_variables_in_branches_are_local_to_the_branch() -> None:
    definition = {"QueryLanguage": "JSONata", "StartAt": "Init", "States": {
        "Init": {"Type": "Pass", "Assign": {"outer": "o"}, "Next": "Par"},
        "Par": {"Type": "Parallel", "Branches": [
            {"StartAt": "In", "States": {"In": {"Type": "Pass", "Assign": {"inner": "{% $outer & '-b' %}"},
                                                "Next": "Out"},
                                         "Out": {"Type": "Pass", "Output": "{% $inner %}", "End": True}}}],
                "Next": "After"},
        "After": {"Type": "Pass", "Output": {"branches": "{% $states.input %}",
                                             "innerVisible": "{% $exists($inner) %}"}, "End": True}}}
    _, desc = run(definition, {})
    assert output(desc) == {"branches": ["o-b"], "innerVisible": False}


def test_catch_assign_and_output_in_jsonata() -> None:
    def fails(event: Any, ctx: Any) -> Any:
        raise ValueError("nope")

    engine = Engine()
    engine.register_lambda("fails", fails)
    definition = {"QueryLanguage": "JSONata", "StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:111111111111:function:fails",
              "Catch": [{"ErrorEquals": ["ValueError"], "Assign": {"failed": "{% $states.errorOutput.Error %}"},
                         "Output": {"recorded": true_if()}, "Next": "Report"}], "End": True},
        "Report": {"Type": "Pass", "Output": {"failed": "{% $failed %}", "in": "{% $states.input %}"}, "End": True}}}
    _, desc = run(definition, {}, engine)
    assert output(desc) == {"failed": "ValueError", "in": {"recorded": True}}


def true_if() -> str:
    return "{% true %}"


def test_jsonpath_context_object() -> None:
    definition = chain(("P", {"Type": "Pass", "Parameters": {
        "execution.$": "$$.Execution.Name", "state.$": "$$.State.Name", "machine.$": "$$.StateMachine.Name"}}))
    _, desc = run(definition, {}, name="exec-1")
    assert output(desc) == {"execution": "exec-1", "state": "P", "machine": "m0"}
