"""notify: tell the security team (SNS) what happened, what irflow did, and what it needs from them.

The message is built from the incident record (actions, evidence with SHA-256, approvals,
failures), under a headline for the occasion: a summary, contained, remediated, a rejected
approval, an escalation when an approval timed out, a member account irflow cannot reach, a
failed step, an instance that is gone or exempt, a low-severity finding recorded only.

Example event:

    {"incident": {"incident_id": "inc-d38e539f762a60f7", "finding_id": "96c7b8e1f2a34d5c9e0b1a2f3c4d5e6f",
                  "finding_type": "UnauthorizedAccess:EC2/SSHBruteForce", "severity": 8.0, "severity_band": "high",
                  "account_id": "222222222222", "region": "us-east-1", "instance_id": "i-0a1b2c3d4e5f60718"},
     "kind": "contained"}
"""

from __future__ import annotations

from typing import Any

from tasks.common import incidents, notifications, report
from tasks.common.handler import task_handler
from tasks.common.models import NotifyInput
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="notify", member_permissions=(),
    central_permissions=("dynamodb:Query", "dynamodb:PutItem", "sns:Publish"), destructive=False,
    model="tasks.common.models.NotifyInput", timeout_seconds=15)

HEADLINES = {
    "summary": ("{band} {type} on {instance}: {status}", "irflow finished its response."),
    "contained": ("Contained: {instance} isolated", "irflow isolated the instance."),
    "remediated": ("Remediated: {instance} stopped", "irflow stopped the instance after approval."),
    "rejected": ("Approval rejected for {instance}", "A person rejected the proposed action; nothing more was done."),
    "escalation": ("ESCALATION: nobody approved action on {instance}",
                   "An approval timed out. Nothing destructive was done; the incident waits for a person "
                   "(awaiting-human)."),
    "access-denied": ("ACTION NEEDED: cannot act in account {account}",
                      "irflow could not use its role in the member account; nothing was done to the instance."),
    "failure": ("Step failed for {instance}", "A step of the response failed; see below."),
    "instance-gone": ("{instance} no longer exists", "The instance is terminated or gone: nothing to contain."),
    "exempt": ("{instance} is exempt: notified only",
               "The instance is tagged irflow:exempt=true, so irflow took no action."),
    "low-severity": ("Low severity {type} on {instance}: recorded",
                     "Below the response threshold: recorded and notified, no action taken."),
}


def compose(data: NotifyInput, record: dict[str, Any] | None) -> tuple[str, str]:
    """(subject, body) for the notification."""
    i = data.incident
    status = (record or {}).get("status", "open")
    values = {"band": i.severity_band.upper(), "type": i.finding_type, "instance": i.target,
              "status": status, "account": i.account_id}
    standard, opening = HEADLINES[data.kind]
    # A playbook's own headline replaces the kind's standard wording, opening line included.
    headline = data.headline or standard.format(**values)
    lines = [] if data.headline else [opening]
    if data.note:
        lines.append(data.note)
    if data.failure:
        lines += ["", "Error: " + report.failure_text(data.failure.Error, data.failure.Cause)]
    if lines:
        lines.append("")
    if record:
        lines += report.plain_summary(record)
    else:
        lines += [f"Incident {i.incident_id}", f"Finding: {i.finding_type} (severity {i.severity:g})",
                  f"Resource: {i.resource_type} {i.target} in {i.account_id} {i.region}"]
    if data.kind in ("escalation", "access-denied", "failure"):
        lines += ["", f"See the incident with: irflow incident {i.incident_id}"]
    return f"[irflow] {headline} ({i.incident_id})", "\n".join(lines)


def notify(data: NotifyInput, ddb: Any = None, sns: Any = None) -> dict[str, Any]:
    """Publish the notification; returns the SNS message id."""
    try:
        record: dict[str, Any] | None = incidents.load_incident(data.incident.incident_id, ddb)
    except KeyError:
        record = None
    subject, body = compose(data, record)
    message_id = notifications.publish(subject, body, {"incident_id": data.incident.incident_id, "kind": data.kind,
                                                       "severity_band": data.incident.severity_band}, sns=sns)
    if record is not None:
        incidents.add_timeline(data.incident.incident_id, "notify", f"notified: {subject}", ddb=ddb)
    return {"message_id": message_id, "subject": notifications.subject_line(subject)}


def run(data: NotifyInput) -> dict[str, Any]:
    return notify(data)


handler = task_handler(TASK, NotifyInput, run)
