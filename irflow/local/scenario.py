"""Scenarios: a YAML description of accounts, resources and events, and the world they leave.

The format is issue 3's (`irflow simulate SCENARIO.yaml`):

    name: SSH brute force against a web server
    accounts: {security: "111111111111", members: {"222222222222": {role: present}}}
    resources:
      web: {type: ec2-instance, account: "222222222222", tags: {Name: web-1}, platform: linux,
            ssm_managed: true, auto_scaling_group: web-asg, target_group: web-tg,
            instance_profile: web-role}
    event: {...}          # or events: [...] in order, or event_file: path relative to the scenario
    approvals: approve    # approve | reject | timeout
    expect: {...}

Resource types and their options: ec2-instance (account, region, tags, platform, ssm_managed,
auto_scaling_group, target_group, instance_profile, and `state: running|stopped|terminated` for
an instance that is already stopped or gone), iam-user (account, tags, access_keys), iam-role
(account, tags), s3-bucket (account, region, tags, public, objects). Strings in events may use
`${NAME.id|arn|name|account|region}`. `load` checks everything before anything is created and
raises `ScenarioError` with one line naming the problem. Issue 5's kinds (security-group,
config-rule), its options for iam-user, iam-role and s3-bucket, and `${NAME.access_key_id}` are
in `scenario_kinds.py`; the alarm and log kinds (waf-web-acl, waf-ip-set, log-group) in
`edge_kinds.py`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import edge_kinds, scenario_kinds
from .ec2_images import image_for
from .world import World

TYPES = ("ec2-instance", "iam-user", "iam-role", "s3-bucket", *scenario_kinds.NEW_KINDS, *edge_kinds.TYPES)
COMMON_OPTIONS = {"type", "account", "region", "tags"}
OPTIONS = {
    "ec2-instance": {"platform", "ssm_managed", "auto_scaling_group", "target_group", "instance_profile", "state"},
    "iam-user": {"access_keys"},
    "iam-role": set(),
    "s3-bucket": {"public", "objects"},
}
for _kind, _names in [*scenario_kinds.OPTIONS.items(), *edge_kinds.OPTIONS.items()]:
    OPTIONS[_kind] = OPTIONS.get(_kind, set()) | _names
TOP_LEVEL = {"name", "description", "accounts", "resources", "event", "events", "event_file", "approvals", "expect"}
APPROVALS = ("approve", "reject", "timeout")
ATTRIBUTES = ("id", "arn", "name", "account", "region", *scenario_kinds.ATTRIBUTES)
ACCOUNT = re.compile(r"^\d{12}$")
RESOURCE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
REFERENCE = re.compile(r"\$\{([^}]*)\}")


class ScenarioError(Exception):
    """A scenario or event that cannot be read; the message is one line for the user."""


@dataclass(frozen=True)
class ResourceSpec:
    name: str
    type: str
    account: str | None
    region: str | None
    options: dict[str, Any]


@dataclass
class Scenario:
    path: Path
    name: str
    security_account: str
    members: dict[str, bool]  # account -> IrflowMemberRole present
    resources: list[ResourceSpec]
    events: list[Any]
    approvals: str
    expect: dict[str, Any] | None = None

    def event_region(self) -> str | None:
        for event in self.events:
            if isinstance(event, dict) and isinstance(event.get("region"), str):
                return str(event["region"])
        return None

    def event_account(self) -> str | None:
        for event in self.events:
            if isinstance(event, dict):
                detail = event.get("detail")
                if isinstance(detail, dict) and isinstance(detail.get("accountId"), str):
                    return str(detail["accountId"])
                if isinstance(event.get("account"), str):
                    return str(event["account"])
        return None


@dataclass
class Created:
    """A resource made in the embedded AWS, with the values `${NAME.attr}` refers to."""

    spec: ResourceSpec
    id: str
    arn: str
    name: str
    account: str
    region: str
    extra: dict[str, Any] = field(default_factory=dict)

    def attribute(self, attr: str) -> str:
        if attr in scenario_kinds.ATTRIBUTES:
            return scenario_kinds.ATTRIBUTES[attr](self)
        return str(getattr(self, attr))


# --- reading -----------------------------------------------------------------------------------


def _account(value: Any, where: str) -> str:
    """A 12-digit account id; YAML may have read an unquoted one as a number."""
    text = f"{value:012d}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
    if not ACCOUNT.match(text):
        raise ScenarioError(f"{where}: {value!r} is not a 12-digit AWS account id")
    return text


def _read_structured(path: Path, what: str) -> Any:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ScenarioError(f"cannot read {what} {path}: {error.strerror or error}") from error
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ScenarioError(f"{what} {path}{where} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: "
                            f"{detail}") from error


def _check_options(name: str, body: dict[str, Any]) -> None:
    kind = body["type"]
    unknown = set(body) - COMMON_OPTIONS - OPTIONS[kind]
    if unknown:
        raise ScenarioError(f"resource {name}: unknown option {sorted(unknown)[0]!r} for type {kind} "
                            f"(allowed: {', '.join(sorted(COMMON_OPTIONS - {'type'} | OPTIONS[kind]))})")
    tags = body.get("tags", {})
    if not isinstance(tags, dict) or not all(isinstance(k, str) for k in tags):
        raise ScenarioError(f"resource {name}: tags must be a mapping of names to values")
    checks: dict[str, Callable[[Any], bool]] = {
        "platform": lambda v: v in ("linux", "windows"),
        "ssm_managed": lambda v: isinstance(v, bool),
        "public": lambda v: isinstance(v, bool),
        "access_keys": lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 2,
        "state": lambda v: v in ("running", "stopped", "terminated"),
        "objects": lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v),
        "auto_scaling_group": lambda v: isinstance(v, str) and bool(v),
        "target_group": lambda v: isinstance(v, str) and bool(re.fullmatch(r"[A-Za-z0-9-]{1,32}", v)),
        "instance_profile": lambda v: isinstance(v, str) and bool(v),
        "region": lambda v: isinstance(v, str) and bool(re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", v)),
    }
    expected = {
        "platform": "linux or windows", "ssm_managed": "true or false", "public": "true or false",
        "access_keys": "0, 1 or 2", "state": "running, stopped or terminated", "objects": "a mapping of keys to contents",
        "auto_scaling_group": "a name", "target_group": "a name of 1-32 letters, digits or hyphens",
        "instance_profile": "a name", "region": "a region name such as us-east-1",
    }
    for option, check in checks.items():
        if option in body and not check(body[option]):
            raise ScenarioError(f"resource {name}: {option} must be {expected[option]}, not {body[option]!r}")
    for option, (check, text) in scenario_kinds.CHECKS.items():
        if option in body and not check(body[option]):
            raise ScenarioError(f"resource {name}: {option} must be {text}, not {body[option]!r}")
    problem = edge_kinds.check(kind, body) if kind in edge_kinds.TYPES else None
    if problem:
        raise ScenarioError(f"resource {name}: {problem}")
    if body.get("state") == "terminated" and (body.get("auto_scaling_group") or body.get("target_group")):
        raise ScenarioError(f"resource {name}: a terminated instance cannot be in an Auto Scaling group or target group")


def load(path: str | Path, approvals: str | None = None) -> Scenario:
    """Read and check a scenario file; `approvals` (from --approve) overrides the file's."""
    path = Path(path)
    data = _read_structured(path, "scenario")
    if not isinstance(data, dict):
        raise ScenarioError(f"scenario {path}: expected a mapping at the top level")
    unknown = set(data) - TOP_LEVEL
    if unknown:
        raise ScenarioError(f"scenario {path}: unknown key {sorted(unknown)[0]!r} "
                            f"(allowed: {', '.join(sorted(TOP_LEVEL))})")
    name = data.get("name") or path.stem
    if not isinstance(name, str):
        raise ScenarioError(f"scenario {path}: name must be text")

    accounts = data.get("accounts") or {}
    if not isinstance(accounts, dict) or set(accounts) - {"security", "members"}:
        raise ScenarioError("accounts: expected a mapping with 'security' and/or 'members'")
    security = _account(accounts.get("security", "111111111111"), "accounts.security")
    members: dict[str, bool] = {}
    raw_members = accounts.get("members") or {}
    if not isinstance(raw_members, dict):
        raise ScenarioError("accounts.members: expected a mapping of account ids to {role: present|missing}")
    for raw_id, settings in raw_members.items():
        account = _account(raw_id, "accounts.members")
        role = (settings or {}).get("role", "present") if isinstance(settings, dict) else settings
        if role not in ("present", "missing"):
            raise ScenarioError(f"accounts.members.{account}.role must be present or missing, not {role!r}")
        members[account] = role == "present"

    events = _events(data, path)

    resources: list[ResourceSpec] = []
    raw_resources = data.get("resources") or {}
    if not isinstance(raw_resources, dict):
        raise ScenarioError("resources: expected a mapping of names to resources")
    for rname, body in raw_resources.items():
        if not isinstance(rname, str) or not RESOURCE_NAME.match(rname):
            raise ScenarioError(f"resources: {rname!r} is not a valid resource name (letters, digits, _ and -)")
        if not isinstance(body, dict):
            raise ScenarioError(f"resource {rname}: expected a mapping with a type")
        if body.get("type") not in TYPES:
            raise ScenarioError(f"resource {rname}: type must be one of {', '.join(TYPES)}, not {body.get('type')!r}")
        _check_options(rname, body)
        resource_account = _account(body["account"], f"resource {rname}: account") if "account" in body else None
        options = {k: v for k, v in body.items() if k not in ("type", "account", "region")}
        resources.append(ResourceSpec(rname, body["type"], resource_account, body.get("region"), options))

    choice = approvals or data.get("approvals") or "approve"
    if choice not in APPROVALS:
        raise ScenarioError(f"approvals must be one of {', '.join(APPROVALS)}, not {choice!r}")
    expect = data.get("expect")
    if expect is not None and not isinstance(expect, dict):
        raise ScenarioError("expect: expected a mapping")
    scenario = Scenario(path, name, security, members, resources, events, choice, expect)
    _check_references(scenario)
    return scenario


