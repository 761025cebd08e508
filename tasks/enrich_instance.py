"""enrich-instance: learn what the finding's instance is before acting on it.

State, platform, tags (owner, environment, the `irflow:exempt=true` exemption), VPC, subnet,
network interfaces and their security groups, instance profile and role, Auto Scaling group,
target groups, EBS volumes, SSM managed status (and whether the agent is online), and the other
open GuardDuty findings on the same instance. Read in the member account through
IrflowMemberRole; GuardDuty findings are read in the security account (the GuardDuty delegated
administrator). A lookup AWS refuses or the environment lacks is noted, not fatal; an instance
that no longer exists fails with `irflow.InstanceNotFound`.

Example event:

    {"incident": {"incident_id": "inc-d38e539f762a60f7", "finding_id": "96c7b8e1f2a34d5c9e0b1a2f3c4d5e6f",
                  "finding_type": "UnauthorizedAccess:EC2/SSHBruteForce", "severity": 8.0, "severity_band": "high",
                  "account_id": "222222222222", "region": "us-east-1", "instance_id": "i-0a1b2c3d4e5f60718"}}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from tasks.common import ec2 as ec2_reads
from tasks.common import incidents
from tasks.common.aws import client, error_code, error_message, member_session, session_client
from tasks.common.handler import task_handler
from tasks.common.models import IncidentInput, InstanceFacts, InterfaceFacts, SsmFacts, VolumeFacts
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="enrich-instance",
    member_permissions=("ec2:DescribeInstances", "ec2:DescribeVolumes", "ec2:DescribeIamInstanceProfileAssociations",
                        "iam:GetInstanceProfile", "autoscaling:DescribeAutoScalingInstances",
                        "autoscaling:DescribeAutoScalingGroups",
                        "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth",
                        "ssm:DescribeInstanceInformation"),
    central_permissions=("sts:AssumeRole", "guardduty:ListDetectors", "guardduty:ListFindings",
                         "guardduty:GetFindings", "dynamodb:PutItem"),
    destructive=False, model="tasks.common.models.IncidentInput", timeout_seconds=60)

EXEMPT_TAG = "irflow:exempt"
OWNER_TAGS = ("Owner", "owner", "team", "Team")
ENVIRONMENT_TAGS = ("Environment", "environment", "env", "Env")
T = TypeVar("T")


def _first_tag(tags: dict[str, str], names: tuple[str, ...]) -> str | None:
    return next((tags[n] for n in names if tags.get(n)), None)


def _noted(notes: list[str], what: str, read: Callable[[], T], default: T) -> T:
    """Read something optional; AWS refusing it (or lacking it) becomes a note, not a failure."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return read()
    except (ClientError, BotoCoreError) as error:
        notes.append(f"{what} unreadable: {error_code(error) or type(error).__name__}: {error_message(error)}")
        return default


def _profile_and_role(session: Any, ec2: Any, instance: dict[str, Any], notes: list[str]) -> tuple[str | None, str | None]:
    profile = _noted(notes, "instance profile", lambda: ec2_reads.instance_profile_arn(ec2, instance),
                     (instance.get("IamInstanceProfile") or {}).get("Arn"))
    if not profile:
        return None, None
    iam = session_client(session, "iam")
    return profile, _noted(notes, f"instance profile {profile}", lambda: ec2_reads.role_of_profile(iam, profile), None)


def _volumes(ec2: Any, instance: dict[str, Any], notes: list[str]) -> list[VolumeFacts]:
    devices = {m["Ebs"]["VolumeId"]: m.get("DeviceName") for m in instance.get("BlockDeviceMappings", []) if "Ebs" in m}
    if not devices:
        return []
    described = _noted(notes, "volumes", lambda: ec2.describe_volumes(VolumeIds=sorted(devices))["Volumes"],
                       [{"VolumeId": v} for v in devices])
    return [VolumeFacts(volume_id=v["VolumeId"], device=devices.get(v["VolumeId"]), size_gib=v.get("Size"),
                        encrypted=v.get("Encrypted")) for v in sorted(described, key=lambda v: v["VolumeId"])]


def _ssm(ssm: Any, instance_id: str) -> SsmFacts:
    found = ssm.describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [instance_id]}])["InstanceInformationList"]
    if not found:
        return SsmFacts()
    info = found[0]
    return SsmFacts(managed=True, ping_status=info.get("PingStatus"), platform_name=info.get("PlatformName"),
                    agent_version=info.get("AgentVersion"))


