"""Scenario resource kinds added by issue 5, and the options issue 5 adds to issue 3's kinds.

`scenario.py` reads its tables from here too, so issue 3's format only grows (its kinds'
after-states are unchanged; tests read what they add from the embedded AWS directly):

- `iam-user` also takes `inline_policies` ({name: policy document}) and `activity` (API calls
  the user made, recorded in CloudTrail's event history); `${NAME.access_key_id}` is its first
  access key.
- `iam-role` also takes `inline_policies`, `activity`, `trusted_service` (for example
  `ec2.amazonaws.com`: an instance role) and `session_name` (the session its activity and
  `${NAME.access_key_id}` belong to, default `i-0123456789abcdef0` as for an instance role; the
  key is a temporary `ASIA...` id).
- `s3-bucket` also takes `acl` (a canned bucket ACL: private, public-read, public-read-write,
  authenticated-read), `public_objects` (keys of `objects` given the public-read ACL),
  `encryption` (AES256, aws:kms or none) and `block_public_access: false` (a private bucket whose
  public access block is off: its guard rails are down though nothing is public yet).
- `security-group` (new): `ingress` rules, each `{protocol: tcp|udp|icmp|all, port: 22 or
  ports: "20-21", cidrs: ["0.0.0.0/0", "::/0"], description}`, and `description`; made in the
  account's default VPC. After-state: `{id, name, ingressRules: [{protocol, fromPort, toPort,
  cidrs}], egressRules: int, tags}`.
- `config-rule` (new): an AWS Config managed rule, `identifier` (e.g. INCOMING_SSH_DISABLED)
  and `parameters`; named after the resource. `${NAME.arn}` and `${NAME.name}` fill a Config
  event. After-state: `{name, identifier, parameters, state}`.

An `activity` item: `{event: ListBuckets, source: s3.amazonaws.com, ip: 203.0.113.7,
minutes_ago: 30, user_agent: ..., read_only: true|false (default: from the verb), error:
AccessDenied, key: 1 (which access key, users only), resources: [{type, arn}]}`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .scenario import Created, ResourceSpec
    from .world import World

NEW_KINDS = ("security-group", "config-rule")
OPTIONS: dict[str, set[str]] = {
    "iam-user": {"inline_policies", "activity"},
    "iam-role": {"inline_policies", "activity", "trusted_service", "session_name"},
    "s3-bucket": {"acl", "public_objects", "encryption", "block_public_access"},
    "security-group": {"ingress", "description"},
    "config-rule": {"identifier", "parameters"},
}
CANNED_ACLS = ("private", "public-read", "public-read-write", "authenticated-read")
ENCRYPTIONS = ("AES256", "aws:kms", "none")
PROTOCOLS = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "all": "-1", "-1": "-1"}
READ_VERBS = ("Get", "List", "Describe", "Head", "Lookup", "Search", "Query", "Scan", "BatchGet")
DEFAULT_SESSION = "i-0123456789abcdef0"
PORTS = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")


def _is_activity(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, dict) and isinstance(item.get("event"), str) and isinstance(item.get("source"), str)
        for item in value)


def _is_rule(value: Any) -> bool:
    if not isinstance(value, dict) or str(value.get("protocol", "tcp")) not in PROTOCOLS:
        return False
    try:
        _ports(value)
        [ipaddress.ip_network(c) for c in value.get("cidrs") or []]
    except ValueError:
        return False
    return bool(value.get("cidrs"))


CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "inline_policies": (lambda v: isinstance(v, dict) and all(isinstance(d, dict) for d in v.values()),
                        "a mapping of policy names to policy documents"),
    "activity": (_is_activity, "a list of API calls, each with at least event and source"),
    "trusted_service": (lambda v: isinstance(v, str) and v.endswith(".amazonaws.com"),
                        "a service principal such as ec2.amazonaws.com"),
    "session_name": (lambda v: isinstance(v, str) and bool(re.fullmatch(r"[\w+=,.@-]{2,64}", v)),
                     "a role session name"),
    "acl": (lambda v: v in CANNED_ACLS, "one of " + ", ".join(CANNED_ACLS)),
    "public_objects": (lambda v: isinstance(v, list) and all(isinstance(k, str) for k in v), "a list of object keys"),
    "encryption": (lambda v: v in ENCRYPTIONS, "one of " + ", ".join(ENCRYPTIONS)),
    "block_public_access": (lambda v: isinstance(v, bool), "true or false"),
    "ingress": (lambda v: isinstance(v, list) and all(_is_rule(r) for r in v),
                "a list of rules {protocol, port or ports, cidrs}"),
    "description": (lambda v: isinstance(v, str) and 0 < len(v) <= 255, "text of at most 255 characters"),
    "identifier": (lambda v: isinstance(v, str) and bool(re.fullmatch(r"[A-Z0-9_]+", v)),
                   "an AWS Config managed rule identifier such as INCOMING_SSH_DISABLED"),
    "parameters": (lambda v: isinstance(v, dict), "a mapping of rule parameters"),
}


def _scenario_error(message: str) -> Exception:
    from .scenario import ScenarioError

    return ScenarioError(message)


def access_key_id(created: Created) -> str:
    """`${NAME.access_key_id}`: an IAM user's first access key, an IAM role session's temporary key."""
    key = created.extra.get("access_key_id")
    if not key:
        raise _scenario_error(f"${{{created.spec.name}.access_key_id}}: {created.spec.type} {created.name} has no "
                              "access key")
    return str(key)


ATTRIBUTES: dict[str, Callable[[Created], str]] = {"access_key_id": access_key_id}


# --- making ------------------------------------------------------------------------------------------


def _ports(rule: dict[str, Any]) -> tuple[int, int]:
    if PROTOCOLS[str(rule.get("protocol", "tcp"))] == "-1":
        return -1, -1
    raw = rule.get("ports", rule.get("port"))
    match = PORTS.match(str(raw)) if raw is not None else None
    if not match:
        raise ValueError(f"ports {raw!r}")
    low, high = int(match.group(1)), int(match.group(2) or match.group(1))
    if not 0 <= low <= high <= 65535:
        raise ValueError(f"ports {raw!r}")
    return low, high


def _permission(rule: dict[str, Any]) -> dict[str, Any]:
    low, high = _ports(rule)
    permission: dict[str, Any] = {"IpProtocol": PROTOCOLS[str(rule.get("protocol", "tcp"))]}
    if permission["IpProtocol"] != "-1":
        permission.update(FromPort=low, ToPort=high)
    described = {"Description": str(rule["description"])} if rule.get("description") else {}
    v4 = [c for c in rule["cidrs"] if ":" not in c]
    v6 = [c for c in rule["cidrs"] if ":" in c]
    if v4:
        permission["IpRanges"] = [{"CidrIp": c, **described} for c in v4]
    if v6:
        permission["Ipv6Ranges"] = [{"CidrIpv6": c, **described} for c in v6]
    return permission


def make_security_group(world: World, spec: ResourceSpec, account: str, region: str) -> Created:
    from .scenario import Created, _tag_list

    ec2 = world.client("ec2", account, region)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    options = spec.options
    request: dict[str, Any] = {"GroupName": spec.name, "VpcId": vpc,
                               "Description": options.get("description", f"{spec.name} security group")}
    if options.get("tags"):
        request["TagSpecifications"] = [{"ResourceType": "security-group", "Tags": _tag_list(options["tags"])}]
    group_id = ec2.create_security_group(**request)["GroupId"]
    rules = options.get("ingress") or []
    if rules:
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[_permission(r) for r in rules])
    arn = f"arn:aws:ec2:{region}:{account}:security-group/{group_id}"
    return Created(spec, group_id, arn, spec.name, account, region, {"vpc": vpc})


def make_config_rule(world: World, spec: ResourceSpec, account: str, region: str) -> Created:
    from .scenario import Created

    config = world.client("config", account, region)
    rule: dict[str, Any] = {
        "ConfigRuleName": spec.name,
        "Source": {"Owner": "AWS", "SourceIdentifier": spec.options.get("identifier", "INCOMING_SSH_DISABLED")},
        "Scope": {"ComplianceResourceTypes": ["AWS::EC2::SecurityGroup"]},
    }
    if spec.options.get("parameters"):
        rule["InputParameters"] = json.dumps({k: str(v) for k, v in spec.options["parameters"].items()})
    config.put_config_rule(ConfigRule=rule)
    made = config.describe_config_rules(ConfigRuleNames=[spec.name])["ConfigRules"][0]
    return Created(spec, made["ConfigRuleId"], made["ConfigRuleArn"], spec.name, account, region)


MAKERS: dict[str, Callable[[World, ResourceSpec, str, str], Created]] = {
    "security-group": make_security_group, "config-rule": make_config_rule,
}


def after_make(world: World, created: Created) -> None:
    """What issue 5 adds to an issue-3 kind once issue 3's maker has made it."""
    extend = {"iam-user": _extend_user, "iam-role": _extend_role, "s3-bucket": _extend_bucket}.get(created.spec.type)
    if extend is not None:
        extend(world, created)


