"""poll-command: one look at an SSM command sent by collect-volatile or capture-memory.

Called by the playbook's Wait/Choice loop (never sleeping inside a Lambda): returns the
command's status, normalised to Pending, InProgress, Success, Failed, TimedOut or
Undeliverable, and the number of polls so far (the playbook bounds them). On Success the
output the agent wrote to the evidence bucket is hashed (SHA-256) into the incident's
evidence; if the agent could not write it, the output SSM kept (first 24,000 characters) is
stored instead and says so. For a memory capture the image is hashed too and its digest
compared with the one the instance printed; a missing or mismatching image is a failure.

Example event:

    {"incident": {"incident_id": "inc-d38e539f762a60f7", "finding_id": "96c7b8e1f2a34d5c9e0b1a2f3c4d5e6f",
                  "finding_type": "UnauthorizedAccess:EC2/SSHBruteForce", "severity": 8.0, "severity_band": "high",
                  "account_id": "222222222222", "region": "us-east-1", "instance_id": "i-0a1b2c3d4e5f60718"},
     "command": {"kind": "volatile", "status": "Pending", "instance_id": "i-0a1b2c3d4e5f60718",
                 "command_id": "0b3f7c1e-8d2a-4c5b-9e6f-1a2b3c4d5e6f", "polls": 0,
                 "output_prefix": "incidents/inc-d38e539f762a60f7/ssm"}}
"""

from __future__ import annotations

import re
from typing import Any

from tasks.common import commands, evidence, incidents
from tasks.common.aws import error_code, member_session, session_client
from tasks.common.handler import task_handler
from tasks.common.models import CommandRef, IncidentRef, PollCommandInput
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="poll-command", member_permissions=("ssm:GetCommandInvocation",),
    central_permissions=("sts:AssumeRole", "s3:ListBucket", "s3:GetObject", "s3:PutObject", "dynamodb:PutItem"),
    destructive=False, model="tasks.common.models.PollCommandInput", evidence=True, timeout_seconds=300)

IMAGE_DIGEST = re.compile(r"^irflow-image-sha256 ([0-9a-f]{64})\s*$", re.M)
ACTION_NAMES = {"volatile": "collect-volatile", "memory": "capture-memory"}


def _store_outputs(incident_id: str, command: CommandRef, stdout: str, s3: Any) -> list[dict[str, Any]]:
    """Hash what the agent wrote; fall back to the output SSM kept when nothing reached the bucket."""
    assert command.command_id is not None
    keys = commands.output_keys(incident_id, command.command_id, command.instance_id, s3)
    if keys:
        return [evidence.record_object(incident_id, key, f"{command.kind}-{key.rsplit('/', 1)[-1]}", s3=s3)
                for key in keys]
    note = "# irflow: the agent wrote no output to S3; this is the output SSM kept (at most 24,000 characters)\n"
    return [evidence.store(incident_id, ("ssm", command.command_id, command.instance_id, "stdout-from-api.txt"),
                           (note + stdout).encode(), f"{command.kind}-stdout-api", s3=s3)]


def _check_image(incident_id: str, command: CommandRef, stdout: str, s3: Any) -> tuple[dict[str, Any] | None, str | None]:
    """Hash the memory image and compare with the digest the instance printed."""
    assert command.image_key is not None
    try:
        entry = evidence.hash_object(evidence.bucket(), command.image_key, s3)
    except Exception as error:
        if error_code(error) in ("NoSuchKey", "404", "NotFound"):
            return None, f"the command succeeded but no memory image arrived at s3://{evidence.bucket()}/{command.image_key}"
        raise
    printed = IMAGE_DIGEST.search(stdout)
    if printed and printed.group(1) != entry["sha256"]:
        return None, (f"the memory image's SHA-256 {entry['sha256']} differs from the {printed.group(1)} computed on "
                      "the instance")
    incidents.add_evidence(incident_id, entry["uri"], entry["sha256"], "memory-image", size=entry["size"],
                           version_id=entry["version_id"])
    return entry, None


def poll(incident: IncidentRef, command: CommandRef, session: Any = None, s3: Any = None) -> dict[str, Any]:
    """The command's normalised status, one more poll counted, evidence recorded when it finished."""
    if command.command_id is None or command.status in commands.TERMINAL | {commands.SKIPPED}:
        return command.model_dump()
    session = session or member_session(incident.account_id, incident.incident_id, incident.region)
    status, details, stdout = commands.invocation_status(session_client(session, "ssm"), command.command_id,
                                                         command.instance_id)
    result = command.model_copy(update={"status": status, "polls": command.polls + 1})
    stored: list[dict[str, Any]] = []
    name = ACTION_NAMES[command.kind]
    if status == commands.SUCCESS:
        stored = _store_outputs(incident.incident_id, command, stdout, s3)
        if command.kind == "memory":
            image, problem = _check_image(incident.incident_id, command, stdout, s3)
            if image is None:
                result = result.model_copy(update={"status": commands.FAILED, "reason": problem})
            else:
                stored.append(image)
    elif status in commands.TERMINAL:
        result = result.model_copy(update={"reason": f"SSM reported {status} ({details})"})
    if result.status in commands.TERMINAL:
        outcome = (f"{result.status}: {len(stored)} evidence object(s)" if result.status == commands.SUCCESS
                   else f"{result.status}: {result.reason}")
        incidents.add_action(incident.incident_id, name, command.instance_id, outcome,
                             detail={"command_id": command.command_id, "polls": result.polls})
    evidence_list = [{"uri": e["uri"], "sha256": e["sha256"]} for e in stored]
    return result.model_copy(update={"evidence": evidence_list}).model_dump()


def run(data: PollCommandInput) -> dict[str, Any]:
    return poll(data.incident, data.command)


handler = task_handler(TASK, PollCommandInput, run)
