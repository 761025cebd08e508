"""The runtime with a small stand-in playbook: routing, redelivery, priced Lambda time, captured output."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from irflow.local.events import execution_name
from irflow.local.playbooks import Playbook, PlaybookError
from irflow.local.runtime import (
    BASE_SECONDS,
    COLD_START_SECONDS,
    EVENTBRIDGE_DELIVERY_SECONDS,
    LATENCY,
    Runtime,
)

MEMBER = "222222222222"
START = datetime(2025, 3, 14, 9, 26, 41, tzinfo=UTC)
DEFINITION = {
    "StartAt": "Parse",
    "States": {
        "Parse": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                  "Parameters": {"FunctionName": "${ParseFunctionArn}",
                                 "Payload": {"event.$": "$", "table": "${IncidentsTableName}", "limit": "${LimitValue}"}},
                  "ResultSelector": {"instance.$": "$.Payload.instance", "limit.$": "$.Payload.limit"},
                  "Next": "Tag"},
        "Tag": {"Type": "Task", "Resource": "${TagFunctionArn}", "End": True},
    },
}


@dataclass(frozen=True)
class Spec:
    name: str
    placeholder: str
    member_permissions: tuple[str, ...] = ()


def parse(event: dict[str, Any], context: Any) -> dict[str, Any]:
    print("parse-finding says hello")  # a task's stdout (Powertools logs) must not reach ours
    return {"instance": event["event"]["detail"]["resource"]["instanceDetails"]["instanceId"],
            "limit": event["limit"], "table": event["table"]}


def tag(event: dict[str, Any], context: Any) -> dict[str, Any]:
    sts = boto3.client("sts")
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{MEMBER}:role/IrflowMemberRole", RoleSessionName="irflow-t",
                            ExternalId=os.environ["IRFLOW_EXTERNAL_ID"])["Credentials"]
    ec2 = boto3.client("ec2", aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                       aws_session_token=creds["SessionToken"])
    ec2.create_tags(Resources=[event["instance"]], Tags=[{"Key": "irflow:status", "Value": "seen"}])
    return {"tagged": event["instance"]}


TASKS = {"parse": Spec("parse", "ParseFunctionArn"), "tag": Spec("tag", "TagFunctionArn", ("ec2:CreateTags",))}
HANDLERS = {"parse": parse, "tag": tag}


@pytest.fixture
def workflows(tmp_path: Path) -> Path:
    directory = tmp_path / "demo"
    directory.mkdir()
    (directory / "definition.asl.json").write_text(json.dumps(DEFINITION))
    (directory / "playbook.yaml").write_text(
        "name: demo\ndescription: stand-in\n"
        "triggers:\n  - {source: [aws.guardduty], detail: {severity: [{numeric: ['>=', 4]}]}}\n"
        "policy: {limits: {value: 7}}\nplaceholders: {limits.value: LimitValue}\n")
    return tmp_path


@pytest.fixture
def runtime(workflows: Path) -> Iterator[Runtime]:
    with Runtime(workflows_dir=workflows, tasks=TASKS, load_handler=lambda spec: HANDLERS[spec.name],
                 start_time=START) as rt:
        rt.aws.add_member(MEMBER)
        yield rt


def _instance(runtime: Runtime) -> str:
    ec2 = runtime.aws.client("ec2", MEMBER)
    return str(ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"])


def _event(instance: str, severity: float = 8, count: int = 1, event_id: str = "ev-1",
           updated: str = "2025-03-14T09:21:40.512Z") -> dict[str, Any]:
    return {"version": "0", "id": event_id, "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
            "account": MEMBER, "time": "2025-03-14T09:26:41Z", "region": "us-east-1", "resources": [],
            "detail": {"id": "7ac6f2a1b3d94e0f8c2b5d6e9a1f3c47", "accountId": MEMBER, "severity": severity,
                       "updatedAt": updated,
                       "service": {"count": count}, "resource": {"instanceDetails": {"instanceId": instance}}}}


def test_matching_event_runs_the_playbook_with_placeholders_filled(runtime: Runtime, capsys: Any) -> None:
    instance = _instance(runtime)
    (delivery,) = runtime.put_event(_event(instance))
    assert delivery.outcome == "started"
    assert delivery.execution_name == "7ac6f2a1b3d94e0f8c2b5d6e9a1f3c47-20250314T092140Z"
    described = runtime.engine.describe_execution(executionArn=delivery.execution_arn)
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"tagged": instance}
    tags = runtime.aws.client("ec2", MEMBER).describe_tags(Filters=[{"Name": "resource-id", "Values": [instance]}])
    assert {"Key": "irflow:status", "Value": "seen"} in [{"Key": t["Key"], "Value": t["Value"]} for t in tags["Tags"]]
    history = runtime.engine.get_execution_history(executionArn=delivery.execution_arn)["events"]
    scheduled = next(e for e in history if e["type"] == "TaskScheduled")["taskScheduledEventDetails"]
    parameters = json.loads(scheduled["parameters"])
    assert parameters["FunctionName"] == runtime.function_arn("parse")
    assert parameters["Payload"]["limit"] == "7"
    assert parameters["Payload"]["table"] == runtime.aws.central.incidents_table
    assert "parse-finding says hello" in runtime.logs.getvalue()
    assert "hello" not in capsys.readouterr().out


def test_delivered_event_keeps_the_findings_id_account_and_time(runtime: Runtime) -> None:
    (delivery,) = runtime.put_event(_event(_instance(runtime), event_id="3f4c9b7e"))
    delivered = json.loads(runtime.engine.describe_execution(executionArn=delivery.execution_arn)["input"])
    assert (delivered["id"], delivered["account"], delivered["time"]) == ("3f4c9b7e", MEMBER, "2025-03-14T09:26:41Z")
    assert list(delivered)[:5] == ["version", "id", "detail-type", "source", "account"]


def test_non_matching_event_starts_nothing(runtime: Runtime) -> None:
    assert runtime.put_event(_event(_instance(runtime), severity=2)) == []
    assert runtime.executions() == []


def test_redelivery_runs_once_and_an_updated_finding_is_a_new_execution(runtime: Runtime) -> None:
    instance = _instance(runtime)
    events = (_event(instance), _event(instance), _event(instance, event_id="ev-other-envelope"),
              _event(instance, count=2, event_id="ev-2", updated="2025-03-14T09:51:12.077Z"))
    outcomes = [d.outcome for event in events for d in runtime.put_event(event)]
    assert outcomes == ["started", "duplicate", "exists", "started"]
    assert [e["name"] for e in runtime.executions()] == ["7ac6f2a1b3d94e0f8c2b5d6e9a1f3c47-20250314T092140Z",
                                                         "7ac6f2a1b3d94e0f8c2b5d6e9a1f3c47-20250314T095112Z"]


def test_lambda_time_is_priced_by_the_calls_made(runtime: Runtime) -> None:
    (delivery,) = runtime.put_event(_event(_instance(runtime)))
    parse_call, tag_call = runtime.invocations
    assert parse_call.calls == [] and parse_call.cold
    assert parse_call.seconds == pytest.approx(COLD_START_SECONDS + BASE_SECONDS)
    assert [c[1] for c in tag_call.calls] == ["AssumeRole", "CreateTags"]
    assert tag_call.seconds == pytest.approx(COLD_START_SECONDS + BASE_SECONDS + LATENCY["sts"] + LATENCY["ec2"])
    history = runtime.engine.get_execution_history(executionArn=delivery.execution_arn)["events"]
    ended = next(e for e in history if e["type"] == "ExecutionSucceeded")["timestamp"]
    expected = EVENTBRIDGE_DELIVERY_SECONDS + parse_call.seconds + tag_call.seconds
    assert (ended - START).total_seconds() == pytest.approx(expected, abs=0.2)
    runtime.put_event(_event(_instance(runtime), event_id="x") | {"detail": _event("i-1")["detail"] | {"id": "other"}})
    assert not runtime.invocations[-1].cold


def test_start_a_playbook_by_hand(runtime: Runtime) -> None:
    arn = runtime.start_playbook("demo", _event(_instance(runtime)), name="manual-1")
    assert arn.endswith(":irflow-demo:manual-1")
    assert runtime.engine.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"
    with pytest.raises(PlaybookError):
        runtime.start_playbook("nope", {})


def test_execution_names_follow_the_finding() -> None:
    assert execution_name({"detail": {"id": "abc/def", "updatedAt": "2025-03-14T09:21:40.5Z"}}) == "abc-def-20250314T092140Z"
    digest = execution_name({"detail": {"severity": 5}})
    assert digest.startswith("evt-") and digest == execution_name({"detail": {"severity": 5}})
    assert digest != execution_name({"detail": {"severity": 6}})


def test_rendering_refuses_an_unfilled_placeholder_and_escapes_values(tmp_path: Path) -> None:
    playbook = Playbook("p", "", tmp_path, json.dumps({"A": "${X}", "B": "${Y}"}), [], {})
    with pytest.raises(PlaybookError, match="Y"):
        playbook.render({"X": "1"})
    assert json.loads(playbook.render({"X": 'quote " and \\', "Y": "2"})) == {"A": 'quote " and \\', "B": "2"}
