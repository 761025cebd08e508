"""request-approval: ask a person before a destructive step (called with `.waitForTaskToken`).

The playbook makes the approval id (`States.UUID()`) and passes the task token; this task
stores the pending approval (the token beside it, in the incidents table only), marks the
incident `awaiting-approval`, and notifies what will be done, to what, and why, with the
approval id and when it expires. The token never appears in the notification or the logs.
The notification carries a signed link to the approval page (`tasks/approval_api.py`) when an
approval URL is configured. The execution waits until an approver decides there or with
`irflow approve/reject APPROVAL_ID` (both through `tasks.common.approval_gate`), or until the
state's timeout.

Example event:

    {"incident": {"incident_id": "inc-d38e539f762a60f7", "finding_id": "96c7b8e1f2a34d5c9e0b1a2f3c4d5e6f",
                  "finding_type": "UnauthorizedAccess:EC2/SSHBruteForce", "severity": 8.0, "severity_band": "high",
                  "account_id": "222222222222", "region": "us-east-1", "instance_id": "i-0a1b2c3d4e5f60718"},
     "approval_id": "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "action": "remediate-instance",
     "task_token": "AQCEAAAAKgAAAAMAAAAAAAAAAexampletoken", "timeout_seconds": 3600}
"""

from __future__ import annotations

from typing import Any

from tasks.common import approval_links, approvals, incidents, notifications, report
from tasks.common.errors import InvalidInput
from tasks.common.handler import task_handler
from tasks.common.models import AWAITING_APPROVAL, Incident, RequestApprovalInput
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="request-approval", member_permissions=(),
    central_permissions=("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query", "sns:Publish",
                         "secretsmanager:GetSecretValue"), destructive=False,
    model="tasks.common.models.RequestApprovalInput", timeout_seconds=15)

WHAT = {
    "isolate-instance": ("isolate {target}: enable termination protection, take it out of its target groups and "
                         "Auto Scaling group, move its network interfaces to a security group with no rules, and "
                         "revoke its role's active sessions (reversible with `irflow release {incident}`)"),
    "remediate-instance": "stop {target} (its volumes, snapshots and collected evidence are kept)",
}
VERB = {"isolate-instance": "isolate", "remediate-instance": "stop"}


def why(incident: Incident) -> str:
    return (f"{incident.source} reported {incident.finding_type} (severity {incident.severity:g}, {incident.severity_band})"
            + (f": {incident.title}" if incident.title else ""))


def request(data: RequestApprovalInput, ddb: Any = None, sns: Any = None) -> dict[str, Any]:
    """Store the pending approval and tell people what they are asked to approve."""
    incident = data.incident
    target = incident.target
    if data.action not in WHAT and not data.what:
        raise InvalidInput(f"request-approval: say what {data.action} will do (`what`); it describes only "
                           f"{', '.join(WHAT)} itself")
    reason = data.reason or why(incident)
    what = data.what or WHAT[data.action].format(target=target, incident=incident.incident_id)
    approval = approvals.create(incident.incident_id, data.approval_id, data.action, target, reason, data.task_token,
                                data.timeout_seconds, ddb=ddb, what=what)
    incidents.set_status(incident.incident_id, AWAITING_APPROVAL, ddb=ddb)
    verb = VERB.get(data.action, data.action.replace("-", " "))
    lines = [
        f"irflow asks for approval to {what}.",
        "",
        f"What happened: {reason.rstrip('.')}.",
        f"To what: {'instance' if incident.resource_type == 'ec2-instance' else incident.resource_type} {target} "
        f"in account {incident.account_id}, {incident.region}",
        f"Approval id: {data.approval_id}",
        f"Expires: {approval['expires_at']} (if nobody decides, nothing destructive is done and the incident is "
        "escalated as awaiting-human)",
    ]
    # what irflow did so far and the evidence it holds (set_status above proved the incident exists)
    lines += ["", *report.plain_summary(incidents.load_incident(incident.incident_id, ddb))]
    notifications.publish(f"[irflow] Approval needed: {verb} {target} ({incident.incident_id})",
                          "\n".join(lines), {"incident_id": incident.incident_id, "kind": "approval-request",
                                              "severity_band": incident.severity_band}, sns=sns,
                          link=approval_links.link(data.approval_id, approval["expires_at"]),
                          next_steps=[f"from a terminal: irflow approve {data.approval_id}",
                                      f"or: irflow reject {data.approval_id} --reason \"...\""])
    incidents.add_timeline(incident.incident_id, "request-approval",
                           f"approval {data.approval_id} requested to {verb} {target}; expires "
                           f"{approval['expires_at']}", ddb=ddb)
    return {"approval_id": data.approval_id, "expires_at": approval["expires_at"]}


def run(data: RequestApprovalInput) -> dict[str, Any]:
    return request(data)


handler = task_handler(TASK, RequestApprovalInput, run)