def _extend_user(world: World, created: Created) -> None:
    iam = world.client("iam", created.account)
    keys = created.extra.get("access_keys") or []
    created.extra["access_key_id"] = keys[0] if keys else None
    for name, document in (created.spec.options.get("inline_policies") or {}).items():
        iam.put_user_policy(UserName=created.name, PolicyName=name, PolicyDocument=json.dumps(document))
    identity = {"type": "IAMUser", "principalId": created.id, "arn": created.arn, "accountId": created.account,
                "userName": created.name}
    for item in created.spec.options.get("activity") or []:
        index = int(item.get("key", 1)) - 1
        key = keys[index] if 0 <= index < len(keys) else None
        _record(world, created, item, {**identity, **({"accessKeyId": key} if key else {})})


def _extend_role(world: World, created: Created) -> None:
    iam = world.client("iam", created.account)
    options = created.spec.options
    if options.get("trusted_service"):
        iam.update_assume_role_policy(RoleName=created.name, PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": options["trusted_service"]},
                           "Action": "sts:AssumeRole"}]}))
    for name, document in (options.get("inline_policies") or {}).items():
        iam.put_role_policy(RoleName=created.name, PolicyName=name, PolicyDocument=json.dumps(document))
    session = str(options.get("session_name", DEFAULT_SESSION))
    digest = hashlib.sha256(f"{created.account}:{created.name}:{session}".encode()).hexdigest().upper()
    key = "ASIA" + "".join(c for c in digest if c.isalnum())[:16]
    created.extra["access_key_id"] = key
    identity = {
        "type": "AssumedRole", "principalId": f"{created.id}:{session}",
        "arn": f"arn:aws:sts::{created.account}:assumed-role/{created.name}/{session}",
        "accountId": created.account, "accessKeyId": key,
        "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": created.id, "arn": created.arn,
                                             "accountId": created.account, "userName": created.name},
                           "attributes": {"mfaAuthenticated": "false"}},
    }
    for item in options.get("activity") or []:
        _record(world, created, item, identity)


