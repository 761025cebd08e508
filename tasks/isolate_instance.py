"""isolate-instance: contain the instance, keeping it (and its evidence) for investigation.

The instance's original state is recorded first (in the incidents table, once: a rerun never
overwrites it), so release-instance can undo everything. Then, each step skipped when
already done so that a second run changes nothing:
- termination protection on, shutdown behaviour `stop` (nobody destroys the evidence by accident);
- deregistered from its target groups, then detached from its Auto Scaling group (which
  launches a replacement: the service keeps its capacity);
- every network interface moved to the VPC's isolation security group (no rules at all),
  passing first through an allow-all group: security group changes do not cut tracked
  connections, so the instance's open sessions (an attacker's shell) are first made
  untracked by allowing everything, then dropped by the empty group. Both groups are
  created on demand, one per VPC;
- the instance role's sessions issued before now are revoked (an inline deny conditioned on
  `aws:TokenIssueTime`, as the IAM console's "Revoke active sessions" does; it affects every
  holder of the role's older credentials, which is the point for stolen ones);
- tags `irflow:incident` and `irflow:status=isolated`.

Example event:

    {"incident": {"incident_id": "inc-d38e539f762a60f7", "finding_id": "96c7b8e1f2a34d5c9e0b1a2f3c4d5e6f",
                  "finding_type": "UnauthorizedAccess:EC2/SSHBruteForce", "severity": 8.0, "severity_band": "high",
                  "account_id": "222222222222", "region": "us-east-1", "instance_id": "i-0a1b2c3d4e5f60718"}}
"""

from __future__ import annotations

import json
from typing import Any

from tasks.common import clock, incidents
from tasks.common import ec2 as ec2_reads
from tasks.common.aws import error_code, member_session, session_client
from tasks.common.errors import InstanceNotFound
from tasks.common.handler import task_handler
from tasks.common.models import CONTAINED, IncidentInput, IncidentRef
from tasks.common.principals import revoke_policy_name
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="isolate-instance",
    member_permissions=(
        "ec2:DescribeInstances", "ec2:DescribeInstanceAttribute", "ec2:ModifyInstanceAttribute",
        "ec2:DescribeNetworkInterfaces", "ec2:ModifyNetworkInterfaceAttribute", "ec2:DescribeSecurityGroups",
        "ec2:CreateSecurityGroup", "ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress", "ec2:CreateTags",
        "ec2:DescribeIamInstanceProfileAssociations", "iam:GetInstanceProfile", "iam:GetRolePolicy",
        "iam:PutRolePolicy", "autoscaling:DescribeAutoScalingInstances", "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DetachInstances", "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:DeregisterTargets"),
    central_permissions=("sts:AssumeRole", "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"),
    destructive=False, model="tasks.common.models.IncidentInput", timeout_seconds=120)

ISOLATION_GROUP = "irflow-isolation"
PASSTHROUGH_GROUP = "irflow-isolation-passthrough"
STATUS_TAG, INCIDENT_TAG = "irflow:status", "irflow:incident"
ALL_TRAFFIC_V4 = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
ALL_TRAFFIC_V6 = {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}
DONE, UNCHANGED = "done", "unchanged"


def capture_original(session: Any, instance: dict[str, Any]) -> dict[str, Any]:
    """Everything isolation changes, as it is now."""
    ec2 = session_client(session, "ec2")
    instance_id = instance["InstanceId"]
    vpc_id = instance.get("VpcId")
    termination = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="disableApiTermination")
    shutdown = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior")
    profile = ec2_reads.instance_profile_arn(ec2, instance)
    tags = {t["Key"]: t.get("Value", "") for t in instance.get("Tags", [])}
    return {
        "instance_id": instance_id,
        "vpc_id": vpc_id,
        "captured_at": clock.iso(),
        "interfaces": ec2_reads.interfaces(ec2, instance_id),
        "disable_api_termination": bool(termination["DisableApiTermination"]["Value"]),
        "shutdown_behavior": shutdown["InstanceInitiatedShutdownBehavior"]["Value"],
        "auto_scaling_group": ec2_reads.auto_scaling_group(session_client(session, "autoscaling"), instance_id),
        "target_groups": ec2_reads.target_groups(session_client(session, "elbv2"), instance_id, vpc_id),
        "role_name": ec2_reads.role_of_profile(session_client(session, "iam"), profile) if profile else None,
        "tags": {STATUS_TAG: tags.get(STATUS_TAG), INCIDENT_TAG: tags.get(INCIDENT_TAG)},
    }