def other_findings(guardduty: Any, instance_id: str, finding_id: str) -> list[dict[str, Any]]:
    """Open (unarchived) GuardDuty findings on the same instance, other than this one, worst first."""
    found: list[dict[str, Any]] = []
    for detector in guardduty.list_detectors().get("DetectorIds", []):
        ids = guardduty.list_findings(DetectorId=detector, FindingCriteria={"Criterion": {
            "resource.instanceDetails.instanceId": {"Eq": [instance_id]},
            "service.archived": {"Eq": ["false"]}}}, MaxResults=50).get("FindingIds", [])
        ids = [i for i in ids if i != finding_id]
        if ids:
            for f in guardduty.get_findings(DetectorId=detector, FindingIds=ids)["Findings"]:
                found.append({"id": f["Id"], "type": f["Type"], "severity": f["Severity"], "title": f.get("Title", "")})
    return sorted(found, key=lambda f: -float(f["severity"]))


def enrich(incident_id: str, account_id: str, region: str, instance_id: str, finding_id: str,
           session: Any = None, guardduty: Any = None) -> InstanceFacts:
    """Everything the playbook needs to know about the instance."""
    session = session or member_session(account_id, incident_id, region)
    ec2 = session_client(session, "ec2")
    instance = ec2_reads.describe_instance(ec2, instance_id)
    notes: list[str] = []
    tags = {t["Key"]: t.get("Value", "") for t in instance.get("Tags", [])}
    vpc_id = instance.get("VpcId")
    profile_arn, role_name = _profile_and_role(session, ec2, instance, notes)
    autoscaling, elbv2, ssm = (session_client(session, s) for s in ("autoscaling", "elbv2", "ssm"))
    group = _noted(notes, "Auto Scaling membership", lambda: ec2_reads.auto_scaling_group(autoscaling, instance_id), None)
    no_groups: list[dict[str, Any]] = []
    groups = _noted(notes, "target groups", lambda: ec2_reads.target_groups(elbv2, instance_id, vpc_id), no_groups)
    facts = InstanceFacts(
        instance_id=instance_id,
        state=instance["State"]["Name"],
        platform="Windows" if str(instance.get("Platform", "")).lower() == "windows" else "Linux",
        instance_type=instance.get("InstanceType"),
        image_id=instance.get("ImageId"),
        launch_time=instance["LaunchTime"].isoformat() if instance.get("LaunchTime") else None,
        vpc_id=vpc_id,
        subnet_id=instance.get("SubnetId"),
        private_ip=instance.get("PrivateIpAddress"),
        public_ip=instance.get("PublicIpAddress"),
        security_groups=[{"id": g["GroupId"], "name": g.get("GroupName", "")} for g in instance.get("SecurityGroups", [])],
        interfaces=[InterfaceFacts(interface_id=n["NetworkInterfaceId"], groups=[g["GroupId"] for g in n.get("Groups", [])])
                    for n in instance.get("NetworkInterfaces", [])],
        tags=tags,
        owner=_first_tag(tags, OWNER_TAGS),
        environment=_first_tag(tags, ENVIRONMENT_TAGS),
        exempt=tags.get(EXEMPT_TAG, "").strip().lower() == "true",
        instance_profile_arn=profile_arn,
        role_name=role_name,
        auto_scaling_group=group["name"] if group else None,
        target_groups=sorted({t["arn"] for t in groups}),
        volumes=_volumes(ec2, instance, notes),
        ssm=_noted(notes, "SSM status", lambda: _ssm(ssm, instance_id), SsmFacts()),
        other_findings=_noted(notes, "other GuardDuty findings", lambda: other_findings(
            guardduty or client("guardduty", region), instance_id, finding_id), None),
        notes=notes,
    )
    return facts


def summary(facts: InstanceFacts) -> str:
    parts = [f"{facts.instance_id} is {facts.state} ({facts.platform}, {facts.instance_type or 'unknown type'})"]
    if facts.vpc_id:
        parts.append(f"in {facts.vpc_id}/{facts.subnet_id}")
    if facts.auto_scaling_group:
        parts.append(f"Auto Scaling group {facts.auto_scaling_group}")
    if facts.target_groups:
        parts.append(f"{len(facts.target_groups)} target group(s)")
    if facts.role_name:
        parts.append(f"role {facts.role_name}")
    parts.append(f"SSM {facts.ssm.ping_status or 'not managed'}")
    if facts.exempt:
        parts.append("EXEMPT (irflow:exempt=true)")
    return "; ".join(parts)


def run(data: IncidentInput) -> dict[str, Any]:
    i = data.incident
    facts = enrich(i.incident_id, i.account_id, i.region, i.instance_id, i.finding_id)
    incidents.add_timeline(i.incident_id, "enrich-instance", summary(facts),
                           detail={"notes": facts.notes} if facts.notes else None)
    return facts.model_dump()


handler = task_handler(TASK, IncidentInput, run)
