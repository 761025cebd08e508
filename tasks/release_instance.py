"""release-instance: undo isolation from the original state isolate-instance recorded (`irflow release INCIDENT_ID`).

Restores each network interface's security groups, termination protection and shutdown
behaviour, re-registers the instance with its target groups (same port) and re-attaches it
to its Auto Scaling group (which raises the group's desired capacity by one: the replacement
launched at isolation stays), and tags it `irflow:status=released`. The session-revocation
policy is left in place: it denies only credentials issued before isolation, which may have
been stolen, and does not affect new sessions. A stopped instance stays stopped. Each step is
recorded; one that fails is recorded and the rest still run.

Example event:

    {"incident_id": "inc-d38e539f762a60f7", "by": "alice@example.com"}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tasks.common import ec2 as ec2_reads
from tasks.common import incidents
from tasks.common.aws import error_code, error_message, member_session, session_client
from tasks.common.errors import InvalidInput, NothingToRelease
from tasks.common.handler import task_handler
from tasks.common.models import RELEASED, ReleaseInput
from tasks.isolate_instance import INCIDENT_TAG, STATUS_TAG, revoke_policy_name, set_shutdown_behavior
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="release-instance",
    member_permissions=(
        "ec2:DescribeInstances", "ec2:DescribeInstanceAttribute", "ec2:ModifyInstanceAttribute",
        "ec2:DescribeNetworkInterfaces", "ec2:ModifyNetworkInterfaceAttribute", "ec2:CreateTags",
        "autoscaling:DescribeAutoScalingInstances", "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:AttachInstances", "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:RegisterTargets"),
    central_permissions=("sts:AssumeRole", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
    destructive=False, model="tasks.common.models.ReleaseInput", timeout_seconds=60)

DONE, UNCHANGED = "done", "unchanged"


def release(incident_id: str, by: str, instance_id: str | None = None, session: Any = None) -> dict[str, Any]:
    """Restore the recorded original state; returns the steps and their results."""
    meta = incidents.get_meta(incident_id)
    if meta is None:
        raise InvalidInput(f"no incident {incident_id}")
    instance_id = instance_id or meta["resource"]["id"]
    original = incidents.get_original_state(incident_id, instance_id)
    if original is None:
        raise NothingToRelease(f"{incident_id} recorded no original state for {instance_id}: it was never isolated")
    session = session or member_session(meta["account_id"], incident_id, meta["region"])
    ec2 = session_client(session, "ec2")
    instance = ec2_reads.describe_instance(ec2, instance_id)
    steps: list[dict[str, str]] = []

    def step(name: str, target: str, work: Callable[[], str]) -> None:
        try:
            result = work()
        except Exception as error:
            result = f"failed: {error_code(error) or type(error).__name__}: {error_message(error)}"
        steps.append(incidents.add_action(incident_id, f"release-{name}", target, result))

    current = {i["interface_id"]: i["groups"] for i in ec2_reads.interfaces(ec2, instance_id)}
    for interface in original.get("interfaces", []):
        interface_id, groups = interface["interface_id"], interface["groups"]

        def restore_groups(interface_id: str = interface_id, groups: list[str] = groups) -> str:
            if interface_id not in current:
                return "skipped: no longer attached"
            if current[interface_id] == groups:
                return UNCHANGED
            ec2.modify_network_interface_attribute(NetworkInterfaceId=interface_id, Groups=groups)
            return f"{DONE}: {', '.join(groups)}"

        step("restore-security-groups", interface_id, restore_groups)

    def restore_attributes() -> str:
        ec2.modify_instance_attribute(InstanceId=instance_id,
                                      DisableApiTermination={"Value": bool(original["disable_api_termination"])})
        set_shutdown_behavior(ec2, instance_id, original["shutdown_behavior"])
        return (f"{DONE}: termination protection {'on' if original['disable_api_termination'] else 'off'}, "
                f"shutdown behaviour {original['shutdown_behavior']}")

    step("restore-instance-attributes", instance_id, restore_attributes)

    elbv2 = session_client(session, "elbv2")
    registered = {t["arn"] for t in ec2_reads.target_groups(elbv2, instance_id, original.get("vpc_id"))}
    for target in original.get("target_groups", []):
        def register(target: dict[str, Any] = target) -> str:
            if target["arn"] in registered:
                return UNCHANGED
            elbv2.register_targets(TargetGroupArn=target["arn"], Targets=[
                {"Id": instance_id, **({"Port": target["port"]} if target.get("port") else {})}])
            return DONE

        step("register-with-target-group", target["arn"], register)

    group = original.get("auto_scaling_group")
    if group:
        autoscaling = session_client(session, "autoscaling")

        def attach() -> str:
            if ec2_reads.auto_scaling_group(autoscaling, instance_id):
                return UNCHANGED
            if instance["State"]["Name"] != "running":
                return f"skipped: the instance is {instance['State']['Name']} (attach it when it runs)"
            autoscaling.attach_instances(InstanceIds=[instance_id], AutoScalingGroupName=group["name"])
            return f"{DONE}: desired capacity is now one more than before isolation"

        step("attach-to-auto-scaling-group", group["name"], attach)

    if original.get("role_name"):
        steps.append(incidents.add_action(
            incident_id, "release-revoke-role-sessions", original["role_name"],
            f"kept: policy {revoke_policy_name(incident_id)} denies only sessions issued before isolation"))

    def tag() -> str:
        ec2.create_tags(Resources=[instance_id], Tags=[{"Key": STATUS_TAG, "Value": "released"},
                                                       {"Key": INCIDENT_TAG, "Value": incident_id}])
        return DONE

    step("tag-instance", instance_id, tag)
    failed = [s for s in steps if s["result"].startswith("failed")]
    incidents.set_status(incident_id, RELEASED)
    incidents.add_timeline(incident_id, "release-instance",
                           f"{instance_id} released by {by}" + (f"; {len(failed)} step(s) failed" if failed else ""))
    return {"released": True, "instance_id": instance_id, "steps": steps, "failed": len(failed)}


def run(data: ReleaseInput) -> dict[str, Any]:
    return release(data.incident_id, data.by, data.instance_id)


handler = task_handler(TASK, ReleaseInput, run)
