"""open-incident: create the incident record, or join the open one when GuardDuty re-sends the finding.

The write is conditional (the incident must not exist), so a repeated finding, delivered again
or updated with a higher count, joins the existing incident (`joined: true`, count and time
updated, a timeline line added) and the playbook ends there instead of starting a second
response. A Lambda retry by the execution that opened the incident is recognised and is not a
join.

Example event:

    {"incident": {"incident_id": "inc-d38e539f762a60f7", "finding_id": "96c7b8e1f2a34d5c9e0b1a2f3c4d5e6f",
                  "finding_type": "UnauthorizedAccess:EC2/SSHBruteForce", "severity": 8.0, "severity_band": "high",
                  "account_id": "222222222222", "region": "us-east-1", "instance_id": "i-0a1b2c3d4e5f60718",
                  "count": 41, "remote_ips": ["198.51.100.23"]},
     "policy": {"approval_severity": 4.0, "isolate_severity": 7.0, "capture_memory": false,
                "approval_timeout_seconds": 3600, "on_approval_timeout": "escalate"},
     "execution_arn": "arn:aws:states:us-east-1:111111111111:execution:irflow-ec2-compromise:96c7b8e1f2a34d5c9e0b1a2f3c4d5e6f"}
"""

from __future__ import annotations

from typing import Any

from tasks.common import incidents
from tasks.common.handler import task_handler
from tasks.common.models import OpenIncidentInput, Policy
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="open-incident", member_permissions=(),
    central_permissions=("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem"), destructive=False,
    model="tasks.common.models.OpenIncidentInput", timeout_seconds=15)


def open_incident(data: OpenIncidentInput, ddb: Any = None) -> dict[str, Any]:
    """{"joined": bool, "status": str, "count": int} for the incident."""
    policy = data.policy.model_dump() if isinstance(data.policy, Policy) else data.policy
    return incidents.open_incident(data.incident.model_dump(), policy, data.execution_arn, ddb)


def run(data: OpenIncidentInput) -> dict[str, Any]:
    return open_incident(data)


handler = task_handler(TASK, OpenIncidentInput, run)