def _find_group(ec2: Any, vpc_id: str, name: str) -> dict[str, Any] | None:
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                  {"Name": "group-name", "Values": [name]}])["SecurityGroups"]
    return groups[0] if groups else None


def _create_group(ec2: Any, vpc_id: str, name: str, description: str) -> dict[str, Any]:
    group_id = ec2.create_security_group(
        GroupName=name, Description=description, VpcId=vpc_id,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": [
            {"Key": "irflow:purpose", "Value": name}, {"Key": "Name", "Value": name}]}])["GroupId"]
    return dict(ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0])


def isolation_group(ec2: Any, vpc_id: str) -> tuple[str, str]:
    """The VPC's isolation group with no rules at all (created on demand, emptied if someone added rules)."""
    group = _find_group(ec2, vpc_id, ISOLATION_GROUP)
    result = UNCHANGED
    if group is None:
        group = _create_group(ec2, vpc_id, ISOLATION_GROUP, "irflow isolation: no inbound or outbound traffic")
        result = "created"
    if group.get("IpPermissions"):
        ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=group["IpPermissions"])
        result = DONE if result == UNCHANGED else result
    if group.get("IpPermissionsEgress"):  # a new group allows all outbound traffic by default
        ec2.revoke_security_group_egress(GroupId=group["GroupId"], IpPermissions=group["IpPermissionsEgress"])
        result = DONE if result == UNCHANGED else result
    return str(group["GroupId"]), result


def passthrough_group(ec2: Any, vpc_id: str) -> str:
    """The VPC's allow-all group, used for an instant so tracked connections become untracked."""
    group = _find_group(ec2, vpc_id, PASSTHROUGH_GROUP)
    if group is None:
        group = _create_group(ec2, vpc_id, PASSTHROUGH_GROUP,
                              "irflow isolation step: allow all, so the next change cuts tracked connections")
        ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[ALL_TRAFFIC_V4, ALL_TRAFFIC_V6])
        try:
            ec2.authorize_security_group_egress(GroupId=group["GroupId"], IpPermissions=[ALL_TRAFFIC_V6])
        except Exception as error:
            if error_code(error) != "InvalidPermission.Duplicate":
                raise
    return str(group["GroupId"])