def _events(data: dict[str, Any], path: Path) -> list[Any]:
    given = [key for key in ("event", "events", "event_file") if key in data]
    if len(given) != 1:
        raise ScenarioError(f"scenario {path}: give exactly one of event, events or event_file"
                            + (f" (found {', '.join(given)})" if given else ""))
    key = given[0]
    if key == "event":
        events = [data["event"]]
    elif key == "events":
        events = data["events"]
        if not isinstance(events, list) or not events:
            raise ScenarioError("events: expected a non-empty list of events")
    else:
        if not isinstance(data["event_file"], str):
            raise ScenarioError("event_file: expected a path relative to the scenario")
        loaded = _read_structured(path.parent / data["event_file"], "event file")
        events = loaded if isinstance(loaded, list) else [loaded]
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise ScenarioError(f"event {index + 1}: expected an EventBridge event (a mapping), not {type(event).__name__}")
    return list(events)


def _check_references(scenario: Scenario) -> None:
    names = {r.name for r in scenario.resources}
    for index, event in enumerate(scenario.events):
        for text in _strings(event):
            for ref in REFERENCE.findall(text):
                rname, _, attr = ref.partition(".")
                if rname not in names:
                    raise ScenarioError(f"event {index + 1}: ${{{ref}}} names no resource (resources: "
                                        f"{', '.join(sorted(names)) or 'none'})")
                if attr not in ATTRIBUTES:
                    raise ScenarioError(f"event {index + 1}: ${{{ref}}}: attribute must be one of {', '.join(ATTRIBUTES)}")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(k) + _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def substitute(value: Any, created: dict[str, Created]) -> Any:
    """Replace `${NAME.attr}` in every string (keys included) by the created resource's value."""
    if isinstance(value, str):
        return REFERENCE.sub(lambda m: created[m.group(1).split(".")[0]].attribute(m.group(1).split(".")[1]), value)
    if isinstance(value, dict):
        return {substitute(k, created): substitute(v, created) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, created) for v in value]
    return value


