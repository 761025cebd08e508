"""remediate-instance: after a person approved it, stop the instance (destructive: memory is lost).

Stopping, not terminating: the volumes, the snapshots and every piece of evidence stay. The
approval that allowed it (id and who) is recorded with the action. An instance already
stopped or stopping is left as it is.

Example event:

    {"incident": {"incident_id": "inc-d38e539f762a60f7", "finding_id": "96c7b8e1f2a34d5c9e0b1a2f3c4d5e6f",
                  "finding_type": "UnauthorizedAccess:EC2/SSHBruteForce", "severity": 8.0, "severity_band": "high",
                  "account_id": "222222222222", "region": "us-east-1", "instance_id": "i-0a1b2c3d4e5f60718"},
     "approval": {"approval_id": "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "decision": "approved",
                  "by": "alice@example.com", "at": "2024-05-14T10:02:11.000Z"}}
"""

from __future__ import annotations

from typing import Any

from tasks.common import incidents
from tasks.common.aws import member_session, session_client
from tasks.common.ec2 import describe_instance
from tasks.common.errors import InstanceNotFound
from tasks.common.handler import task_handler
from tasks.common.models import REMEDIATED, Decision, IncidentRef, RemediateInput
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="remediate-instance",
    member_permissions=("ec2:DescribeInstances", "ec2:StopInstances", "ec2:CreateTags"),
    central_permissions=("sts:AssumeRole", "dynamodb:PutItem", "dynamodb:UpdateItem"), destructive=True,
    model="tasks.common.models.RemediateInput", timeout_seconds=60)


def remediate(incident: IncidentRef, approval: Decision, session: Any = None) -> dict[str, Any]:
    """Stop the instance once; returns the state it was in and what was done."""
    session = session or member_session(incident.account_id, incident.incident_id, incident.region)
    ec2 = session_client(session, "ec2")
    instance_id = incident.instance_id
    state = describe_instance(ec2, instance_id)["State"]["Name"]
    if state in ("shutting-down", "terminated"):
        raise InstanceNotFound(f"{instance_id} is {state}: nothing to stop")
    approved = {"approval_id": approval.approval_id, "by": approval.by}
    if state in ("stopping", "stopped"):
        result = incidents.add_action(incident.incident_id, "stop-instance", instance_id, f"unchanged: already {state}",
                                      approved, keep_existing=True)
    else:
        ec2.stop_instances(InstanceIds=[instance_id])
        result = incidents.add_action(incident.incident_id, "stop-instance", instance_id,
                                      f"done: approved by {approval.by}", approved)
    ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "irflow:status", "Value": "stopped"},
                                                   {"Key": "irflow:incident", "Value": incident.incident_id}])
    incidents.set_status(incident.incident_id, REMEDIATED)
    incidents.add_timeline(incident.incident_id, "remediate-instance",
                           f"{instance_id} stopped (was {state}), approved by {approval.by} ({approval.approval_id})")
    return {"previous_state": state, "action": result}


def run(data: RemediateInput) -> dict[str, Any]:
    return remediate(data.incident, data.approval)


handler = task_handler(TASK, RemediateInput, run)
