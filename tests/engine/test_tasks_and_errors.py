"""Task resources, Retry/Catch, timeouts, callbacks and the limits, through the public API."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from irflow.engine import Engine, LambdaFunctionError, RawPayload
from irflow.engine.errors import DefinitionError, ExecutionAlreadyExists, InvalidExecutionInput, InvalidToken

from .helpers import chain, event_types, events, output, run

FN = "arn:aws:lambda:us-east-1:111111111111:function:"


def engine_with(**handlers: Any) -> Engine:
    engine = Engine()
    for name, handler in handlers.items():
        engine.register_lambda(name, handler)
    return engine


def test_lambda_bare_arn_and_invoke_integration() -> None:
    engine = engine_with(double=lambda event, ctx: {"n": event["n"] * 2})
    definition = chain(
        ("Bare", {"Type": "Task", "Resource": FN + "double"}),
        ("Opt", {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                 "Parameters": {"FunctionName": "double", "Payload.$": "$"}, "OutputPath": "$.Payload"}),
    )
    _, desc = run(definition, {"n": 3}, engine)
    assert output(desc) == {"n": 12}
    assert event_types(engine, desc) == [
        "ExecutionStarted", "TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted",
        "LambdaFunctionSucceeded", "TaskStateExited", "TaskStateEntered", "TaskScheduled", "TaskStarted",
        "TaskSucceeded", "TaskStateExited", "ExecutionSucceeded"]


def test_handler_exception_becomes_the_error_type() -> None:
    class Quarantined(Exception):
        pass

    def handler(event: Any, ctx: Any) -> Any:
        raise Quarantined("instance is quarantined")

    engine = engine_with(h=handler)
    _, desc = run(chain(("T", {"Type": "Task", "Resource": FN + "h"})), {}, engine)
    assert desc["error"] == "Quarantined"
    cause = json.loads(desc["cause"])
    assert cause["errorMessage"] == "instance is quarantined" and cause["errorType"] == "Quarantined"


def test_unknown_function_is_resource_not_found() -> None:
    _, desc = run(chain(("T", {"Type": "Task", "Resource": FN + "missing"})), {})
    assert desc["error"] == "Lambda.ResourceNotFoundException"
    assert "Function not found" in desc["cause"]


def test_unserialisable_result_fails_the_task_not_the_engine() -> None:
    engine = engine_with(h=lambda e, c: {"when": object()})
    _, desc = run(chain(("T", {"Type": "Task", "Resource": FN + "h"})), {}, engine)
    assert desc["status"] == "FAILED" and desc["error"] == "Runtime.MarshalError"


def test_retry_backoff_advances_virtual_time_then_catch() -> None:
    calls: list[float] = []

    def flaky(event: Any, ctx: Any) -> Any:
        calls.append(engine.clock.seconds())
        raise LambdaFunctionError("Throttling", "slow down")

    engine = engine_with(flaky=flaky)
    definition = {"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": FN + "flaky",
              "Retry": [{"ErrorEquals": ["Throttling"], "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 3}],
              "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Recorded"}], "End": True},
        "Recorded": {"Type": "Pass", "End": True}}}
    _, desc = run(definition, {"id": 1}, engine)
    assert [round(b - a) for a, b in zip(calls, calls[1:], strict=False)] == [2, 6, 18]
    result = output(desc)
    assert result["id"] == 1 and result["error"]["Error"] == "Throttling"


def test_states_all_does_not_catch_runtime_errors() -> None:
    definition = {"StartAt": "T", "States": {
        "T": {"Type": "Pass", "OutputPath": "$.missing", "Next": "Never"},
        "Never": {"Type": "Pass", "End": True}}}
    _, desc = run(definition, {})
    assert desc["error"] == "States.Runtime"


def test_task_timeout_with_simulated_duration() -> None:
    def slow(event: Any, ctx: Any) -> Any:
        ctx.simulate_duration(30)
        return "late"

    engine = engine_with(slow=slow)
    definition = chain(("T", {"Type": "Task", "Resource": FN + "slow", "TimeoutSeconds": 5}))
    _, desc = run(definition, {}, engine)
    assert desc["error"] == "States.Timeout"
    assert "LambdaFunctionTimedOut" in event_types(engine, desc)
    assert (desc["stopDate"] - desc["startDate"]).total_seconds() == pytest.approx(5)


def callback_machine(timeout: int | None = None, heartbeat: int | None = None) -> dict[str, Any]:
    task: dict[str, Any] = {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": "ask", "Payload": {"token.$": "$$.Task.Token"}}}
    if timeout:
        task["TimeoutSeconds"] = timeout
    if heartbeat:
        task["HeartbeatSeconds"] = heartbeat
    return chain(("Ask", task))


def test_wait_for_task_token_success_and_replay_refused() -> None:
    tokens: list[str] = []
    engine = engine_with(ask=lambda e, c: tokens.append(e["token"]))
    _, desc = run(callback_machine(timeout=3600), {}, engine)
    assert desc["status"] == "RUNNING" and len(tokens) == 1
    engine.send_task_success(taskToken=tokens[0], output=json.dumps({"decision": "approve"}))
    final = engine.describe_execution(executionArn=desc["executionArn"])
    assert output(final) == {"decision": "approve"}
    with pytest.raises(InvalidToken):
        engine.send_task_success(taskToken=tokens[0], output="{}")
    assert "TaskSubmitted" in event_types(engine, final)


def test_wait_for_task_token_failure_and_timeout() -> None:
    tokens: list[str] = []
    engine = engine_with(ask=lambda e, c: tokens.append(e["token"]))
    _, desc = run(callback_machine(), {}, engine)
    engine.send_task_failure(taskToken=tokens[-1], error="irflow.Rejected", cause="no")
    failed = engine.describe_execution(executionArn=desc["executionArn"])
    assert (failed["error"], failed["cause"]) == ("irflow.Rejected", "no")

    _, desc = run(callback_machine(timeout=3600), {}, engine)
    engine.run_until_idle()  # nobody answers: idle, not timed out
    assert engine.describe_execution(executionArn=desc["executionArn"])["status"] == "RUNNING"
    engine.advance(3600)
    timed_out = engine.describe_execution(executionArn=desc["executionArn"])
    assert timed_out["error"] == "States.Timeout"
    assert "TaskTimedOut" in event_types(engine, timed_out)


def test_heartbeat_keeps_a_callback_alive() -> None:
    tokens: list[str] = []
    engine = engine_with(ask=lambda e, c: tokens.append(e["token"]))
    _, desc = run(callback_machine(timeout=1000, heartbeat=60), {}, engine)
    for _ in range(3):
        engine.advance(50)
        engine.send_task_heartbeat(taskToken=tokens[-1])
    assert engine.describe_execution(executionArn=desc["executionArn"])["status"] == "RUNNING"
    engine.advance(61)
    final = engine.describe_execution(executionArn=desc["executionArn"])
    assert final["error"] == "States.HeartbeatTimeout"


def test_stop_execution_aborts() -> None:
    engine, desc = run(chain(("W", {"Type": "Wait", "Seconds": 10})), {}, Engine(clock="virtual"))
    assert desc["status"] == "SUCCEEDED"
    tokens: list[str] = []
    engine.register_lambda("ask", lambda e, c: tokens.append(e["token"]))
    _, desc = run(callback_machine(), {}, engine)
    engine.stop_execution(executionArn=desc["executionArn"], error="irflow.Cancelled", cause="by test")
    stopped = engine.describe_execution(executionArn=desc["executionArn"])
    assert stopped["status"] == "ABORTED"
    assert event_types(engine, stopped)[-2:] == ["TaskStateAborted", "ExecutionAborted"]


def test_execution_timeout() -> None:
    definition = chain(("W", {"Type": "Wait", "Seconds": 7200}), TimeoutSeconds=60)
    engine, desc = run(definition, {})
    assert desc["status"] == "TIMED_OUT"
    assert event_types(engine, desc)[-1] == "ExecutionTimedOut"


def test_runaway_loop_hits_the_history_limit() -> None:
    definition = {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Choice", "Choices": [
            {"Variable": "$.stop", "IsPresent": True, "Next": "Done"}], "Default": "A"},
        "Done": {"Type": "Succeed"}}}
    engine, desc = run(definition, {})
    assert desc["status"] == "FAILED" and desc["error"] == "States.Runtime"
    assert len(events(engine, desc)) == 25_001


def test_payload_limit() -> None:
    engine = engine_with(big=lambda e, c: RawPayload("a" * (257 * 1024)))
    _, desc = run(chain(("T", {"Type": "Task", "Resource": FN + "big"})), {}, engine)
    assert desc["error"] == "States.DataLimitExceeded"
    _, desc = run(chain(("P", {"Type": "Pass", "Result": "x" * (260 * 1024)})), {})
    assert desc["error"] == "States.DataLimitExceeded"


def test_execution_names_follow_aws_rules() -> None:
    engine = Engine()
    arn = engine.create_state_machine(name="m", definition=json.dumps(chain(("P", {"Type": "Pass"}))))["stateMachineArn"]
    first = engine.start_execution(stateMachineArn=arn, name="finding-1", input='{"a": 1}')
    again = engine.start_execution(stateMachineArn=arn, name="finding-1", input='{"a": 1}')
    assert first["executionArn"] == again["executionArn"]
    with pytest.raises(ExecutionAlreadyExists):
        engine.start_execution(stateMachineArn=arn, name="finding-1", input='{"a": 2}')
    unnamed = engine.start_execution(stateMachineArn=arn)
    assert not unnamed["executionArn"].endswith(":None")
    with pytest.raises(InvalidExecutionInput):
        engine.start_execution(stateMachineArn=arn, input="{not json")


@pytest.mark.parametrize("definition, fragment", [
    ("{not json", "INVALID_JSON_DESCRIPTION"),
    (json.dumps({"StartAt": "A", "States": {"A": {"Type": "Teleport", "End": True}}}), "Unknown state type"),
    (json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}), "MISSING_TRANSITION_TARGET"),
    (json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True},
                                            "B": {"Type": "Pass", "End": True}}}), "is not reachable"),
    (json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A"}}}), "No terminal state"),
    (json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "InputPath": "$..[", "End": True}}}), "/States/A/InputPath"),
    (json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Bogus": 1, "End": True}}}), "Field 'Bogus'"),
    (json.dumps({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:nothing", "End": True}}}), "Resource"),
    (json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Parameters": {"x.$": "States.Nope(1)"}, "End": True}}}), "/States/A/Parameters/x.$"),
    (json.dumps({"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {"Type": "Pass", "Output": "{% $$ + %}", "End": True}}}), "JSONata"),
    (json.dumps({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemReader": {"Resource": "arn:aws:states:::s3:getObject"},
                 "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, "End": True}}}), "ItemReader"),
])
def test_invalid_definitions_are_refused_with_where_and_why(definition: str, fragment: str) -> None:
    with pytest.raises(DefinitionError) as refused:
        Engine().create_state_machine(name="bad", definition=definition)
    assert fragment in refused.value.message


@mock_aws
def test_sdk_and_optimised_integrations_call_boto3() -> None:
    boto3.client("dynamodb", region_name="us-east-1").create_table(
        TableName="incidents", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    definition = chain(
        ("Put", {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem",
                 "Parameters": {"TableName": "incidents", "Item": {"pk": {"S.$": "$.id"}}}, "ResultPath": None}),
        ("List", {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:dynamodb:scan",
                  "Parameters": {"TableName": "incidents"}, "ResultSelector": {"count.$": "$.Count"}}),
        ("Missing", {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:dynamodb:describeTable",
                     "Parameters": {"TableName": "nope"},
                     "Catch": [{"ErrorEquals": ["DynamoDb.ResourceNotFoundException"], "ResultPath": "$.err",
                                "Next": "Done"}]}),
        ("Done", {"Type": "Pass"}),
    )
    _, desc = run(definition, {"id": "inc-1"})
    result = output(desc)
    assert result["count"] == 1
    assert result["err"]["Error"] == "DynamoDb.ResourceNotFoundException"
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(TableName="incidents", Key={"pk": {"S": "inc-1"}})
    assert item["Item"]["pk"]["S"] == "inc-1"


def _fails_with(error_type: str, message: str) -> Any:
    def handler(event: Any, ctx: Any) -> Any:
        raise LambdaFunctionError(error_type, message)
    return handler


@pytest.mark.parametrize("caught_by, raised, expected", [
    ("States.ALL", "Lambda.TooManyRequestsException", True),
    ("States.TaskFailed", "Lambda.ServiceException", True),
    ("States.TaskFailed", "States.Timeout", False),
    ("Lambda.Unknown", "Lambda.ResourceNotFoundException", False),
    ("irflow.AccessDenied", "irflow.AccessDenied", True),
])
def test_error_matching_rules(caught_by: str, raised: str, expected: bool) -> None:
    from irflow.engine.errors import StatesError
    from irflow.engine.interpreter import Interpreter

    assert Interpreter.matches([caught_by], StatesError(raised)) is expected


def test_runtime_errors_are_never_caught() -> None:
    from irflow.engine.errors import StatesError
    from irflow.engine.interpreter import Interpreter

    assert not Interpreter.matches(["States.ALL"], StatesError("States.Runtime"))
    assert not Interpreter.matches(["States.Runtime"], StatesError("States.Runtime"))


def test_unserialisable_result_is_a_marshal_error_and_lambda_unknown_without_error_type() -> None:
    engine = engine_with(h=lambda e, c: {"when": object()},
                         raw=lambda e, c: RawPayload("not json at all"))
    _, desc = run(chain(("T", {"Type": "Task", "Resource": FN + "h"})), {}, engine)
    assert desc["error"] == "Runtime.MarshalError"
    _, desc = run(chain(("T", {"Type": "Task", "Resource": FN + "raw"})), {}, engine)
    assert output(desc) == "not json at all"


@pytest.mark.parametrize("definition, error", [
    (chain(("P", {"Type": "Pass", "Result": "text", "ResultPath": "$.x.y"})), "States.ResultPathMatchFailure"),
    (chain(("P", {"Type": "Pass", "Parameters": {"v.$": "States.ArrayGetItem($.a, 5)"}})), "States.IntrinsicFailure"),
    (chain(("P", {"Type": "Pass", "Parameters": {"v.$": "$.missing"}})), "States.Runtime"),
])
def test_data_flow_error_names(definition: dict[str, Any], error: str) -> None:
    _, desc = run(definition, {"a": [1, 2]} if "ArrayGetItem" in json.dumps(definition) else "text")
    assert desc["status"] == "FAILED" and desc["error"] == error, desc


def test_real_clock_runs_in_the_background() -> None:
    import time

    engine = Engine(clock="real")
    try:
        arn = engine.create_state_machine(name="w", definition=json.dumps(chain(("W", {"Type": "Wait", "Seconds": 1}))))[
            "stateMachineArn"]
        started = engine.start_execution(stateMachineArn=arn)
        assert engine.describe_execution(executionArn=started["executionArn"])["status"] == "RUNNING"
        deadline = time.monotonic() + 5
        while engine.describe_execution(executionArn=started["executionArn"])["status"] == "RUNNING":
            assert time.monotonic() < deadline, "the real-time engine never finished a 1 s wait"
            time.sleep(0.05)
        assert engine.describe_execution(executionArn=started["executionArn"])["status"] == "SUCCEEDED"
    finally:
        engine.close()


@pytest.mark.parametrize("state, fragment", [
    ({"Type": "Task", "Resource": FN + "f", "TimeoutSeconds": 0, "End": True}, "TimeoutSeconds must be positive"),
    ({"Type": "Task", "Resource": FN + "f", "TimeoutSeconds": "60", "End": True}, "TimeoutSeconds must be an integer"),
    ({"Type": "Wait", "Seconds": -5, "End": True}, "Seconds must be zero or more"),
    ({"Type": "Pass", "Comment": 7, "End": True}, "Comment must be a string"),
    ({"Type": "Task", "Resource": FN + "f", "End": True, "Catch": [
        {"ErrorEquals": ["States.ALL"], "Next": "A"}, {"ErrorEquals": ["X"], "Next": "A"}]}, "States.ALL must be in the last"),
])
def test_literal_fields_are_checked(state: dict[str, Any], fragment: str) -> None:
    definition = {"StartAt": "A", "States": {"A": state}}
    with pytest.raises(DefinitionError) as refused:
        Engine().create_state_machine(name="bad", definition=json.dumps(definition))
    assert fragment in refused.value.message


@pytest.mark.parametrize("definition, fragment", [
    ({"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
        {"And": [{"Variable": "$.a", "IsPresent": True, "Next": "D"}], "Next": "D"}]}, "D": {"Type": "Succeed"}}},
     "nested choice rule cannot have Next"),
    ({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": FN + "f", "End": True,
                                       "Retry": [{"ErrorEquals": ["X"], "Extra": 1}]}}}, "Field 'Extra'"),
    ({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": FN + "f", "End": True,
                                       "TimeoutSeconds": 10, "HeartbeatSeconds": 10}}}, "HeartbeatSeconds must be smaller"),
    ({"Version": "2.0", "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, "Version"),
])
def test_structure_aws_refuses(definition: dict[str, Any], fragment: str) -> None:
    with pytest.raises(DefinitionError) as refused:
        Engine().create_state_machine(name="bad", definition=json.dumps(definition))
    assert fragment in refused.value.message