# --- creating ----------------------------------------------------------------------------------


def accounts_of(scenario: Scenario, default_account: str) -> dict[str, bool]:
    """Member accounts: those listed, plus every account a resource or event names (role present)."""
    members = dict(scenario.members)
    for spec in scenario.resources:
        members.setdefault(spec.account or default_account, True)
    members.pop(scenario.security_account, None)
    return members


def create(world: World, scenario: Scenario) -> dict[str, Created]:
    """Make every resource in the embedded AWS (before any event is sent)."""
    default_account = scenario.event_account() or next(iter(scenario.members), None) or scenario.security_account
    default_region = scenario.event_region() or world.region
    created: dict[str, Created] = {}
    makers = {"ec2-instance": _make_instance, "iam-user": _make_user, "iam-role": _make_role,
              "s3-bucket": _make_bucket, **scenario_kinds.MAKERS, **dict.fromkeys(edge_kinds.TYPES, edge_kinds.make)}
    for spec in scenario.resources:
        account = spec.account or default_account
        region = spec.region or default_region
        created[spec.name] = makers[spec.type](world, spec, account, region)
        scenario_kinds.after_make(world, created[spec.name])
    return created


def _tag_list(tags: dict[str, Any]) -> list[dict[str, str]]:
    return [{"Key": str(k), "Value": "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)}
            for k, v in tags.items()]


def _make_instance(world: World, spec: ResourceSpec, account: str, region: str) -> Created:
    options = spec.options
    platform = options.get("platform", "linux")
    ec2 = world.client("ec2", account, region)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"][0]
    group_name = f"{spec.name}-sg"
    group = ec2.create_security_group(GroupName=group_name, Description=f"{spec.name} application traffic",
                                      VpcId=vpc)["GroupId"]
    admin_port = 3389 if platform == "windows" else 22
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": admin_port, "ToPort": admin_port, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    ])
    launch: dict[str, Any] = {
        "ImageId": image_for(ec2, account, region, platform), "MinCount": 1, "MaxCount": 1,
        "InstanceType": "t3.medium", "SubnetId": subnet["SubnetId"], "SecurityGroupIds": [group],
        "TagSpecifications": [{"ResourceType": "instance", "Tags": _tag_list(options.get("tags") or {})}]
        if options.get("tags") else [],
    }
    profile_arn = None
    if options.get("instance_profile"):
        profile_arn = _make_instance_profile(world, account, options["instance_profile"])
        launch["IamInstanceProfile"] = {"Arn": profile_arn}
    instance = ec2.run_instances(**launch)["Instances"][0]
    instance_id = instance["InstanceId"]
    extra: dict[str, Any] = {"platform": platform, "vpc": vpc, "original_groups": [group]}
    if options.get("auto_scaling_group"):
        _attach_to_group(world, account, region, options["auto_scaling_group"], instance_id, subnet, launch)
    if options.get("target_group"):
        elb = world.client("elbv2", account, region)
        tg = elb.create_target_group(Name=options["target_group"], Protocol="HTTPS", Port=443, VpcId=vpc,
                                     TargetType="instance", HealthCheckPath="/health")["TargetGroups"][0]
        elb.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": instance_id, "Port": 443}])
    if options.get("ssm_managed", True):
        world.agent.register(instance_id, account, region, "Windows" if platform == "windows" else "Linux")
    state = options.get("state", "running")
    if state == "stopped":
        ec2.stop_instances(InstanceIds=[instance_id])
    elif state == "terminated":
        ec2.terminate_instances(InstanceIds=[instance_id])
    name = str((options.get("tags") or {}).get("Name", instance_id))
    arn = f"arn:aws:ec2:{region}:{account}:instance/{instance_id}"
    return Created(spec, instance_id, arn, name, account, region, extra)


def _make_instance_profile(world: World, account: str, name: str) -> str:
    iam = world.client("iam", account)
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }))
    # What AmazonSSMManagedInstanceCore grants, inline: moto loads AWS-managed policies only on request.
    iam.put_role_policy(RoleName=name, PolicyName="ssm-managed-instance-core", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
            "ssm:UpdateInstanceInformation", "ssmmessages:*", "ec2messages:*", "ssm:ListInstanceAssociations"]}],
    }))
    profile: str = iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Arn"]
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    return profile


