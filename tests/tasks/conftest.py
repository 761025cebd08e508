"""Fixtures for the task tests: the embedded AWS (moto with irflow's gap fillers) and a member account estate.

The world is the local runtime's (`irflow.local.world.World`): moto in-process with the central
security account provisioned as the stack does, `IrflowMemberRole` in the member account, the STS
trust-policy guard (moto does not check ExternalId), the simulated SSM agent (moto has no
instance information nor command output) and security-group swaps as on AWS. Tests act through
the tasks' own code paths and then read the world back through the member account's APIs.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from irflow.local import speed
from irflow.local.world import World
from tasks.common import clock as task_clock
from tasks.common.models import IncidentRef
from tasks.parse_finding import parse

speed.apply()

MEMBER = "222222222222"
OTHER_MEMBER = "333333333333"
REGION = "us-east-1"
EVENTS = Path(__file__).resolve().parents[1] / "events"


class ManualClock:
    """The world's and the tasks' clock; moves only when a test says so."""

    def __init__(self) -> None:
        self.current = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.current

    def tick(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    manual = ManualClock()
    task_clock.use(manual)
    yield manual
    task_clock.use(None)


@pytest.fixture
def world(clock: ManualClock) -> Iterator[World]:
    with World(now=clock) as w:
        w.add_member(MEMBER)
        yield w


def event(name: str, instance_id: str | None = None, **detail: Any) -> dict[str, Any]:
    """A sample event from tests/events, aimed at `instance_id`, with `detail` fields overridden."""
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    data = copy.deepcopy(data)
    if instance_id:
        text = json.dumps(data).replace("i-0a1b2c3d4e5f60718", instance_id)
        data = json.loads(text)
    data["detail"].update(detail)
    return data


def incident_for(instance_id: str, name: str = "guardduty-ssh-bruteforce-high", **detail: Any) -> IncidentRef:
    return IncidentRef.model_validate(parse(event(name, instance_id, **detail), {})["incident"])


@dataclass
class Instance:
    id: str
    vpc_id: str
    subnet_id: str
    group_id: str
    interface_id: str
    volume_ids: list[str]
    role_name: str | None = None
    asg: str | None = None
    target_group_arn: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Estate:
    """Builds resources in the member account as its administrators would have."""

    def __init__(self, world: World, account: str = MEMBER) -> None:
        self.world = world
        self.account = account
        self.ec2 = world.client("ec2", account)
        self.iam = world.client("iam", account)
        self.autoscaling = world.client("autoscaling", account)
        self.elbv2 = world.client("elbv2", account)
        self._base_image = ""

    def _image(self) -> str:
        if not self._base_image:
            self._base_image = self.ec2.register_image(Name="base", RootDeviceName="/dev/xvda", BlockDeviceMappings=[
                {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}])["ImageId"]
        return self._base_image

    def instance(self, *, tags: dict[str, str] | None = None, windows: bool = False, ssm: bool = True,
                 role: str | None = None, asg: str | None = None, target_group: str | None = None,
                 data_volume: bool = False) -> Instance:
        vpc = self.ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
        subnet = self.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"][0]["SubnetId"]
        name = f"app-{len(self.ec2.describe_security_groups()['SecurityGroups'])}"
        group = self.ec2.create_security_group(GroupName=name, Description="app traffic", VpcId=vpc)["GroupId"]
        self.ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        launch: dict[str, Any] = {"ImageId": self._image(), "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.medium",
                                  "SubnetId": subnet, "SecurityGroupIds": [group]}
        if windows:
            launch["ImageId"] = self.ec2.register_image(Name=f"win-{name}", RootDeviceName="/dev/sda1")["ImageId"]
        if tags:
            launch["TagSpecifications"] = [{"ResourceType": "instance",
                                            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
        if role:
            launch["IamInstanceProfile"] = {"Arn": self._profile(role)}
        found = self.ec2.run_instances(**launch)["Instances"][0]
        instance_id = found["InstanceId"]
        if windows:  # moto reports Platform only for Windows AMIs it knows; set what AWS would report
            self._windows(instance_id)
        if data_volume:
            volume = self.ec2.create_volume(AvailabilityZone=found["Placement"]["AvailabilityZone"], Size=20)
            self.ec2.attach_volume(VolumeId=volume["VolumeId"], InstanceId=instance_id, Device="/dev/sdf")
        described = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        volumes = [m["Ebs"]["VolumeId"] for m in described.get("BlockDeviceMappings", [])]
        result = Instance(instance_id, vpc, subnet, group, described["NetworkInterfaces"][0]["NetworkInterfaceId"],
                          volumes, role_name=role)
        if asg:
            self._asg(asg, instance_id, subnet, launch)
            result.asg = asg
        if target_group:
            tg = self.elbv2.create_target_group(Name=target_group, Protocol="HTTPS", Port=443, VpcId=vpc,
                                                TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
            self.elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": instance_id, "Port": 8443}])
            result.target_group_arn = tg
        if ssm:
            self.world.agent.register(instance_id, self.account, REGION, "Windows" if windows else "Linux")
        return result

    def _windows(self, instance_id: str) -> None:
        from moto.ec2.models import ec2_backends

        ec2_backends[self.account][REGION].get_instance(instance_id).platform = "windows"

    def _profile(self, name: str) -> str:
        self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
        arn: str = self.iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Arn"]
        self.iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
        return arn

    def _asg(self, name: str, instance_id: str, subnet: str, launch: dict[str, Any]) -> None:
        template = self.ec2.create_launch_template(LaunchTemplateName=f"{name}-lt", LaunchTemplateData={
            "ImageId": launch["ImageId"], "InstanceType": launch["InstanceType"]})["LaunchTemplate"]["LaunchTemplateId"]
        self.autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
            MinSize=0, MaxSize=4, DesiredCapacity=0, VPCZoneIdentifier=subnet)
        self.autoscaling.attach_instances(AutoScalingGroupName=name, InstanceIds=[instance_id])
        self.autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=1)

    # --- reading the world back -------------------------------------------------------------------
    def described(self, instance_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        return found

    def interface_groups(self, interface_id: str) -> list[str]:
        interface = self.ec2.describe_network_interfaces(NetworkInterfaceIds=[interface_id])["NetworkInterfaces"][0]
        return [g["GroupId"] for g in interface["Groups"]]

    def attribute(self, instance_id: str, name: str, key: str) -> Any:
        return self.ec2.describe_instance_attribute(InstanceId=instance_id, Attribute=name)[key]["Value"]

    def group(self, group_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
        return found

    def tags(self, instance_id: str) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in self.described(instance_id).get("Tags", [])}

    def asg_members(self, name: str) -> list[str]:
        group = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
        return [i["InstanceId"] for i in group["Instances"]]

    def tg_members(self, arn: str) -> list[tuple[str, int]]:
        health = self.elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        return [(d["Target"]["Id"], d["Target"].get("Port")) for d in health
                if d.get("TargetHealth", {}).get("State") != "draining"]


@pytest.fixture
def estate(world: World) -> Estate:
    return Estate(world)


def evidence_body(world: World, uri: str) -> bytes:
    """An evidence object's bytes, read from the bucket its URI names."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    body: bytes = world.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


