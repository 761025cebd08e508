"""The conformance instruments themselves: normalisation, Lambda behaviours, comparison, guard.

Normalisation is checked on the recorded data (normalising a recording changes nothing) and on
small raw histories in the shape `get_execution_history` returns them.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from .cases import Case, data_dir, lambda_handler, load_cases, missing_data_reason
from .normalise import (
    Names,
    first_difference,
    mask_fixed_values,
    mask_parallel,
    normalise_history,
    renumber_references,
    snapshot_form,
)
from .runner import CaseTimeout, _canonical_events, type_sequence, wall_clock_guard

NAMES = Names(
    state_machine_name="sm-1",
    execution_name="exec-1",
    role_arn="arn:aws:iam::123456789012:role/test-role",
    account_id="123456789012",
    region="eu-west-2",
)
WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SPEC: dict[str, Any] = {
    "replace": [
        {"var": "roleArn", "token": "snf_role_arn"},
        {"var": "stateMachineName", "token": "<ArnPart_0idx>"},
        {"var": "executionName", "token": "<ExecArnPart_0idx>"},
    ]
}


def event(event_id: int, kind: str, previous: int = 0, **details: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"timestamp": WHEN, "type": kind, "id": event_id, "previousEventId": previous}
    out.update(details)
    return out


def _deep_parse(value: Any) -> Any:
    """Parse JSON-object text at every depth (recordings parse one level only)."""
    if isinstance(value, str) and value.startswith("{"):
        try:
            return _deep_parse(json.loads(value))
        except json.JSONDecodeError:
            return value
    if isinstance(value, dict):
        return {k: _deep_parse(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_parse(v) for v in value]
    return value


# --- on the recorded data -----------------------------------------------------------------


def _recorded_histories() -> list[Case]:
    if missing_data_reason():
        return []
    return [c for c in load_cases() if not c.skip and c.has_history]


@pytest.mark.skipif(missing_data_reason() is not None, reason=str(missing_data_reason()))
def test_normalising_a_recording_changes_nothing() -> None:
    """Every recorded history is a fixpoint of the normalisation (up to how deep JSON text is
    parsed and how reference placeholders are numbered)."""
    cases = _recorded_histories()
    assert len(cases) > 400
    names = Names("not-in-data", "not-in-data-either", "arn:aws:iam::111111111111:role/not-in-data")
    for case in cases:
        recorded = case.expected["history"]
        again = normalise_history(recorded, case.normalise, names, output=case.expected.get("output"))
        want = renumber_references(_deep_parse(_canonical_events(mask_fixed_values(json.loads(json.dumps(recorded))))))
        got = renumber_references(_deep_parse(_canonical_events(again)))
        assert first_difference(want, got) is None, case.id


@pytest.mark.skipif(missing_data_reason() is not None, reason=str(missing_data_reason()))
def test_every_case_is_loaded_and_runnable_ones_are_complete() -> None:
    cases = load_cases()
    index = json.loads((data_dir() / "index.json").read_text())
    assert len(cases) == sum(c["total"] for c in index["categories"].values())
    runnable = [c for c in cases if not c.skip]
    assert len(runnable) == sum(c["runnable"] for c in index["categories"].values())
    for case in runnable:
        assert case.definition is not None and case.expected["status"], case.id
        assert "stateMachineName" in case.normalise, case.id


# --- snapshot form and the structural steps ---------------------------------------------------


def test_snapshot_form_parses_object_text_inside_objects_one_level_only() -> None:
    raw: dict[str, Any] = {
        "input": '{"a": 1, "inner": "{\\"b\\": 2}"}',
        "output": "[1, 2]",
        "note": "{not json",
        "items": ['{"x": 1}', {"cause": '{"y": 2}'}],
        "when": WHEN,
    }
    assert snapshot_form(raw) == {
        "input": {"a": 1, "inner": '{"b": 2}'},  # the parsed value is not searched again
        "output": "[1, 2]",  # only object text is parsed
        "note": "{not json",
        "items": ['{"x": 1}', {"cause": {"y": 2}}],  # list items that are strings stay text
        "when": WHEN,
    }
    assert raw["input"].startswith("{")  # the input is not modified


def test_raw_history_becomes_snapshot_form_with_tokens() -> None:
    sm_arn = "arn:aws:states:eu-west-2:123456789012:stateMachine:sm-1"
    events = [
        event(1, "ExecutionStarted", executionStartedEventDetails={
            "input": '{"StartTime":"2024-05-01T12:00:00Z","arn":"' + sm_arn + '"}',
            "inputDetails": {"truncated": False}, "roleArn": NAMES.role_arn}),
        event(2, "PassStateEntered", stateEnteredEventDetails={"name": "P", "input": '"exec-1"'}),
        event(3, "ExecutionSucceeded", 2, executionSucceededEventDetails={
            "output": '{"requestId":"0f2b3c4d-1111-4222-8333-944445555666","again":"0f2b3c4d-1111-4222-8333-944445555666",'
                      '"Timestamp":"not a date","ts2":"2016-13-05T21:29:29Z"}'}),
    ]
    out = normalise_history(events, SPEC, NAMES)
    assert out[0] == {
        "executionStartedEventDetails": {
            "input": {"StartTime": "date", "arn": "arn:<partition>:states:<region>:111111111111:stateMachine:<ArnPart_0idx>"},
            "inputDetails": {"truncated": False},
            "roleArn": "snf_role_arn",
        },
        "id": 1,
        "previousEventId": 0,
        "timestamp": "timestamp",
        "type": "ExecutionStarted",
    }
    assert list(out[0]) == sorted(out[0])
    assert out[1]["stateEnteredEventDetails"]["input"] == '"<ExecArnPart_0idx>"'
    assert out[2]["executionSucceededEventDetails"]["output"] == {
        "requestId": "<uuid:1>", "again": "<uuid:1>", "Timestamp": "timestamp", "ts2": "2016-13-05T21:29:29Z",
    }


def test_zoned_iso_values_under_timestamp_keys_read_date_and_malformed_ones_timestamp() -> None:
    events = [event(1, "PassStateExited", stateExitedEventDetails={
        "output": '{"TimestampValue":"2016-03-05T21:29:29.243167252Z","Bad":{"TimestampValue":"2016-12-05T21:29:29"}}'})]
    out = normalise_history(events, {}, NAMES)[0]["stateExitedEventDetails"]["output"]
    assert out == {"TimestampValue": "date", "Bad": {"TimestampValue": "timestamp"}}


def test_test_specific_replacements_apply_in_order_before_global_dates() -> None:
    spec = {"replace": [
        {"literal": "2026-11-29T03:49:23Z", "token": "<timestamp>"},
        {"literal": "fn-1", "token": "<lambda-function-name>"},
        {"regex": "Request ID: [a-zA-Z0-9-]+", "token": "Request ID: <request_id>"},
        {"jsonpath": "$..EnteredTime", "token": "entered-time", "referenceReplacement": False},
        {"key": "Secret", "token": "secret", "referenceReplacement": True},
        {"fromOutputJsonpath": "$.Made", "token": "generated"},
    ]}
    output = '{"at":"2026-11-29T03:49:23Z","fn":"arn:aws:lambda:eu-west-2:123456789012:function:fn-1",' \
             '"msg":"failed (Request ID: abc-123)","EnteredTime":"2024-01-01T00:00:00Z","Secret":"s3cr3t",' \
             '"echo":"s3cr3t","Made":"x-42","copy":"x-42"}'
    events = [event(1, "ExecutionSucceeded", executionSucceededEventDetails={"output": output})]
    out = normalise_history(events, spec, NAMES, output=json.loads(output))
    assert out[0]["executionSucceededEventDetails"]["output"] == {
        "at": "<timestamp>",
        "fn": "arn:<partition>:lambda:<region>:111111111111:function:<lambda-function-name>",
        "msg": "failed (Request ID: <request_id>)",
        "EnteredTime": "entered-time",
        "Secret": "<secret:1>",
        "echo": "<secret:1>",
        "Made": "generated",
        "copy": "generated",
    }


def test_response_metadata_and_json_input_causes_get_fixed_tokens() -> None:
    task_result = {
        "Payload": {}, "SdkHttpMetadata": {"AllHttpHeaders": {"Date": ["Wed, 01 May 2024 12:00:00 GMT"],
                                                               "x-amzn-RequestId": ["5e0c1f5e-0000-4000-8000-000000000001"]},
                                            "HttpHeaders": {"X-Amzn-Trace-Id": "Root=1-abc"}},
        "SdkResponseMetadata": {"RequestId": "5e0c1f5e-0000-4000-8000-000000000001"},
    }
    cause = "An error occurred. The JSONPath '$.x' could not be found in the input '{\"int-literal\":0}'"
    events = [
        event(1, "TaskSucceeded", taskSucceededEventDetails={"output": json.dumps(task_result)}),
        event(2, "ExecutionFailed", 1, executionFailedEventDetails={"error": "States.Runtime", "cause": cause}),
    ]
    out = normalise_history(events, {}, NAMES)
    metadata = out[0]["taskSucceededEventDetails"]["output"]
    assert metadata["SdkHttpMetadata"] == {"AllHttpHeaders": {"Date": "date", "x-amzn-RequestId": "x-amzn-RequestId"},
                                           "HttpHeaders": {"X-Amzn-Trace-Id": "X-Amzn-Trace-Id"}}
    assert metadata["SdkResponseMetadata"] == {"RequestId": "RequestId"}
    assert out[1]["executionFailedEventDetails"]["cause"].endswith("in the input '<json-input:1>'")


def test_parallel_masking_matches_the_recordings_algorithm() -> None:
    events = [
        event(1, "ParallelStateEntered"), event(2, "ParallelStateStarted", 1),
        event(3, "PassStateEntered", 2, name="b"), event(4, "PassStateEntered", 2, name="a"),
        event(5, "ParallelStateSucceeded", 4), event(6, "ParallelStateExited", 5),
        event(7, "PassStateEntered", 6, name="after"), event(8, "ExecutionSucceeded", 7),
    ]
    out = mask_parallel(events)
    assert [e["type"] for e in out] == [
        "ParallelStateEntered", "ParallelStateStarted", "PassStateEntered", "PassStateEntered",
        "ParallelStateExited", "PassStateEntered", "ExecutionSucceeded",
    ]  # the Succeeded event drops out, as in the recordings
    assert [e["id"] for e in out[2:4]] == [[0], [0]] and {e["previousEventId"] for e in out[2:4]} == {0}
    assert out[5]["id"] == 7
    assert type_sequence(out)[2] == ["PassStateEntered", "PassStateEntered"]


def test_map_run_arn_parts_become_indexed_tokens() -> None:
    arn = "arn:aws:states:eu-west-2:123456789012:mapRun:sm-1/8d7a3c1e-1111-4222-8333-944445555666:4f1c1f5e-0000-4000-8000-000000000002"
    labelled = "arn:aws:states:eu-west-2:123456789012:mapRun:sm-1/MyLabel:5a1c1f5e-0000-4000-8000-000000000003"
    events = [event(1, "MapRunStarted", mapRunStartedEventDetails={"mapRunArn": arn}),
              event(2, "MapRunStarted", 1, mapRunStartedEventDetails={"mapRunArn": labelled})]
    out = normalise_history(events, {**SPEC, "mapRunArns": True}, NAMES)
    prefix = "arn:<partition>:states:<region>:111111111111:mapRun:<ArnPart_0idx>/"
    assert out[0]["mapRunStartedEventDetails"]["mapRunArn"] == prefix + "<MapRunArnPart0_0idx>:<MapRunArnPart1_0idx>"
    assert out[1]["mapRunStartedEventDetails"]["mapRunArn"] == prefix + "MyLabel:<MapRunArnPart1_1idx>"


def test_output_fields_parsed_once_per_object() -> None:
    events = [event(1, "MapStateExited", stateExitedEventDetails={"name": "M", "output": '[{"a":1}]'})]
    assert normalise_history(events, {}, NAMES)[0]["stateExitedEventDetails"]["output"] == '[{"a":1}]'
    parsed = normalise_history(events, {"outputFieldsParsed": True}, NAMES)
    assert parsed[0]["stateExitedEventDetails"]["output"] == [{"a": 1}]


# --- comparison helpers -----------------------------------------------------------------------


def test_reference_placeholders_compare_up_to_renumbering() -> None:
    assert renumber_references({"a": "<uuid:3>", "b": "<uuid:1>", "c": "<uuid:3>"}) == {
        "a": "<uuid:1>", "b": "<uuid:2>", "c": "<uuid:1>"}
    assert first_difference({"x": 1}, {"x": 1.0}) is not None  # JSON 1 and 1.0 are different texts
    assert first_difference([1, {"k": "v"}], [1, {"k": "w"}]) == '$[1].k: expected "v" != actual "w"'


# --- Lambda behaviours --------------------------------------------------------------------------


class Context:
    def __init__(self) -> None:
        self.simulated = 0.0

    def simulate_duration(self, seconds: float) -> None:
        self.simulated += seconds


def test_lambda_behaviours() -> None:
    engine = pytest.importorskip("irflow.engine")
    ctx = Context()
    assert lambda_handler({"returnsInput": True})({"a": 1}, ctx) == {"a": 1}
    assert lambda_handler({"returns": [1, 2]})({}, ctx) == [1, 2]
    raw = lambda_handler({"returnsRaw": {"repeat": "a", "times": 263168}})({}, ctx)
    assert isinstance(raw, engine.RawPayload) and raw.data == b"a" * 263168
    assert lambda_handler({"returnsRaw": '"HelloWorld!"'})({}, ctx).data == b'"HelloWorld!"'
    with pytest.raises(engine.LambdaFunctionError) as raised:
        lambda_handler({"raises": {"errorType": "CustomException", "errorMessage": "", "stackTrace": ["x"]}})({}, ctx)
    assert (raised.value.error_type, raised.value.error_message, raised.value.stack_trace) == ("CustomException", "", ["x"])
    lambda_handler({"returnsInput": True, "delaySeconds": 60})({}, ctx)
    assert ctx.simulated == 60


def test_wall_clock_guard_stops_a_hang_even_if_the_first_alarm_is_swallowed() -> None:
    began = time.perf_counter()
    swallowed = 0
    with pytest.raises(CaseTimeout), wall_clock_guard(0.2):
        while True:
            try:
                time.sleep(0.01)
            except CaseTimeout:
                swallowed += 1
                if swallowed > 1:
                    raise
    assert swallowed == 2 and time.perf_counter() - began < 2