def _attach_to_group(world: World, account: str, region: str, group: str, instance_id: str,
                     subnet: dict[str, Any], launch: dict[str, Any]) -> None:
    """An Auto Scaling group that holds just this instance (desired 1 after attaching)."""
    ec2 = world.client("ec2", account, region)
    template = ec2.create_launch_template(LaunchTemplateName=f"{group}-lt", LaunchTemplateData={
        "ImageId": launch["ImageId"], "InstanceType": launch["InstanceType"],
        "SecurityGroupIds": launch["SecurityGroupIds"],
    })["LaunchTemplate"]["LaunchTemplateId"]
    autoscaling = world.client("autoscaling", account, region)
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=group, LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
        MinSize=0, MaxSize=4, DesiredCapacity=0, VPCZoneIdentifier=subnet["SubnetId"],
    )
    autoscaling.attach_instances(AutoScalingGroupName=group, InstanceIds=[instance_id])
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=group, MinSize=1)


def _make_user(world: World, spec: ResourceSpec, account: str, region: str) -> Created:
    iam = world.client("iam", account)
    user = iam.create_user(UserName=spec.name, Tags=_tag_list(spec.options.get("tags") or {}))["User"]
    keys = [iam.create_access_key(UserName=spec.name)["AccessKey"]["AccessKeyId"]
            for _ in range(spec.options.get("access_keys", 1))]
    return Created(spec, user["UserId"], user["Arn"], spec.name, account, region, {"access_keys": keys})


