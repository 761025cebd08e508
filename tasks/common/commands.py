"""SSM Run Command for the forensic tasks: the fixed scripts' delivery, and reading the outcome.

Scripts are constants in the task modules. Nothing from a finding is interpolated into them:
the instance is named only in `InstanceIds`. Output goes to the evidence bucket under
`incidents/<incident id>/ssm`, where the agent writes
`<prefix>/<CommandId>/<InstanceId>/awsrunShellScript/0.awsrunShellScript/stdout`.
An instance that is not running, not SSM-managed or whose agent is offline is skipped with
the reason: containment never waits on evidence that cannot be had.
"""

from __future__ import annotations

from typing import Any

from . import evidence
from .aws import error_code, error_message
from .models import InstanceFacts

DOCUMENTS = {"Linux": "AWS-RunShellScript", "Windows": "AWS-RunPowerShellScript"}
DELIVERY_TIMEOUT_SECONDS = 600  # SendCommand TimeoutSeconds: how long SSM tries to reach the agent
# Normalised statuses the playbook's Choice states route on.
PENDING, IN_PROGRESS, SUCCESS, FAILED, TIMED_OUT, UNDELIVERABLE, SKIPPED = (
    "Pending", "InProgress", "Success", "Failed", "TimedOut", "Undeliverable", "Skipped")
TERMINAL = {SUCCESS, FAILED, TIMED_OUT, UNDELIVERABLE}


def skip_reason(instance: InstanceFacts) -> str | None:
    """Why a command cannot reach this instance now, or None when it can."""
    if instance.state != "running":
        return f"the instance is {instance.state}"
    if not instance.ssm.managed:
        return "the instance is not SSM-managed"
    if instance.ssm.ping_status != "Online":
        return f"the SSM agent is {instance.ssm.ping_status or 'not reporting'}"
    return None


def output_prefix(incident_id: str) -> str:
    return evidence.key_for(incident_id, "ssm")


def send(ssm: Any, incident_id: str, instance: InstanceFacts, commands: list[str], purpose: str,
         execution_timeout: int) -> tuple[str | None, str | None]:
    """Send a fixed script; returns (command id, None) or (None, why SSM refused it)."""
    try:
        response = ssm.send_command(
            InstanceIds=[instance.instance_id], DocumentName=DOCUMENTS[instance.platform],
            Comment=f"irflow {incident_id} {purpose}"[:100],
            Parameters={"commands": commands, "executionTimeout": [str(execution_timeout)]},
            TimeoutSeconds=DELIVERY_TIMEOUT_SECONDS,
            OutputS3BucketName=evidence.bucket(), OutputS3KeyPrefix=output_prefix(incident_id))
    except Exception as error:
        code = error_code(error)
        if code in ("InvalidInstanceId", "UnsupportedPlatformType", "InvalidDocument"):
            return None, f"SSM refused the command ({code}: {error_message(error)})"
        raise
    return str(response["Command"]["CommandId"]), None


def invocation_status(ssm: Any, command_id: str, instance_id: str) -> tuple[str, str, str]:
    """(normalised status, AWS's status details, standard output so far) of one invocation."""
    try:
        response = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
    except Exception as error:
        if error_code(error) == "InvocationDoesNotExist":  # just sent: not visible yet
            return PENDING, "Pending", ""
        raise
    status = str(response.get("Status", ""))
    details = str(response.get("StatusDetails", status))
    return normalise(status, details), details, str(response.get("StandardOutputContent") or "")


def normalise(status: str, details: str) -> str:
    """SSM's Status/StatusDetails pair as one of Pending, InProgress, Success, Failed, TimedOut, Undeliverable."""
    if "Undeliverable" in (status, details):
        return UNDELIVERABLE
    if status == "TimedOut" or details in ("Delivery Timed Out", "Execution Timed Out", "DeliveryTimedOut",
                                           "ExecutionTimedOut"):
        return TIMED_OUT
    if status in ("Pending", "Delayed"):
        return PENDING
    if status in ("InProgress", "Cancelling"):
        return IN_PROGRESS
    if status == "Success":
        return SUCCESS
    return FAILED  # Failed, Cancelled, Terminated, AccessDenied, InvalidPlatform...


def output_keys(incident_id: str, command_id: str, instance_id: str, s3: Any = None) -> list[str]:
    """The objects the agent wrote for this invocation."""
    return evidence.list_keys(f"{output_prefix(incident_id)}/{command_id}/{instance_id}/", s3)
