"""record: write an entry into the incident record, and the Markdown incident report when asked.

Every failure a playbook catches comes here (error and cause in the timeline), as do status
changes (`closed`, `awaiting-human`...), approval timeouts (the approval is marked `timed-out`,
once) and the final report (`incidents/<id>/report.md` in the evidence bucket, with its
SHA-256 recorded). An event that never became an incident (a malformed finding) is kept as a
rejected event with its error, and nothing else is touched.

Example event:

    {"incident": {"incident_id": "inc-d38e539f762a60f7", "finding_id": "96c7b8e1f2a34d5c9e0b1a2f3c4d5e6f",
                  "finding_type": "UnauthorizedAccess:EC2/SSHBruteForce", "severity": 8.0, "severity_band": "high",
                  "account_id": "222222222222", "region": "us-east-1", "instance_id": "i-0a1b2c3d4e5f60718"},
     "step": "collect-volatile", "message": "volatile collection failed; the response goes on",
     "failure": {"Error": "States.Timeout", "Cause": "the poll limit was reached"},
     "status": "contained", "report": true}
"""

from __future__ import annotations

from typing import Any

from tasks.common import approvals, evidence, incidents, report
from tasks.common.errors import InvalidInput
from tasks.common.handler import task_handler
from tasks.common.models import RecordInput
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="record", member_permissions=(),
    central_permissions=("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:Query",
                         "s3:PutObject"),
    destructive=False, model="tasks.common.models.RecordInput", timeout_seconds=30)


def record(data: RecordInput, ddb: Any = None, s3: Any = None) -> dict[str, Any]:
    """Apply the entry; returns the incident's status and the report's evidence entry if one was written."""
    failure = data.failure.model_dump() if data.failure else None
    if data.incident is None:
        if failure is None or not data.event_id:
            raise InvalidInput("record needs an incident, or a failure and an event_id for a rejected event")
        incidents.record_rejected_event(data.event_id, failure, ddb=ddb)
        return {"recorded": "rejected-event", "event_id": data.event_id}
    incident_id = data.incident.incident_id
    incidents.add_timeline(incident_id, data.step, data.message, failure=failure, ddb=ddb)
    if data.approval_id and data.approval_timed_out:
        approvals.record_timeout(data.approval_id, ddb=ddb)
    if data.status:
        incidents.set_status(incident_id, data.status, ddb=ddb)
    result: dict[str, Any] = {"recorded": "incident", "status": data.status}
    if data.report:
        text = report.markdown(incidents.load_incident(incident_id, ddb))
        entry = evidence.store(incident_id, ("report.md",), text.encode(), "incident-report",
                               content_type="text/markdown; charset=utf-8", s3=s3, ddb=ddb)
        result["report"] = {"uri": entry["uri"], "sha256": entry["sha256"]}
    return result


def run(data: RecordInput) -> dict[str, Any]:
    return record(data)


handler = task_handler(TASK, RecordInput, run)