def _make_role(world: World, spec: ResourceSpec, account: str, region: str) -> Created:
    iam = world.client("iam", account)
    role = iam.create_role(RoleName=spec.name, Tags=_tag_list(spec.options.get("tags") or {}),
                           AssumeRolePolicyDocument=json.dumps({
                               "Version": "2012-10-17",
                               "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                                              "Action": "sts:AssumeRole"}]}))["Role"]
    return Created(spec, role["RoleId"], role["Arn"], spec.name, account, region)


def _make_bucket(world: World, spec: ResourceSpec, account: str, region: str) -> Created:
    name = f"{spec.name.lower().replace('_', '-')}-{account}"
    s3 = world.client("s3", account, region)
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    if spec.options.get("tags"):
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": _tag_list(spec.options["tags"])})
    public = bool(spec.options.get("public", False))
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": not public, "IgnorePublicAcls": not public,
        "BlockPublicPolicy": not public, "RestrictPublicBuckets": not public,
    })
    if public:
        s3.put_bucket_policy(Bucket=name, Policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                           "Resource": f"arn:aws:s3:::{name}/*"}],
        }))
    for key, content in (spec.options.get("objects") or {}).items():
        s3.put_object(Bucket=name, Key=key, Body=str(content).encode())
    return Created(spec, name, f"arn:aws:s3:::{name}", name, account, region)


# --- reading back --------------------------------------------------------------------------------


def after_state(world: World, created: Created) -> dict[str, Any]:
    """The resource as the embedded AWS stores it now, in issue 3's JSON shape."""
    readers = {"ec2-instance": _instance_state, "iam-user": _user_state, "iam-role": _role_state,
               "s3-bucket": _bucket_state, **scenario_kinds.READERS,
               **dict.fromkeys(edge_kinds.TYPES, edge_kinds.after_state)}
    return readers[created.spec.type](world, created)


def _count_rules(permissions: list[dict[str, Any]]) -> int:
    total = 0
    for permission in permissions:
        targets = (len(permission.get("IpRanges", [])) + len(permission.get("Ipv6Ranges", []))
                   + len(permission.get("UserIdGroupPairs", [])) + len(permission.get("PrefixListIds", [])))
        total += max(targets, 1)
    return total


