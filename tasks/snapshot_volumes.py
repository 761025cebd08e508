"""snapshot-volumes: an EBS snapshot of every volume attached to the instance, tagged with the incident id.

A snapshot is point-in-time when it is requested, so this runs first among the evidence steps
and is not waited on. Idempotent: a volume that already has a snapshot tagged with this
incident is not snapshotted again. The snapshot ids, volumes and start times are written as
a manifest to the evidence bucket (with its SHA-256) and each snapshot is recorded as an
action. Snapshots stay in the member account; irflow never deletes them.

Example event:

    {"incident": {"incident_id": "inc-d38e539f762a60f7", "finding_id": "96c7b8e1f2a34d5c9e0b1a2f3c4d5e6f",
                  "finding_type": "UnauthorizedAccess:EC2/SSHBruteForce", "severity": 8.0, "severity_band": "high",
                  "account_id": "222222222222", "region": "us-east-1", "instance_id": "i-0a1b2c3d4e5f60718"}}
"""

from __future__ import annotations

import json
from typing import Any

from tasks.common import evidence, incidents
from tasks.common.aws import member_session, session_client
from tasks.common.ec2 import describe_instance
from tasks.common.handler import task_handler
from tasks.common.models import IncidentInput, IncidentRef
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="snapshot-volumes",
    member_permissions=("ec2:DescribeInstances", "ec2:DescribeSnapshots", "ec2:CreateSnapshot", "ec2:CreateTags"),
    central_permissions=("sts:AssumeRole", "s3:PutObject", "dynamodb:PutItem"), destructive=False,
    model="tasks.common.models.IncidentInput", evidence=True, timeout_seconds=60)

INCIDENT_TAG = "irflow:incident"


def existing_snapshots(ec2: Any, incident_id: str) -> dict[str, dict[str, Any]]:
    """This incident's snapshots by volume id (filtered by tag: moto ignores OwnerIds)."""
    found: dict[str, dict[str, Any]] = {}
    for page in ec2.get_paginator("describe_snapshots").paginate(
            Filters=[{"Name": f"tag:{INCIDENT_TAG}", "Values": [incident_id]}], OwnerIds=["self"]):
        for snapshot in page.get("Snapshots", []):
            found.setdefault(snapshot["VolumeId"], snapshot)
    return found


def snapshot(incident: IncidentRef, session: Any = None, s3: Any = None) -> dict[str, Any]:
    """Snapshot each attached volume once; returns the snapshots and the manifest's evidence entry."""
    session = session or member_session(incident.account_id, incident.incident_id, incident.region)
    ec2 = session_client(session, "ec2")
    instance = describe_instance(ec2, incident.instance_id)
    volumes = [(m["Ebs"]["VolumeId"], m.get("DeviceName")) for m in instance.get("BlockDeviceMappings", []) if "Ebs" in m]
    already = existing_snapshots(ec2, incident.incident_id)
    rows: list[dict[str, Any]] = []
    for volume_id, device in volumes:
        taken = already.get(volume_id)
        created = taken is None
        if taken is None:
            taken = ec2.create_snapshot(
                VolumeId=volume_id,
                Description=f"irflow {incident.incident_id}: {incident.finding_type} on {incident.instance_id}"[:255],
                TagSpecifications=[{"ResourceType": "snapshot", "Tags": [
                    {"Key": INCIDENT_TAG, "Value": incident.incident_id},
                    {"Key": "irflow:instance", "Value": incident.instance_id},
                    {"Key": "irflow:device", "Value": device or ""},
                    {"Key": "Name", "Value": f"irflow-{incident.incident_id}-{volume_id}"}]}])
        rows.append({"volume_id": volume_id, "device": device, "snapshot_id": taken["SnapshotId"],
                     "state": taken.get("State"), "start_time": str(taken.get("StartTime", "")), "new": created})
        incidents.add_action(incident.incident_id, "snapshot-volume", volume_id, f"done: {taken['SnapshotId']}")
    manifest = {"incident_id": incident.incident_id, "account_id": incident.account_id, "region": incident.region,
                "instance_id": incident.instance_id, "snapshots": rows}
    entry = evidence.store(incident.incident_id, ("snapshots.json",), json.dumps(manifest, indent=2).encode(),
                           "snapshot-manifest", content_type="application/json", s3=s3)
    return {"snapshots": rows, "manifest": {"uri": entry["uri"], "sha256": entry["sha256"]}}


def run(data: IncidentInput) -> dict[str, Any]:
    return snapshot(data.incident)


handler = task_handler(TASK, IncidentInput, run)