# --- least privilege: the AWS calls a task makes are the IAM actions it declares -------------------

IAM_PREFIX = {"auto-scaling": "autoscaling", "elastic-load-balancing-v2": "elasticloadbalancing", "eventbridge": "events",
              "sfn": "states"}
IAM_ACTION = {("s3", "ListObjectsV2"): "s3:ListBucket", ("s3", "HeadObject"): "s3:GetObject"}
NEEDS_NO_PERMISSION = {("sts", "GetCallerIdentity")}


class CallLog:
    """The (service, operation) pairs moto answered since `mark()`."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.start = len(world.calls)

    def mark(self) -> None:
        self.start = len(self.world.calls)

    def actions(self) -> set[str]:
        made = {c for c in self.world.calls[self.start:] if c not in NEEDS_NO_PERMISSION}
        return {IAM_ACTION.get(c, f"{IAM_PREFIX.get(c[0], c[0])}:{c[1]}") for c in made}

    def assert_declared(self, task: str) -> None:
        from tasks.registry import get

        spec = get(task)
        undeclared = self.actions() - set(spec.member_permissions) - set(spec.central_permissions)
        assert not undeclared, f"{task} called {sorted(undeclared)} without declaring them"

    @contextlib.contextmanager
    def checking(self, task: str) -> Iterator[None]:
        """Every AWS call made inside the block must be one of `task`'s declared IAM actions."""
        self.mark()
        yield
        self.assert_declared(task)


@pytest.fixture
def calls(world: World) -> CallLog:
    return CallLog(world)
