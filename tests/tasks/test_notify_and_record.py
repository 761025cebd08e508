"""notify (SNS messages built from the incident record) and record (timeline, failures, status, Markdown report)."""

from __future__ import annotations

import hashlib
import json

from irflow.local.world import World
from tasks import notify, record
from tasks.common import approvals, incidents
from tasks.common.models import NotifyInput, RecordInput

from .conftest import CallLog, Estate, evidence_body, incident_for

LAMBDA_CAUSE = json.dumps({"errorMessage": "cannot assume arn:aws:iam::222222222222:role/IrflowMemberRole",
                           "errorType": "irflow.AccessDenied", "requestId": "r", "stackTrace": []})


def test_notify_builds_the_message_from_the_record(world: World, estate: Estate, calls: CallLog) -> None:
    incident = incident_for(estate.instance().id)
    incidents.open_incident(incident.model_dump(), {}, None)
    incidents.add_action(incident.incident_id, "isolate-network-interface", "eni-0123", "done: sg-0abc")
    incidents.add_evidence(incident.incident_id, "s3://bucket/incidents/x/report.md", "cd" * 32, "report")
    incidents.set_status(incident.incident_id, "contained")
    with calls.checking("notify"):
        result = notify.notify(NotifyInput(incident=incident, kind="contained"))
    [note] = world.drain_notifications()
    assert note["subject"] == result["subject"] == (f"[irflow] Contained: {incident.instance_id} isolated "
                                                    f"({incident.incident_id})")
    message = note["message"]
    assert "irflow isolated the instance." in message
    assert f"Incident {incident.incident_id}: status contained" in message
    assert "isolate-network-interface eni-0123: done: sg-0abc" in message
    assert "s3://bucket/incidents/x/report.md  " + "cd" * 32 in message
    assert note["attributes"]["kind"]["Value"] == "contained"
    assert note["attributes"]["incident_id"]["Value"] == incident.incident_id


def test_access_denied_notification_reads_the_lambda_cause(world: World) -> None:
    incident = incident_for("i-0123456789abcdef0")
    notify.notify(NotifyInput.model_validate({"incident": incident.model_dump(), "kind": "access-denied",
                                              "failure": {"Error": "irflow.AccessDenied", "Cause": LAMBDA_CAUSE}}))
    [note] = world.drain_notifications()
    assert note["subject"].startswith("[irflow] ACTION NEEDED: cannot act in account 222222222222")
    assert ("Error: irflow.AccessDenied: cannot assume arn:aws:iam::222222222222:role/IrflowMemberRole"
            in note["message"])
    assert "stackTrace" not in note["message"]


def test_record_keeps_failures_status_and_writes_the_report(world: World, estate: Estate, calls: CallLog) -> None:
    incident = incident_for(estate.instance().id)
    incidents.open_incident(incident.model_dump(), {}, None)
    incidents.add_action(incident.incident_id, "snapshot-volume", "vol-0123", "done: snap-0456")
    with calls.checking("record"):
        result = record.record(RecordInput.model_validate({
            "incident": incident.model_dump(), "step": "collect-volatile",
            "message": "collect-volatile ended Undeliverable; the response goes on",
            "failure": {"Error": "SSM.Undeliverable", "Cause": "SSM reported Undeliverable (Undeliverable)"},
            "status": "contained", "report": True}))
    loaded = incidents.load_incident(incident.incident_id)
    assert loaded["status"] == "contained"
    assert loaded["failures"][0]["Error"] == "SSM.Undeliverable"
    report_uri = result["report"]["uri"]
    assert report_uri.endswith(f"/incidents/{incident.incident_id}/report.md")
    body = evidence_body(world, report_uri)
    assert hashlib.sha256(body).hexdigest() == result["report"]["sha256"]
    assert {"uri": report_uri, "sha256": result["report"]["sha256"]} in loaded["evidence"]
    text = body.decode()
    assert text.startswith(f"# Incident {incident.incident_id}")
    for section in ("## Timeline", "## Actions", "## Evidence", "## Approvals", "## Failures"):
        assert section in text
    assert "| snapshot-volume | `vol-0123` | done: snap-0456 |" in text
    assert "SSM.Undeliverable: SSM reported Undeliverable" in text


def test_record_marks_a_timed_out_approval(world: World, estate: Estate) -> None:
    incident = incident_for(estate.instance().id)
    incidents.open_incident(incident.model_dump(), {}, None)
    approval_id = "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
    approvals.create(incident.incident_id, approval_id, "isolate-instance", incident.instance_id, "why", "token", 3600)
    record.record(RecordInput.model_validate({
        "incident": incident.model_dump(), "step": "request-approval", "message": "nobody decided in time",
        "status": "awaiting-human", "approval_id": approval_id, "approval_timed_out": True}))
    loaded = incidents.load_incident(incident.incident_id)
    assert loaded["status"] == "awaiting-human"
    assert loaded["approvals"] == [{"id": approval_id, "decision": "timed-out", "by": None}]


def test_a_rejected_event_is_kept_without_opening_an_incident(world: World) -> None:
    result = record.record(RecordInput.model_validate({
        "step": "parse-finding", "message": "not a finding", "event_id": "c8c4daa7-a20c",
        "failure": {"Error": "irflow.InvalidFinding", "Cause": "detail.severity: ..."}}))
    assert result == {"recorded": "rejected-event", "event_id": "c8c4daa7-a20c"}
    assert incidents.list_incidents() == []
    items = world.client("dynamodb").scan(TableName=world.central.incidents_table)["Items"]
    assert [(i["pk"]["S"], i["error"]["S"]) for i in items] == [("REJECTED#c8c4daa7-a20c", "irflow.InvalidFinding")]
