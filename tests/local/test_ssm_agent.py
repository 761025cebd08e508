"""The simulated SSM agent, seen only through the SSM and S3 APIs of the embedded AWS."""

from __future__ import annotations

import base64
import hashlib

import boto3
import pytest
from botocore.exceptions import ClientError

from irflow.local.world import DEFAULT_EXTERNAL_ID, World

from .conftest import ManualClock

MEMBER = "222222222222"
SCRIPT = ["echo '== processes'", "ps auxww", "echo '== network'", "ss -tunap", "who", "lsmod", "crontab -l",
          "tail -n 200 /var/log/auth.log /var/log/secure 2>/dev/null || journalctl -u sshd | tail -n 200"]


def _member_ssm() -> object:
    creds = boto3.client("sts").assume_role(RoleArn=f"arn:aws:iam::{MEMBER}:role/IrflowMemberRole",
                                            RoleSessionName="irflow-test", ExternalId=DEFAULT_EXTERNAL_ID)["Credentials"]
    return boto3.client("ssm", aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])


def _instances(world: World, count: int = 1) -> list[str]:
    ec2 = world.client("ec2", MEMBER)
    return [i["InstanceId"] for i in ec2.run_instances(ImageId="ami-12345678", MinCount=count, MaxCount=count)["Instances"]]


def test_describe_instance_information_lists_registered_instances_only(world: World) -> None:
    linux, windows, unmanaged = _instances(world, 3)
    world.agent.register(linux, MEMBER, "us-east-1", "Linux")
    world.agent.register(windows, MEMBER, "us-east-1", "Windows")
    ssm = _member_ssm()
    info = {i["InstanceId"]: i for i in ssm.describe_instance_information()["InstanceInformationList"]}
    assert set(info) == {linux, windows}
    assert info[linux]["PingStatus"] == "Online" and info[linux]["PlatformType"] == "Linux"
    assert info[windows]["PlatformType"] == "Windows"
    filtered = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [unmanaged, linux]}])
    assert [i["InstanceId"] for i in filtered["InstanceInformationList"]] == [linux]
    # the central account sees none of the member's instances
    assert boto3.client("ssm").describe_instance_information()["InstanceInformationList"] == []


def test_stopped_instance_loses_connection_and_terminated_disappears(world: World) -> None:
    stopped, terminated = _instances(world, 2)
    for instance in (stopped, terminated):
        world.agent.register(instance, MEMBER, "us-east-1")
    ec2 = world.client("ec2", MEMBER)
    ec2.stop_instances(InstanceIds=[stopped])
    ec2.terminate_instances(InstanceIds=[terminated])
    info = _member_ssm().describe_instance_information()["InstanceInformationList"]
    assert [(i["InstanceId"], i["PingStatus"]) for i in info] == [(stopped, "ConnectionLost")]


def test_run_command_goes_pending_in_progress_success_and_writes_output_where_the_agent_does(
        world: World, clock: ManualClock) -> None:
    (instance,) = _instances(world)
    world.agent.register(instance, MEMBER, "us-east-1", "Linux", remote_ips=("198.51.100.23",))
    ssm = _member_ssm()
    bucket = world.central.evidence_bucket
    command = ssm.send_command(InstanceIds=[instance], DocumentName="AWS-RunShellScript",
                               Parameters={"commands": SCRIPT}, OutputS3BucketName=bucket,
                               OutputS3KeyPrefix="incidents/inc-1/ssm/")["Command"]
    assert command["Status"] == "Pending" and command["InstanceIds"] == [instance]
    command_id = command["CommandId"]
    seen = []
    for _ in range(20):
        invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance)
        if not seen or seen[-1] != invocation["Status"]:
            seen.append(invocation["Status"])
        clock.tick(0.5)
    assert seen == ["Pending", "InProgress", "Success"]
    assert invocation["ResponseCode"] == 0 and invocation["ExecutionElapsedTime"].startswith("PT")
    key = f"incidents/inc-1/ssm/{command_id}/{instance}/awsrunShellScript/0.awsrunShellScript/stdout"
    assert invocation["StandardOutputUrl"] == f"https://s3.us-east-1.amazonaws.com/{bucket}/{key}"
    s3 = world.client("s3")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert invocation["StandardOutputContent"] == body.decode()[:24000] or len(body) > 24000
    text = body.decode()
    for expected in ("== processes", "/usr/sbin/sshd", "ESTAB", "ec2-user pts/0", "Module", "*/5 * * * *",
                     "Failed password for invalid user", "Accepted password for ec2-user from 198.51.100.23"):
        assert expected in text
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ObjectLockMode"] == "COMPLIANCE"  # the bucket's default retention applied
    assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
    listed = ssm.list_commands(CommandId=command_id)["Commands"][0]
    assert (listed["Status"], listed["CompletedCount"], listed["TargetCount"]) == ("Success", 1, 1)


def test_output_is_deterministic_for_the_same_instance_and_time(world: World, clock: ManualClock) -> None:
    (instance,) = _instances(world)
    world.agent.register(instance, MEMBER, "us-east-1")
    ssm = _member_ssm()
    outputs = []
    for _ in range(2):
        command_id = ssm.send_command(InstanceIds=[instance], DocumentName="AWS-RunShellScript",
                                      Parameters={"commands": SCRIPT})["Command"]["CommandId"]
        clock.tick(30)
        outputs.append(ssm.get_command_invocation(CommandId=command_id, InstanceId=instance)["StandardOutputContent"])
        clock.current -= __import__("datetime").timedelta(seconds=30)
    assert outputs[0] == outputs[1] and outputs[0]


