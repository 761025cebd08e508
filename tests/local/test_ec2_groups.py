"""Security-group swaps in the embedded AWS end as they end on AWS."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from irflow.local.world import World

MEMBER = "222222222222"


@pytest.fixture
def instance(world: World) -> dict:
    ec2 = world.client("ec2", MEMBER)
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    groups = [ec2.create_security_group(GroupName=n, Description=n, VpcId=vpc)["GroupId"] for n in ("app", "iso")]
    launched = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, SecurityGroupIds=[groups[0]])
    found = launched["Instances"][0]
    return {"id": found["InstanceId"], "eni": found["NetworkInterfaces"][0]["NetworkInterfaceId"],
            "app": groups[0], "iso": groups[1]}


def _seen(world: World, instance: dict) -> tuple[list[str], list[str], list[str]]:
    ec2 = world.client("ec2", MEMBER)
    described = ec2.describe_instances(InstanceIds=[instance["id"]])["Reservations"][0]["Instances"][0]
    eni = ec2.describe_network_interfaces(NetworkInterfaceIds=[instance["eni"]])["NetworkInterfaces"][0]
    return ([g["GroupId"] for g in eni["Groups"]], [g["GroupId"] for g in described["NetworkInterfaces"][0]["Groups"]],
            [g["GroupId"] for g in described["SecurityGroups"]])


def test_interface_swap_replaces_the_groups(world: World, instance: dict) -> None:
    world.client("ec2", MEMBER).modify_network_interface_attribute(NetworkInterfaceId=instance["eni"],
                                                                   Groups=[instance["iso"]])
    assert _seen(world, instance) == ([instance["iso"]],) * 3


def test_instance_swap_sets_the_primary_interface(world: World, instance: dict) -> None:
    world.client("ec2", MEMBER).modify_instance_attribute(InstanceId=instance["id"], Groups=[instance["iso"]])
    assert _seen(world, instance) == ([instance["iso"]],) * 3


def test_unknown_group_is_refused_and_nothing_changes(world: World, instance: dict) -> None:
    ec2 = world.client("ec2", MEMBER)
    for call in (lambda: ec2.modify_network_interface_attribute(NetworkInterfaceId=instance["eni"], Groups=["sg-0nope"]),
                 lambda: ec2.modify_instance_attribute(InstanceId=instance["id"], Groups=["sg-0nope"])):
        with pytest.raises(ClientError) as caught:
            call()
        assert caught.value.response["Error"]["Code"] == "InvalidGroup.NotFound"
    assert _seen(world, instance) == ([instance["app"]],) * 3