def _record(world: World, created: Created, item: dict[str, Any], identity: dict[str, Any]) -> None:
    """One activity item as the CloudTrail record AWS would have written."""
    when = world.now() - timedelta(minutes=float(item.get("minutes_ago", 0)))
    event = str(item["event"])
    digest = hashlib.sha256(json.dumps([created.account, created.name, item, when.isoformat()], sort_keys=True,
                                       default=str).encode()).hexdigest()
    record: dict[str, Any] = {
        "eventVersion": "1.08", "userIdentity": identity,
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "eventSource": str(item["source"]), "eventName": event,
        "awsRegion": created.region, "sourceIPAddress": str(item.get("ip", "198.51.100.1")),
        "userAgent": str(item.get("user_agent", "aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64")),
        "requestParameters": None, "responseElements": None,
        "requestID": f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}",
        "eventID": f"{digest[32:40]}-{digest[40:44]}-{digest[44:48]}-{digest[48:52]}-{digest[52:64]}",
        "readOnly": bool(item.get("read_only", event.startswith(READ_VERBS))), "eventType": "AwsApiCall",
        "managementEvent": True, "recipientAccountId": created.account, "eventCategory": "Management",
    }
    if item.get("error"):
        record["errorCode"] = str(item["error"])
        record["errorMessage"] = f"User: {identity['arn']} is not authorized to perform this operation"
    if item.get("resources"):
        record["resources"] = [{"type": r.get("type"), "ARN": r.get("arn"), "accountId": created.account}
                               for r in item["resources"]]
    world.cloudtrail.record(created.account, created.region, record)