def test_windows_uses_powershell_and_its_own_output_path(world: World, clock: ManualClock) -> None:
    (instance,) = _instances(world)
    world.agent.register(instance, MEMBER, "us-east-1", "Windows")
    ssm = _member_ssm()
    with pytest.raises(ClientError) as caught:
        ssm.send_command(InstanceIds=[instance], DocumentName="AWS-RunShellScript", Parameters={"commands": ["ps"]})
    assert caught.value.response["Error"]["Code"] == "UnsupportedPlatformType"
    command_id = ssm.send_command(
        InstanceIds=[instance], DocumentName="AWS-RunPowerShellScript", OutputS3BucketName=world.central.evidence_bucket,
        OutputS3KeyPrefix="incidents/inc-2/ssm",
        Parameters={"commands": ["Get-Process", "Get-NetTCPConnection", "quser", "Get-ScheduledTask",
                                 "Get-WinEvent -FilterHashtable @{LogName='Security';Id=4625}"]})["Command"]["CommandId"]
    clock.tick(5)
    assert ssm.get_command_invocation(CommandId=command_id, InstanceId=instance)["Status"] == "InProgress"
    clock.tick(60)
    invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance,
                                            PluginName="aws:runPowerShellScript")
    assert invocation["Status"] == "Success"
    assert invocation["StandardOutputUrl"].endswith(
        f"incidents/inc-2/ssm/{command_id}/{instance}/awsrunPowerShellScript/0.awsrunPowerShellScript/stdout")
    assert "4625" in invocation["StandardOutputContent"] and "rdp-tcp" in invocation["StandardOutputContent"]


def test_unmanaged_unknown_or_terminated_instances_are_invalid(world: World) -> None:
    unmanaged, terminated = _instances(world, 2)
    world.agent.register(terminated, MEMBER, "us-east-1")
    world.client("ec2", MEMBER).terminate_instances(InstanceIds=[terminated])
    ssm = _member_ssm()
    for instance in (unmanaged, terminated, "i-0123456789abcdef0"):
        with pytest.raises(ClientError) as caught:
            ssm.send_command(InstanceIds=[instance], DocumentName="AWS-RunShellScript", Parameters={"commands": ["ps"]})
        assert caught.value.response["Error"]["Code"] == "InvalidInstanceId"
        assert f"Instances [[{instance}]] not in a valid state for account {MEMBER}" in str(caught.value)
    assert ssm.list_commands()["Commands"] == []


def test_stopped_instance_is_delayed_then_undeliverable(world: World, clock: ManualClock) -> None:
    (instance,) = _instances(world)
    world.agent.register(instance, MEMBER, "us-east-1")
    world.client("ec2", MEMBER).stop_instances(InstanceIds=[instance])
    ssm = _member_ssm()
    command_id = ssm.send_command(InstanceIds=[instance], DocumentName="AWS-RunShellScript",
                                  Parameters={"commands": ["ps"]})["Command"]["CommandId"]
    clock.tick(5)
    invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance)
    assert (invocation["Status"], invocation["StatusDetails"]) == ("Pending", "Delayed")
    clock.tick(60)
    invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance)
    assert invocation["Status"] == "Undeliverable" and invocation["StandardOutputUrl"] == ""
    assert ssm.list_commands(CommandId=command_id)["Commands"][0]["StatusDetails"] == "Incomplete"


def test_list_command_invocations_with_details_and_filters(world: World, clock: ManualClock) -> None:
    first, second = _instances(world, 2)
    for instance in (first, second):
        world.agent.register(instance, MEMBER, "us-east-1")
    ssm = _member_ssm()
    command_id = ssm.send_command(InstanceIds=[first, second], DocumentName="AWS-RunShellScript",
                                  OutputS3BucketName=world.central.evidence_bucket, OutputS3KeyPrefix="p",
                                  Parameters={"commands": ["ps aux"]})["Command"]["CommandId"]
    rows = ssm.list_command_invocations(CommandId=command_id)["CommandInvocations"]
    assert {r["InstanceId"] for r in rows} == {first, second} and all(r["Status"] == "Pending" for r in rows)
    clock.tick(30)
    rows = ssm.list_command_invocations(CommandId=command_id, InstanceId=first, Details=True)["CommandInvocations"]
    (plugin,) = rows[0]["CommandPlugins"]
    assert plugin["Name"] == "aws:runShellScript" and plugin["Status"] == "Success"
    assert plugin["OutputS3KeyPrefix"] == f"p/{command_id}/{first}/awsrunShellScript"
    assert len(plugin["Output"]) <= 2500 and plugin["Output"].startswith("USER")
    page = ssm.list_command_invocations(MaxResults=1)
    assert len(page["CommandInvocations"]) == 1 and "NextToken" in page
    with pytest.raises(ClientError):
        ssm.list_command_invocations(CommandId="00000000-0000-0000-0000-000000000000")


def test_execution_timeout_ends_the_invocation_timed_out(world: World, clock: ManualClock) -> None:
    (instance,) = _instances(world)
    world.agent.register(instance, MEMBER, "us-east-1")
    ssm = _member_ssm()
    command_id = ssm.send_command(InstanceIds=[instance], DocumentName="AWS-RunShellScript",
                                  Parameters={"commands": SCRIPT, "executionTimeout": ["1"]})["Command"]["CommandId"]
    clock.tick(2)
    assert ssm.get_command_invocation(CommandId=command_id, InstanceId=instance)["Status"] == "InProgress"
    clock.tick(5)
    invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance)
    assert (invocation["Status"], invocation["StatusDetails"]) == ("TimedOut", "Execution Timed Out")
    assert invocation["ExecutionElapsedTime"] == "PT1.000S"