def set_shutdown_behavior(ec2: Any, instance_id: str, value: str) -> None:
    """ModifyInstanceAttribute in its Attribute/Value form, which AWS documents for this attribute.

    (moto 5.2.5 mishandles the `InstanceInitiatedShutdownBehavior={"Value": ...}` form: it sets
    nothing and empties the instance's security groups.)
    """
    ec2.modify_instance_attribute(InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior", Value=value)


def _attribute(ec2: Any, instance_id: str, name: str, key: str) -> Any:
    return ec2.describe_instance_attribute(InstanceId=instance_id, Attribute=name)[key]["Value"]


def isolate(incident: IncidentRef, session: Any = None) -> dict[str, Any]:
    """Isolate the instance (idempotently); returns what was done, step by step."""
    session = session or member_session(incident.account_id, incident.incident_id, incident.region)
    ec2 = session_client(session, "ec2")
    instance_id = incident.instance_id
    instance = ec2_reads.describe_instance(ec2, instance_id)
    if instance["State"]["Name"] in ("shutting-down", "terminated"):
        raise InstanceNotFound(f"{instance_id} is {instance['State']['Name']}: nothing to isolate")
    incidents.save_original_state(incident.incident_id, instance_id, capture_original(session, instance))
    original = incidents.get_original_state(incident.incident_id, instance_id) or {}
    steps: list[dict[str, str]] = []

    def step(name: str, target: str, result: str, detail: dict[str, Any] | None = None) -> None:
        steps.append(incidents.add_action(incident.incident_id, name, target, result, detail,
                                          keep_existing=result == UNCHANGED))

    # 1. Nobody terminates it or lets it terminate itself: evidence first.
    if not _attribute(ec2, instance_id, "disableApiTermination", "DisableApiTermination"):
        ec2.modify_instance_attribute(InstanceId=instance_id, DisableApiTermination={"Value": True})
        step("enable-termination-protection", instance_id, DONE)
    else:
        step("enable-termination-protection", instance_id, UNCHANGED)
    if _attribute(ec2, instance_id, "instanceInitiatedShutdownBehavior", "InstanceInitiatedShutdownBehavior") != "stop":
        set_shutdown_behavior(ec2, instance_id, "stop")
        step("set-shutdown-behavior-stop", instance_id, DONE)
    else:
        step("set-shutdown-behavior-stop", instance_id, UNCHANGED)

    # 2. Out of the load balancers, then out of the Auto Scaling group.
    vpc_id = instance.get("VpcId")
    elbv2 = session_client(session, "elbv2")
    for target in ec2_reads.target_groups(elbv2, instance_id, vpc_id):
        registration = {"Id": instance_id, **({"Port": target["port"]} if target.get("port") else {})}
        elbv2.deregister_targets(TargetGroupArn=target["arn"], Targets=[registration])
        step("deregister-from-target-group", target["arn"], DONE)
    for target in original.get("target_groups") or []:
        if not any(s["target"] == target["arn"] for s in steps):
            step("deregister-from-target-group", target["arn"], UNCHANGED)
    autoscaling = session_client(session, "autoscaling")
    group = ec2_reads.auto_scaling_group(autoscaling, instance_id)
    if group and group["lifecycle_state"] not in ("Detaching", "Detached"):
        autoscaling.detach_instances(InstanceIds=[instance_id], AutoScalingGroupName=group["name"],
                                     ShouldDecrementDesiredCapacity=False)
        step("detach-from-auto-scaling-group", group["name"], DONE + ": a replacement instance is launched")
    elif original.get("auto_scaling_group"):
        step("detach-from-auto-scaling-group", original["auto_scaling_group"]["name"], UNCHANGED)

    # 3. Network: allow-all for an instant (tracked connections become untracked), then nothing at all.
    if vpc_id:
        isolation_id, created = isolation_group(ec2, vpc_id)
        if created != UNCHANGED:
            step("prepare-isolation-group", isolation_id, created)
        passthrough_id: str | None = None
        for interface in ec2_reads.interfaces(ec2, instance_id):
            if interface["groups"] == [isolation_id]:
                step("isolate-network-interface", interface["interface_id"], UNCHANGED)
                continue
            passthrough_id = passthrough_id or passthrough_group(ec2, vpc_id)
            ec2.modify_network_interface_attribute(NetworkInterfaceId=interface["interface_id"], Groups=[passthrough_id])
            ec2.modify_network_interface_attribute(NetworkInterfaceId=interface["interface_id"], Groups=[isolation_id])
            step("isolate-network-interface", interface["interface_id"], f"{DONE}: {isolation_id}",
                 {"from": interface["groups"], "via": passthrough_id})

    # 4. Credentials already handed out by the instance role stop working.
    role_name = original.get("role_name")
    if role_name:
        step("revoke-role-sessions", role_name, _revoke_sessions(session_client(session, "iam"), role_name,
                                                               incident.incident_id))

    # 5. Say so on the instance.
    tags = {t["Key"]: t.get("Value", "") for t in instance.get("Tags", [])}
    wanted = {INCIDENT_TAG: incident.incident_id, STATUS_TAG: "isolated"}
    if any(tags.get(k) != v for k, v in wanted.items()):
        ec2.create_tags(Resources=[instance_id], Tags=[{"Key": k, "Value": v} for k, v in wanted.items()])
        step("tag-instance", instance_id, DONE)
    else:
        step("tag-instance", instance_id, UNCHANGED)

    incidents.set_status(incident.incident_id, CONTAINED)
    changed = [s for s in steps if s["result"] != UNCHANGED]
    incidents.add_timeline(incident.incident_id, "isolate-instance",
                           f"{instance_id} isolated ({len(changed)} change(s))" if changed
                           else f"{instance_id} was already isolated: nothing changed")
    return {"isolated": True, "changed": bool(changed), "actions": steps}


def _revoke_sessions(iam: Any, role_name: str, incident_id: str) -> str:
    """Deny everything to the role's sessions issued before now (once per incident)."""
    name = revoke_policy_name(incident_id)
    try:
        iam.get_role_policy(RoleName=role_name, PolicyName=name)
        return UNCHANGED
    except Exception as error:
        if error_code(error) != "NoSuchEntity":
            raise
    cutoff = clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    iam.put_role_policy(RoleName=role_name, PolicyName=name, PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "IrflowRevokeOlderSessions", "Effect": "Deny", "Action": "*", "Resource": "*",
                       "Condition": {"DateLessThan": {"aws:TokenIssueTime": cutoff}}}]}))
    return f"{DONE}: sessions issued before {cutoff} denied"


def run(data: IncidentInput) -> dict[str, Any]:
    return isolate(data.incident)


handler = task_handler(TASK, IncidentInput, run)
