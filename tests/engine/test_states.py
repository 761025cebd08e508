"""Each state type, run through the engine's public API."""

from __future__ import annotations

import json

import pytest

from irflow.engine import Engine

from .helpers import chain, event_types, events, output, run


def test_pass_data_flow_jsonpath() -> None:
    definition = chain(("P", {
        "Type": "Pass", "InputPath": "$.in", "Parameters": {"doubled.$": "States.MathAdd($.n, $.n)", "fixed": 1},
        "ResultPath": "$.in.result", "OutputPath": "$.in",
    }))
    _, desc = run(definition, {"in": {"n": 21}})
    assert output(desc) == {"n": 21, "result": {"doubled": 42, "fixed": 1}}


def test_pass_result_and_null_paths() -> None:
    definition = chain(("P", {"Type": "Pass", "Result": {"a": 1}, "ResultPath": None}),
                       ("Q", {"Type": "Pass", "InputPath": None}))
    engine, desc = run(definition, {"keep": True})
    assert output(desc) == {}
    assert event_types(engine, desc) == [
        "ExecutionStarted", "PassStateEntered", "PassStateExited", "PassStateEntered", "PassStateExited",
        "ExecutionSucceeded"]


def test_choice_branches_default_and_no_match() -> None:
    definition = {
        "StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [
                {"And": [{"Variable": "$.n", "NumericGreaterThanEquals": 7}, {"Variable": "$.s", "StringMatches": "web-*"}],
                 "Next": "High"},
                {"Variable": "$.n", "NumericLessThan": 4, "Next": "Low"},
            ], "Default": "Mid"},
            "High": {"Type": "Pass", "Result": "high", "End": True},
            "Low": {"Type": "Pass", "Result": "low", "End": True},
            "Mid": {"Type": "Pass", "Result": "mid", "End": True},
        }}
    assert output(run(definition, {"n": 8, "s": "web-1"})[1]) == "high"
    assert output(run(definition, {"n": 8, "s": "db-1"})[1]) == "mid"
    assert output(run(definition, {"n": 1, "s": "x"})[1]) == "low"
    no_default = json.loads(json.dumps(definition))
    del no_default["States"]["C"]["Default"]
    no_default["States"]["Mid"] = {"Type": "Pass", "End": True}
    no_default["States"]["C"]["Choices"].append({"Variable": "$.never", "IsPresent": True, "Next": "Mid"})
    _, desc = run(no_default, {"n": 5, "s": "x"})
    assert desc["status"] == "FAILED" and desc["error"] == "States.NoChoiceMatched"


def test_choice_type_mismatch_never_matches() -> None:
    definition = {"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.v", "NumericEquals": 1, "Next": "Yes"}], "Default": "No"},
        "Yes": {"Type": "Succeed"}, "No": {"Type": "Fail", "Error": "No"}}}
    assert run(definition, {"v": "1"})[1]["error"] == "No"
    assert run(definition, {"v": 1})[1]["status"] == "SUCCEEDED"


def test_wait_uses_the_virtual_clock() -> None:
    engine = Engine()
    before = engine.clock.now()
    _, desc = run(chain(("W", {"Type": "Wait", "Seconds": 3600})), {}, engine)
    assert desc["status"] == "SUCCEEDED"
    assert (desc["stopDate"] - desc["startDate"]).total_seconds() == pytest.approx(3600)
    assert (engine.clock.now() - before).total_seconds() == pytest.approx(3600)


def test_wait_seconds_path_rejects_negative() -> None:
    _, desc = run(chain(("W", {"Type": "Wait", "SecondsPath": "$.s"})), {"s": -1})
    assert desc["error"] == "States.Runtime"
    assert "references a negative value" in desc["cause"]
    assert desc["cause"].startswith("An error occurred while executing the state 'W' (entered at the event id #2).")


def test_fail_state_error_and_cause() -> None:
    engine, desc = run(chain(("F", {"Type": "Fail", "Error": "irflow.Boom", "Cause": "because"})))
    assert (desc["status"], desc["error"], desc["cause"]) == ("FAILED", "irflow.Boom", "because")
    assert event_types(engine, desc) == ["ExecutionStarted", "FailStateEntered", "ExecutionFailed"]


def test_succeed_output_path() -> None:
    _, desc = run(chain(("S", {"Type": "Succeed", "OutputPath": "$.x"})), {"x": [1, 2]})
    assert output(desc) == [1, 2]


