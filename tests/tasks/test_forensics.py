"""Hands-off forensics: snapshots, SSM volatile collection polled to the end, memory capture, evidence hashes."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from irflow.local.world import World
from tasks import capture_memory, collect_volatile, poll_command, snapshot_volumes
from tasks.common import commands, evidence, incidents
from tasks.common.errors import ToolUnavailable
from tasks.common.models import CommandRef, IncidentInput, IncidentRef, InstanceFacts

from .conftest import MEMBER, CallLog, Estate, ManualClock, evidence_body, incident_for

AVML = b"\x7fELF pretend avml binary"


def opened(incident: IncidentRef) -> IncidentRef:
    incidents.open_incident(incident.model_dump(), {}, None)
    return incident


def facts(instance_id: str, platform: str = "Linux", state: str = "running", ping: str | None = "Online") -> InstanceFacts:
    return InstanceFacts.model_validate({"instance_id": instance_id, "state": state, "platform": platform,
                                         "ssm": {"managed": ping is not None, "ping_status": ping}})


def poll_until_done(incident: IncidentRef, command: CommandRef, clock: ManualClock, step: float = 5,
                    limit: int = 40) -> tuple[dict[str, Any], list[str]]:
    seen = []
    result = command.model_dump()
    for _ in range(limit):
        clock.tick(step)
        result = poll_command.poll(incident, CommandRef.model_validate(result))
        seen.append(result["status"])
        if result["status"] in commands.TERMINAL:
            break
    return result, seen


def test_snapshot_every_volume_once_with_the_incident_tag(world: World, estate: Estate, calls: CallLog) -> None:
    web = estate.instance(data_volume=True)
    incident = opened(incident_for(web.id))
    with calls.checking("snapshot-volumes"):
        first = snapshot_volumes.run(IncidentInput(incident=incident))
    snapshots = estate.ec2.describe_snapshots(
        Filters=[{"Name": "tag:irflow:incident", "Values": [incident.incident_id]}])["Snapshots"]
    assert sorted(s["VolumeId"] for s in snapshots) == sorted(web.volume_ids)
    assert {s["SnapshotId"] for s in snapshots} == {r["snapshot_id"] for r in first["snapshots"]}
    manifest = evidence_body(world, first["manifest"]["uri"])
    assert hashlib.sha256(manifest).hexdigest() == first["manifest"]["sha256"]
    assert json.loads(manifest)["instance_id"] == web.id

    second = snapshot_volumes.run(IncidentInput(incident=incident))
    assert not any(r["new"] for r in second["snapshots"])
    assert len(estate.ec2.describe_snapshots(
        Filters=[{"Name": "tag:irflow:incident", "Values": [incident.incident_id]}])["Snapshots"]) == len(web.volume_ids)
    record = incidents.load_incident(incident.incident_id)
    assert sorted(a["target"] for a in record["actions"]) == sorted(web.volume_ids)


def test_volatile_collection_runs_to_success_and_hashes_the_output(world: World, estate: Estate, clock: ManualClock,
                                                                 calls: CallLog) -> None:
    web = estate.instance()
    incident = opened(incident_for(web.id))
    with calls.checking("collect-volatile"):
        sent = collect_volatile.collect(incident, facts(web.id))
    assert sent.status == "Pending" and sent.command_id
    command = world.client("ssm", MEMBER).list_commands(CommandId=sent.command_id)["Commands"][0]
    assert command["DocumentName"] == "AWS-RunShellScript"
    assert command["InstanceIds"] == [web.id]
    assert command["OutputS3BucketName"] == world.central.evidence_bucket
    assert command["OutputS3KeyPrefix"] == f"incidents/{incident.incident_id}/ssm"
    script = "\n".join(command["Parameters"]["commands"])
    assert script == "\n".join(collect_volatile.LINUX_SCRIPT)  # fixed: nothing from the finding in it
    assert web.id not in script and incident.finding_id not in script

    with calls.checking("poll-command"):
        result, seen = poll_until_done(incident, sent, clock, step=1)
    assert seen[-1] == "Success" and "InProgress" in seen
    assert result["polls"] == len(seen)
    [stored] = result["evidence"]
    key = (f"incidents/{incident.incident_id}/ssm/{sent.command_id}/{web.id}/awsrunShellScript/"
           "0.awsrunShellScript/stdout")
    assert stored["uri"] == f"s3://{world.central.evidence_bucket}/{key}"
    body = evidence_body(world, stored["uri"])
    assert hashlib.sha256(body).hexdigest() == stored["sha256"]
    assert b"=== processes ===" in body and b"=== recent authentication log ===" in body
    record = incidents.load_incident(incident.incident_id)
    assert {"uri": stored["uri"], "sha256": stored["sha256"]} in record["evidence"]
    assert record["actions"] == [{"name": "collect-volatile", "target": web.id, "result": "Success: 1 evidence object(s)"}]


def test_output_kept_by_ssm_is_stored_when_the_agent_wrote_none(world: World, estate: Estate) -> None:
    web = estate.instance()
    incident = opened(incident_for(web.id))
    command = CommandRef(kind="volatile", status="Success", instance_id=web.id,
                         command_id="0b3f7c1e-8d2a-4c5b-9e6f-1a2b3c4d5e6f")
    [stored] = poll_command._store_outputs(incident.incident_id, command, "=== processes ===\n", None)
    body = evidence_body(world, stored["uri"])
    assert stored["uri"].endswith(f"/ssm/{command.command_id}/{web.id}/stdout-from-api.txt")
    assert body.startswith(b"# irflow: the agent wrote no output to S3") and body.endswith(b"=== processes ===\n")
    assert hashlib.sha256(body).hexdigest() == stored["sha256"]


def test_windows_gets_powershell(world: World, estate: Estate, clock: ManualClock) -> None:
    win = estate.instance(windows=True)
    incident = opened(incident_for(win.id))
    sent = collect_volatile.collect(incident, facts(win.id, "Windows"))
    command = world.client("ssm", MEMBER).list_commands(CommandId=sent.command_id)["Commands"][0]
    assert command["DocumentName"] == "AWS-RunPowerShellScript"
    result, _ = poll_until_done(incident, sent, clock)
    assert result["status"] == "Success"
    assert "awsrunPowerShellScript" in result["evidence"][0]["uri"]


@pytest.mark.parametrize("state, ping, managed, reason", [
    ("running", None, False, "not SSM-managed"),
    ("stopped", "ConnectionLost", True, "the instance is stopped"),
    ("running", "ConnectionLost", True, "the SSM agent is ConnectionLost"),
])
def test_unreachable_instances_are_skipped_with_the_reason(world: World, estate: Estate, state: str,
                                                           ping: str | None, managed: bool, reason: str) -> None:
    web = estate.instance(ssm=managed)
    incident = opened(incident_for(web.id))
    sent = collect_volatile.collect(incident, facts(web.id, state=state, ping=ping))
    assert sent.status == "Skipped" and reason in (sent.reason or "")
    assert world.client("ssm", MEMBER).list_commands()["Commands"] == []
    assert incidents.load_incident(incident.incident_id)["actions"][0]["result"].startswith("skipped: ")


def test_an_agent_that_goes_away_ends_undeliverable(world: World, estate: Estate, clock: ManualClock) -> None:
    web = estate.instance()
    incident = opened(incident_for(web.id))
    sent = collect_volatile.collect(incident, facts(web.id))
    estate.ec2.stop_instances(InstanceIds=[web.id])  # stopped before the agent picked the command up
    result, seen = poll_until_done(incident, sent, clock)
    assert seen[0] == "Pending" and result["status"] == "Undeliverable"
    assert result["reason"].startswith("SSM reported Undeliverable")
    assert incidents.load_incident(incident.incident_id)["actions"][0]["result"].startswith("Undeliverable")


def test_ssm_statuses_are_normalised() -> None:
    assert commands.normalise("Pending", "Delayed") == "Pending"
    assert commands.normalise("Delayed", "Delayed") == "Pending"
    assert commands.normalise("InProgress", "In Progress") == "InProgress"
    assert commands.normalise("Failed", "Undeliverable") == "Undeliverable"
    assert commands.normalise("TimedOut", "Execution Timed Out") == "TimedOut"
    assert commands.normalise("Failed", "Delivery Timed Out") == "TimedOut"
    assert commands.normalise("Cancelled", "Canceled") == "Failed"
    assert commands.normalise("Failed", "Terminated") == "Failed"
    assert commands.normalise("Success", "Success") == "Success"


def stage_tool(world: World, body: bytes = AVML, recorded: str | None = None) -> None:
    s3 = world.client("s3")
    bucket = world.central.evidence_bucket
    s3.put_object(Bucket=bucket, Key="tools/avml", Body=body, ChecksumAlgorithm="SHA256")
    manifest = {"tools": {"avml": {"key": "tools/avml", "sha256": recorded or hashlib.sha256(body).hexdigest()}}}
    s3.put_object(Bucket=bucket, Key="tools/manifest.json", Body=json.dumps(manifest).encode(),
                  ChecksumAlgorithm="SHA256")


def test_memory_capture_refuses_a_tool_that_is_missing_or_altered(world: World, estate: Estate) -> None:
    web = estate.instance()
    incident = opened(incident_for(web.id))
    with pytest.raises(ToolUnavailable, match="not staged"):
        capture_memory.capture(incident, facts(web.id))
    stage_tool(world, recorded="0" * 64)
    with pytest.raises(ToolUnavailable, match="not the recorded 0000"):
        capture_memory.capture(incident, facts(web.id))
    assert world.client("ssm", MEMBER).list_commands()["Commands"] == []


def test_memory_capture_hands_the_instance_urls_not_credentials(world: World, estate: Estate, clock: ManualClock,
                                                               calls: CallLog) -> None:
    web = estate.instance()
    incident = opened(incident_for(web.id))
    stage_tool(world)
    with calls.checking("capture-memory"):
        sent = capture_memory.capture(incident, facts(web.id))
    assert sent.status == "Pending" and sent.image_key.startswith(f"incidents/{incident.incident_id}/memory/")
    command = world.client("ssm", MEMBER).list_commands(CommandId=sent.command_id)["Commands"][0]
    script = "\n".join(command["Parameters"]["commands"])
    assert hashlib.sha256(AVML).hexdigest() in script
    assert "X-Amz-Signature=" in script and "X-Amz-Expires=900" in script and "X-Amz-Expires=3600" in script
    import os
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in script
    assert web.id not in script and incident.finding_id not in script
    # The local agent cannot download or run AVML: the capture fails visibly and no image is recorded.
    result, _ = poll_until_done(incident, sent, clock)
    assert result["status"] == "Failed" and result["reason"]
    assert not any("/memory/" in e["uri"] for e in incidents.load_incident(incident.incident_id)["evidence"])


def test_a_memory_image_is_hashed_and_checked_against_the_instance_digest(world: World, estate: Estate) -> None:
    web = estate.instance()
    incident = opened(incident_for(web.id))
    image = b"LIME" + bytes(range(256)) * 64
    key = evidence.key_for(incident.incident_id, "memory", "memory-test.lime")
    world.client("s3").put_object(Bucket=world.central.evidence_bucket, Key=key, Body=image, ChecksumAlgorithm="SHA256")
    command = CommandRef(kind="memory", status="Success", instance_id=web.id, image_key=key,
                         command_id="0b3f7c1e-8d2a-4c5b-9e6f-1a2b3c4d5e6f")
    digest = hashlib.sha256(image).hexdigest()
    entry, problem = poll_command._check_image(incident.incident_id, command, f"irflow-image-sha256 {digest}\n", None)
    assert problem is None and entry is not None and entry["sha256"] == digest
    assert {"uri": entry["uri"], "sha256": digest} in incidents.load_incident(incident.incident_id)["evidence"]
    entry, problem = poll_command._check_image(incident.incident_id, command, "irflow-image-sha256 " + "1" * 64, None)
    assert entry is None and "differs" in (problem or "")
    missing = command.model_copy(update={"image_key": key.replace("memory-test", "memory-never-uploaded")})
    entry, problem = poll_command._check_image(incident.incident_id, missing, "", None)
    assert entry is None and "the command succeeded but no memory image arrived" in (problem or "")


def test_memory_not_requested_is_skipped_and_recorded(world: World, estate: Estate) -> None:
    web = estate.instance()
    incident = opened(incident_for(web.id))
    sent = capture_memory.capture(incident, facts(web.id), requested=False)
    assert sent.status == "Skipped" and "policy" in (sent.reason or "")


def test_the_capture_script_only_accepts_safe_values() -> None:
    good = "https://bucket.s3.amazonaws.com/tools/avml?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab12"
    lines = capture_memory.build_script("Linux", good, "a" * 64, good)
    assert any(good in line for line in lines)
    with pytest.raises(ValueError):
        capture_memory.build_script("Linux", good + "';reboot;'", "a" * 64, good)
    with pytest.raises(ValueError):
        capture_memory.build_script("Windows", good, "not-a-digest", good)