def _instance_state(world: World, created: Created) -> dict[str, Any]:
    ec2 = world.client("ec2", created.account, created.region)
    reservations = ec2.describe_instances(InstanceIds=[created.id])["Reservations"]
    instance = reservations[0]["Instances"][0]
    # The primary network interface carries the groups the network enforces (moto-notes: the
    # instance's own SecurityGroups field is not reliable after a swap).
    interfaces = sorted(instance.get("NetworkInterfaces", []),
                        key=lambda n: n.get("Attachment", {}).get("DeviceIndex", 0))
    group_ids = [g["GroupId"] for g in interfaces[0]["Groups"]] if interfaces else []
    groups = []
    if group_ids:
        for group in ec2.describe_security_groups(GroupIds=group_ids)["SecurityGroups"]:
            groups.append({"id": group["GroupId"], "name": group["GroupName"],
                           "ingressRules": _count_rules(group.get("IpPermissions", [])),
                           "egressRules": _count_rules(group.get("IpPermissionsEgress", []))})
        groups.sort(key=lambda g: group_ids.index(g["id"]))
    protection = ec2.describe_instance_attribute(InstanceId=created.id, Attribute="disableApiTermination")
    asg = world.client("autoscaling", created.account, created.region).describe_auto_scaling_instances(
        InstanceIds=[created.id])["AutoScalingInstances"]
    elb = world.client("elbv2", created.account, created.region)
    target_groups = []
    for group in elb.describe_target_groups().get("TargetGroups", []):
        health = elb.describe_target_health(TargetGroupArn=group["TargetGroupArn"])["TargetHealthDescriptions"]
        if any(h["Target"]["Id"] == created.id for h in health):
            target_groups.append(group["TargetGroupName"])
    volumes = [m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", []) if "Ebs" in m]
    snapshots: list[str] = []
    if volumes:
        found = ec2.describe_snapshots(Filters=[{"Name": "volume-id", "Values": volumes},
                                                {"Name": "owner-id", "Values": [created.account]}])["Snapshots"]
        snapshots = sorted(s["SnapshotId"] for s in found)
    return {
        "id": created.id,
        "state": instance["State"]["Name"],
        "securityGroups": groups,
        "tags": {t["Key"]: t["Value"] for t in instance.get("Tags", [])},
        "terminationProtection": bool(protection["DisableApiTermination"]["Value"]),
        "autoScalingGroup": asg[0]["AutoScalingGroupName"] if asg else None,
        "targetGroups": sorted(target_groups),
        "snapshots": snapshots,
    }


def _user_state(world: World, created: Created) -> dict[str, Any]:
    iam = world.client("iam", created.account)
    keys = iam.list_access_keys(UserName=created.name)["AccessKeyMetadata"]
    return {
        "name": created.name,
        "accessKeys": [{"id": k["AccessKeyId"], "status": k["Status"]} for k in keys],
        "attachedPolicies": sorted(p["PolicyName"] for p in
                                   iam.list_attached_user_policies(UserName=created.name)["AttachedPolicies"]),
        "inlinePolicies": sorted(iam.list_user_policies(UserName=created.name)["PolicyNames"]),
    }


def _role_state(world: World, created: Created) -> dict[str, Any]:
    iam = world.client("iam", created.account)
    return {
        "name": created.name,
        "attachedPolicies": sorted(p["PolicyName"] for p in
                                   iam.list_attached_role_policies(RoleName=created.name)["AttachedPolicies"]),
        "inlinePolicies": sorted(iam.list_role_policies(RoleName=created.name)["PolicyNames"]),
    }


def _bucket_state(world: World, created: Created) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    s3 = world.client("s3", created.account, created.region)
    try:
        block: dict[str, Any] | None = s3.get_public_access_block(Bucket=created.name)["PublicAccessBlockConfiguration"]
    except ClientError:
        block = None
    try:
        public = bool(s3.get_bucket_policy_status(Bucket=created.name)["PolicyStatus"]["IsPublic"])
    except ClientError:
        public = False
    return {"name": created.name, "publicAccessBlock": block, "policyIsPublic": public}