def _extend_bucket(world: World, created: Created) -> None:
    s3 = world.client("s3", created.account, created.region)
    options = created.spec.options
    if (options.get("acl", "private") != "private" or options.get("public_objects")) and not options.get("public"):
        raise _scenario_error(f"resource {created.spec.name}: a public ACL needs `public: true` (the bucket's public "
                              "access block refuses public ACLs, as on AWS)")
    if options.get("block_public_access") is False:
        if options.get("public"):
            raise _scenario_error(f"resource {created.spec.name}: a public bucket has its public access block off "
                                  "already; block_public_access: false is for a private bucket without one")
        s3.put_public_access_block(Bucket=created.name, PublicAccessBlockConfiguration=dict.fromkeys(
            ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), False))
    if options.get("acl", "private") != "private":
        s3.put_bucket_acl(Bucket=created.name, ACL=options["acl"])
    objects = options.get("objects") or {}
    for key in options.get("public_objects") or []:
        if key not in objects:
            raise _scenario_error(f"resource {created.spec.name}: public object {key!r} is not one of its objects")
        s3.put_object_acl(Bucket=created.name, Key=key, ACL="public-read")
    if options.get("encryption", "none") != "none":
        s3.put_bucket_encryption(Bucket=created.name, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": options["encryption"]}}]})


# --- reading back --------------------------------------------------------------------------------


def _group_state(world: World, created: Created) -> dict[str, Any]:
    ec2 = world.client("ec2", created.account, created.region)
    group = ec2.describe_security_groups(GroupIds=[created.id])["SecurityGroups"][0]
    rules = []
    for permission in group.get("IpPermissions", []):
        cidrs = [r["CidrIp"] for r in permission.get("IpRanges", [])] + [
            r["CidrIpv6"] for r in permission.get("Ipv6Ranges", [])]
        rules.append({"protocol": "all" if permission["IpProtocol"] == "-1" else permission["IpProtocol"],
                      "fromPort": permission.get("FromPort"), "toPort": permission.get("ToPort"),
                      "cidrs": sorted(cidrs)})
    rules.sort(key=lambda r: (r["fromPort"] if r["fromPort"] is not None else -1, r["protocol"]))
    egress = sum(max(1, len(p.get("IpRanges", [])) + len(p.get("Ipv6Ranges", [])) + len(p.get("UserIdGroupPairs", [])))
                 for p in group.get("IpPermissionsEgress", []))
    return {"id": created.id, "name": group["GroupName"], "ingressRules": rules, "egressRules": egress,
            "tags": {t["Key"]: t["Value"] for t in group.get("Tags", [])}}


def _rule_state(world: World, created: Created) -> dict[str, Any]:
    config = world.client("config", created.account, created.region)
    rule = config.describe_config_rules(ConfigRuleNames=[created.name])["ConfigRules"][0]
    return {"name": rule["ConfigRuleName"], "identifier": rule["Source"].get("SourceIdentifier"),
            "parameters": json.loads(rule.get("InputParameters") or "{}"), "state": rule.get("ConfigRuleState")}


READERS: dict[str, Callable[[World, Created], dict[str, Any]]] = {
    "security-group": _group_state, "config-rule": _rule_state,
}
