"""verify-access: assume IrflowMemberRole in the finding's account and check it can do the playbook's work.

Cross-account access is its own step so a missing role, a wrong ExternalId or a role without
the permissions fails fast with `irflow.AccessDenied` (the playbook then records it and
notifies) instead of half-way through containment. The session is named `irflow-<incident id>`
so the member account's CloudTrail shows which incident acted. Mutating permissions are probed
with EC2's DryRun, which checks authorisation without acting. No credentials leave the task:
it returns only the role's ARN and what was checked.

Example event:

    {"incident": {"incident_id": "inc-d38e539f762a60f7", "finding_id": "96c7b8e1f2a34d5c9e0b1a2f3c4d5e6f",
                  "finding_type": "UnauthorizedAccess:EC2/SSHBruteForce", "severity": 8.0, "severity_band": "high",
                  "account_id": "222222222222", "region": "us-east-1", "instance_id": "i-0a1b2c3d4e5f60718"}}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tasks.common.aws import error_code, is_access_denied, member_session, session_client
from tasks.common.errors import AccessDenied
from tasks.common.handler import task_handler
from tasks.common.models import IncidentInput
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="verify-access",
    member_permissions=("ec2:DescribeInstances", "ec2:ModifyInstanceAttribute", "ec2:StopInstances",
                        "ec2:CreateTags"),
    central_permissions=("sts:AssumeRole",), destructive=False, model="tasks.common.models.IncidentInput",
    timeout_seconds=20)

ALLOWED, DENIED, UNKNOWN = "allowed", "denied", "unknown"


def _probe(call: Callable[[], Any]) -> str:
    """Run a DryRun call: DryRunOperation means allowed, an authorisation error means denied."""
    try:
        call()
    except Exception as error:
        code = error_code(error)
        if code == "DryRunOperation":
            return ALLOWED
        if is_access_denied(error):
            return DENIED
        return UNKNOWN  # e.g. the instance is gone: the permission cannot be judged from here
    return ALLOWED


def verify(incident_id: str, account_id: str, region: str, instance_id: str, sts: Any = None) -> dict[str, Any]:
    """Assume the member role and probe the permissions; `irflow.AccessDenied` when any is refused."""
    session = member_session(account_id, incident_id, region, sts=sts)
    identity = session_client(session, "sts").get_caller_identity()
    if identity["Account"] != account_id:
        raise AccessDenied(f"the member role session landed in {identity['Account']}, not {account_id}")
    ec2 = session_client(session, "ec2")
    checked: dict[str, str] = {}
    try:
        ec2.describe_instances(InstanceIds=[instance_id])
        checked["ec2:DescribeInstances"] = ALLOWED
    except Exception as error:
        if is_access_denied(error):
            checked["ec2:DescribeInstances"] = DENIED
        elif error_code(error) == "InvalidInstanceID.NotFound":
            checked["ec2:DescribeInstances"] = ALLOWED
        else:
            raise
    checked["ec2:ModifyInstanceAttribute"] = _probe(lambda: ec2.modify_instance_attribute(
        InstanceId=instance_id, DisableApiTermination={"Value": True}, DryRun=True))
    checked["ec2:StopInstances"] = _probe(lambda: ec2.stop_instances(InstanceIds=[instance_id], DryRun=True))
    checked["ec2:CreateTags"] = _probe(lambda: ec2.create_tags(
        Resources=[instance_id], Tags=[{"Key": "irflow:incident", "Value": incident_id}], DryRun=True))
    denied = sorted(action for action, verdict in checked.items() if verdict == DENIED)
    if denied:
        raise AccessDenied(f"{identity['Arn']} may not {', '.join(denied)} in {account_id}")
    return {"account_id": account_id, "role_arn": identity["Arn"], "checked": checked}


def run(data: IncidentInput) -> dict[str, Any]:
    i = data.incident
    return verify(i.incident_id, i.account_id, i.region, i.instance_id)


handler = task_handler(TASK, IncidentInput, run)
