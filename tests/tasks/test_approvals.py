"""Approval gates end to end on irflow's engine: request-approval waits on a task token, decide resumes once."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from irflow.engine.engine import Engine
from irflow.local.world import World
from tasks import remediate_instance, request_approval
from tasks.common import approvals, incidents
from tasks.common.errors import ApprovalAlreadyDecided, ApprovalExpired, ApprovalNotFound
from tasks.common.models import Decision, IncidentRef

from .conftest import CallLog, Estate, ManualClock, incident_for

FUNCTION = "arn:aws:lambda:us-east-1:111111111111:function:irflow-request-approval"
APPROVAL_ID = "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"


def machine(incident: IncidentRef) -> str:
    return json.dumps({"StartAt": "Ask", "States": {"Ask": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": FUNCTION, "Payload": {
            "incident": incident.model_dump(), "approval_id.$": "$.approval_id", "action": "remediate-instance",
            "task_token.$": "$$.Task.Token", "timeout_seconds": 3600}},
        "TimeoutSeconds": 3600, "End": True}}})


@pytest.fixture
def engine() -> Iterator[Engine]:
    e = Engine(clock="virtual")
    e.register_lambda(FUNCTION, request_approval.handler, timeout_seconds=15)
    yield e
    e.close()


def ask(world: World, engine: Engine, incident: IncidentRef, calls: CallLog | None = None) -> str:
    incidents.open_incident(incident.model_dump(), {}, None)
    arn = engine.create_state_machine(name="ask", definition=machine(incident),
                                      roleArn="arn:aws:iam::111111111111:role/x")["stateMachineArn"]
    with calls.checking("request-approval") if calls else contextlib.nullcontext():
        execution: str = engine.start_execution(stateMachineArn=arn, input=json.dumps({"approval_id": APPROVAL_ID}))[
            "executionArn"]
        engine.run_until_idle()
    assert engine.describe_execution(executionArn=execution)["status"] == "RUNNING"
    return execution


def stored_token(world: World) -> str:
    item = world.client("dynamodb").get_item(TableName=world.central.incidents_table,
                                             Key={"pk": {"S": f"APPROVAL#{APPROVAL_ID}"}, "sk": {"S": "META"}})
    token: str = item["Item"].get("task_token", {}).get("S", "")
    return token


def test_a_pending_approval_is_listed_and_notified_without_its_token(world: World, engine: Engine,
                                                                    estate: Estate, calls: CallLog) -> None:
    incident = incident_for(estate.instance().id)
    ask(world, engine, incident, calls)
    token = stored_token(world)
    assert token
    pending = incidents.list_pending_approvals()
    assert pending == [{"approval_id": APPROVAL_ID, "incident_id": incident.incident_id, "action": "remediate-instance",
                        "target": incident.instance_id, "requested_at": "2025-03-14T09:30:00.000Z",
                        "expires_at": "2025-03-14T10:30:00.000Z"}]
    [note] = world.drain_notifications()
    assert note["subject"] == f"[irflow] Approval needed: stop {incident.instance_id} ({incident.incident_id})"
    # What will be done, to what, and why, with the approval id.
    assert f"approval to stop {incident.instance_id}" in note["message"] and APPROVAL_ID in note["message"]
    assert "GuardDuty reported UnauthorizedAccess:EC2/SSHBruteForce (severity 8" in note["message"]
    assert token not in note["message"] and token not in json.dumps(incidents.load_incident(incident.incident_id))
    assert incidents.load_incident(incident.incident_id)["status"] == "awaiting-approval"


def test_approve_resumes_once_and_a_replay_changes_nothing(world: World, engine: Engine, estate: Estate) -> None:
    incident = incident_for(estate.instance().id)
    execution = ask(world, engine, incident)
    decided = approvals.decide(APPROVAL_ID, "approve", "alice@example.com", sfn_client=engine, reason="confirmed")
    assert decided["status"] == "approved" and decided["decided_by"] == "alice@example.com"
    assert "task_token" not in decided
    described = engine.describe_execution(executionArn=execution)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"approval_id": APPROVAL_ID, "decision": "approved",
                                               "by": "alice@example.com", "at": "2025-03-14T09:30:00.000Z"}
    assert stored_token(world) == ""  # used, then removed

    events = len(engine.get_execution_history(executionArn=execution)["events"])
    record = incidents.load_incident(incident.incident_id)
    for decision in ("approve", "reject"):
        with pytest.raises(ApprovalAlreadyDecided, match="already approved .by alice@example.com"):
            approvals.decide(APPROVAL_ID, decision, "mallory", sfn_client=engine)
    assert len(engine.get_execution_history(executionArn=execution)["events"]) == events
    assert incidents.load_incident(incident.incident_id) == record
    assert record["approvals"] == [{"id": APPROVAL_ID, "decision": "approved", "by": "alice@example.com"}]
    assert incidents.list_pending_approvals() == []


def test_reject_fails_the_task_with_irflow_approval_rejected(world: World, engine: Engine, estate: Estate) -> None:
    incident = incident_for(estate.instance().id)
    execution = ask(world, engine, incident)
    approvals.decide(APPROVAL_ID, "reject", "bob", sfn_client=engine, reason="false positive: pentest")
    described = engine.describe_execution(executionArn=execution)
    assert described["status"] == "FAILED" and described["error"] == "irflow.ApprovalRejected"
    assert json.loads(described["cause"])["reason"] == "false positive: pentest"
    assert incidents.load_incident(incident.incident_id)["approvals"] == [
        {"id": APPROVAL_ID, "decision": "rejected", "by": "bob"}]


def test_a_late_decision_is_refused_and_the_timeout_is_recorded_once(world: World, engine: Engine, estate: Estate,
                                                                     clock: ManualClock) -> None:
    incident = incident_for(estate.instance().id)
    execution = ask(world, engine, incident)
    engine.advance(3601)
    clock.tick(3601)
    assert engine.describe_execution(executionArn=execution)["error"] == "States.Timeout"
    with pytest.raises(ApprovalExpired):
        approvals.decide(APPROVAL_ID, "approve", "alice", sfn_client=engine)
    assert approvals.record_timeout(APPROVAL_ID)["status"] == "timed-out"
    assert approvals.record_timeout(APPROVAL_ID)["status"] == "timed-out"  # idempotent
    with pytest.raises(ApprovalAlreadyDecided, match="already timed-out"):
        approvals.decide(APPROVAL_ID, "approve", "alice", sfn_client=engine)
    assert incidents.load_incident(incident.incident_id)["approvals"] == [
        {"id": APPROVAL_ID, "decision": "timed-out", "by": None}]


def test_a_decision_after_the_execution_stopped_waiting_resumes_nothing(world: World, engine: Engine,
                                                                       estate: Estate) -> None:
    incident = incident_for(estate.instance().id)
    execution = ask(world, engine, incident)
    engine.stop_execution(executionArn=execution)
    with pytest.raises(ApprovalExpired, match="no longer waits"):
        approvals.decide(APPROVAL_ID, "approve", "alice", sfn_client=engine)
    assert "came after the playbook stopped waiting" in incidents.load_incident(incident.incident_id)["timeline"][-1][
        "message"]


def test_unknown_approvals_and_bad_decisions(world: World, engine: Engine) -> None:
    with pytest.raises(ApprovalNotFound):
        approvals.decide("11111111-2222-4333-8444-555555555555", "approve", "alice", sfn_client=engine)
    with pytest.raises(ValueError):
        approvals.decide(APPROVAL_ID, "maybe", "alice", sfn_client=engine)
    with pytest.raises(ValueError):
        approvals.decide(APPROVAL_ID, "approve", " ", sfn_client=engine)


def test_remediation_stops_the_instance_with_the_approval_on_record(world: World, estate: Estate,
                                                                   calls: CallLog) -> None:
    web = estate.instance()
    incident = incident_for(web.id)
    incidents.open_incident(incident.model_dump(), {}, None)
    approval = Decision(approval_id=APPROVAL_ID, decision="approved", by="alice@example.com")
    with calls.checking("remediate-instance"):
        result: dict[str, Any] = remediate_instance.remediate(incident, approval)
    assert result["previous_state"] == "running"
    assert estate.described(web.id)["State"]["Name"] in ("stopping", "stopped")
    assert estate.tags(web.id)["irflow:status"] == "stopped"
    again = remediate_instance.remediate(incident, approval)
    assert again["action"]["result"].startswith("unchanged")
    record = incidents.load_incident(incident.incident_id)
    assert record["status"] == "remediated"
    assert record["actions"] == [{"name": "stop-instance", "target": web.id,
                                  "result": "done: approved by alice@example.com"}]