def test_parallel_collects_branch_outputs_in_order() -> None:
    branch = lambda v: {"StartAt": "B", "States": {"B": {"Type": "Pass", "Result": v, "End": True}}}  # noqa: E731
    engine, desc = run(chain(("Par", {"Type": "Parallel", "Branches": [branch(1), branch(2), branch(3)]})))
    assert output(desc) == [1, 2, 3]
    types = event_types(engine, desc)
    assert types[:3] == ["ExecutionStarted", "ParallelStateEntered", "ParallelStateStarted"]
    assert types[-3:] == ["ParallelStateSucceeded", "ParallelStateExited", "ExecutionSucceeded"]


def test_parallel_branch_failure_fails_the_state_and_can_be_caught() -> None:
    definition = {"StartAt": "Par", "States": {
        "Par": {"Type": "Parallel", "Branches": [
            {"StartAt": "Slow", "States": {"Slow": {"Type": "Wait", "Seconds": 10, "End": True}}},
            {"StartAt": "Bad", "States": {"Bad": {"Type": "Fail", "Error": "Broken", "Cause": "x"}}},
        ], "Catch": [{"ErrorEquals": ["Broken"], "ResultPath": "$.err", "Next": "Handled"}], "End": True},
        "Handled": {"Type": "Pass", "End": True}}}
    engine, desc = run(definition, {"a": 1})
    assert output(desc) == {"a": 1, "err": {"Error": "Broken", "Cause": "x"}}
    types = event_types(engine, desc)
    assert "WaitStateAborted" in types and "ParallelStateFailed" in types


def test_map_item_selector_and_concurrency() -> None:
    definition = chain(("M", {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2,
        "ItemSelector": {"value.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index", "tag.$": "$.tag"},
        "ItemProcessor": {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 5, "End": True}}},
    }))
    engine = Engine()
    _, desc = run(definition, {"items": ["a", "b", "c", "d"], "tag": "t"}, engine)
    assert output(desc) == [{"value": v, "index": i, "tag": "t"} for i, v in enumerate("abcd")]
    # Two at a time, five seconds each: four items take ten simulated seconds.
    assert (desc["stopDate"] - desc["startDate"]).total_seconds() == pytest.approx(10)
    types = event_types(engine, desc)
    assert types.count("MapIterationStarted") == 4 and types.count("MapIterationSucceeded") == 4


def test_map_tolerated_failures() -> None:
    processor = {"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericEquals": 0, "Next": "Bad"}], "Default": "Ok"},
        "Bad": {"Type": "Fail", "Error": "Zero"}, "Ok": {"Type": "Pass", "End": True}}}
    tolerant = chain(("M", {"Type": "Map", "ToleratedFailureCount": 1, "ItemProcessor": processor}))
    _, desc = run(tolerant, [1, 0, 2])  # type: ignore[arg-type]
    assert output(desc) == [1, {"Error": "Zero"}, 2]
    strict = chain(("M", {"Type": "Map", "ToleratedFailureCount": 1, "ItemProcessor": processor}))
    _, desc = run(strict, [0, 0, 2])  # type: ignore[arg-type]
    assert desc["error"] == "States.ExceedToleratedFailureThreshold"
    untolerated = chain(("M", {"Type": "Map", "ItemProcessor": processor}))
    engine, desc = run(untolerated, [1, 0])  # type: ignore[arg-type]
    assert desc["error"] == "Zero"
    assert "MapStateFailed" in event_types(engine, desc)


def test_distributed_map_without_item_reader_runs_and_records_a_map_run() -> None:
    definition = chain(("M", {"Type": "Map", "ItemProcessor": {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
        "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}}))
    engine, desc = run(definition, ["x", "y"])  # type: ignore[arg-type]
    assert output(desc) == ["x", "y"]
    assert "MapRunStarted" in event_types(engine, desc)
    assert "MapIterationStarted" not in event_types(engine, desc)


def test_history_event_ids_and_details() -> None:
    engine, desc = run(chain(("P", {"Type": "Pass", "Result": {"x": 1}})), {"in": True})
    history = events(engine, desc)
    assert [e["id"] for e in history] == [1, 2, 3, 4]
    assert [e["previousEventId"] for e in history] == [0, 0, 2, 3]  # as AWS links them
    assert history[1]["stateEnteredEventDetails"]["name"] == "P"
    assert json.loads(history[2]["stateExitedEventDetails"]["output"]) == {"x": 1}
    assert json.loads(history[3]["executionSucceededEventDetails"]["output"]) == {"x": 1}
