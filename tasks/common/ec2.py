"""Reading an EC2 instance's surroundings in a member account, shared by enrich, isolate and release.

Where moto and AWS can disagree the reads go to the authoritative API: network interface
groups from DescribeNetworkInterfaces (not the instance's own `SecurityGroups`), the instance
profile from its associations (DescribeInstances can lag after a replacement).
"""

from __future__ import annotations

from typing import Any

from .aws import error_code, error_message
from .errors import InstanceNotFound


def describe_instance(ec2: Any, instance_id: str) -> dict[str, Any]:
    """The instance as DescribeInstances returns it; `irflow.InstanceNotFound` if it does not exist."""
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except Exception as error:
        if error_code(error) in ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"):
            raise InstanceNotFound(f"{instance_id} does not exist: {error_message(error)}") from None
        raise
    instances = [i for r in reservations for i in r.get("Instances", [])]
    if not instances:
        raise InstanceNotFound(f"{instance_id} does not exist")
    instance: dict[str, Any] = instances[0]
    return instance


def interfaces(ec2: Any, instance_id: str) -> list[dict[str, Any]]:
    """[{interface_id, groups}] for every network interface attached to the instance."""
    found = ec2.describe_network_interfaces(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}])["NetworkInterfaces"]
    return sorted(({"interface_id": n["NetworkInterfaceId"], "groups": [g["GroupId"] for g in n.get("Groups", [])],
                    "device_index": n.get("Attachment", {}).get("DeviceIndex", 0)} for n in found),
                  key=lambda n: (n["device_index"], n["interface_id"]))


def instance_profile_arn(ec2: Any, instance: dict[str, Any]) -> str | None:
    """The instance profile associated now (from the associations API)."""
    associations = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance["InstanceId"]]}])["IamInstanceProfileAssociations"]
    live = [a for a in associations if a.get("State") in ("associated", "associating")]
    return str(live[0]["IamInstanceProfile"]["Arn"]) if live else None


def role_of_profile(iam: Any, profile_arn: str) -> str | None:
    roles = iam.get_instance_profile(InstanceProfileName=profile_arn.rsplit("/", 1)[-1])["InstanceProfile"]["Roles"]
    return str(roles[0]["RoleName"]) if roles else None


def auto_scaling_group(autoscaling: Any, instance_id: str) -> dict[str, Any] | None:
    """The instance's Auto Scaling group (name and sizes), or None."""
    found = autoscaling.describe_auto_scaling_instances(InstanceIds=[instance_id])["AutoScalingInstances"]
    if not found:
        return None
    name = found[0]["AutoScalingGroupName"]
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    group = groups[0] if groups else {}
    return {"name": name, "lifecycle_state": found[0].get("LifecycleState"), "min_size": group.get("MinSize"),
            "max_size": group.get("MaxSize"), "desired_capacity": group.get("DesiredCapacity")}


def target_groups(elbv2: Any, instance_id: str, vpc_id: str | None) -> list[dict[str, Any]]:
    """[{arn, port}] of the instance-type target groups (in its VPC) that have the instance registered.

    A target being deregistered shows as `draining` for the deregistration delay: it is no longer a member.
    """
    member_of: list[dict[str, Any]] = []
    for page in elbv2.get_paginator("describe_target_groups").paginate():
        for group in page.get("TargetGroups", []):
            if group.get("TargetType", "instance") != "instance" or (vpc_id and group.get("VpcId") != vpc_id):
                continue
            health = elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
            for description in health.get("TargetHealthDescriptions", []):
                target = description["Target"]
                if target["Id"] == instance_id and description.get("TargetHealth", {}).get("State") != "draining":
                    member_of.append({"arn": group["TargetGroupArn"], "port": target.get("Port")})
    return sorted(member_of, key=lambda t: (t["arn"], t["port"] or 0))
