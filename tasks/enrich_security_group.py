"""enrich-security-group: read the group and the Config rule, keep them as evidence, and name the offending rules.

Read in the member account through IrflowMemberRole: the security group (rules, VPC, tags with
the `irflow:exempt=true` exemption), the network interfaces that use it (what a revocation
affects), and the Config rule that reported it (`DescribeConfigRules`: which managed rule, with
which parameters, decides which world-open ports offend; see `tasks.common.security_groups`).
A rule irflow cannot read falls back to the policy's ports, with a note. The group as it is now
is written to the evidence bucket (`security-group.json`, with its SHA-256) before anything is
proposed. A group that no longer exists fails with `irflow.GroupNotFound`.

Example event:

    {"incident": {"incident_id": "inc-7c2e9a4b1d0f3e58", "finding_id": "restricted-ssh/sg-0a1b2c3d4e5f60718/2025-05-20T08:13:51.962Z",
                  "finding_type": "Config:restricted-ssh/NON_COMPLIANT", "severity": 7.0, "severity_band": "high",
                  "account_id": "222222222222", "region": "us-east-1", "source": "Config",
                  "resource_type": "security-group", "resource_id": "sg-0a1b2c3d4e5f60718"},
     "rule": {"name": "restricted-ssh",
              "arn": "arn:aws:config:us-east-1:222222222222:config-rule/config-rule-8fngan"},
     "policy": {"severity": 7.0, "fallback_ports": [22, 3389], "approval_timeout_seconds": 3600,
                "on_approval_timeout": "escalate"}}
"""

from __future__ import annotations

import json
from typing import Any

from tasks.common import evidence, incidents
from tasks.common.aws import error_code, member_session, session_client
from tasks.common.handler import task_handler
from tasks.common.lookups import noted
from tasks.common.security_groups import (
    EXEMPT_TAG,
    GroupInput,
    GroupNotFound,
    check_for,
    offending,
    rule_text,
)
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="enrich-security-group",
    member_permissions=("ec2:DescribeSecurityGroups", "ec2:DescribeNetworkInterfaces", "config:DescribeConfigRules"),
    central_permissions=("sts:AssumeRole", "s3:PutObject", "dynamodb:PutItem"),
    destructive=False, model="tasks.common.security_groups.GroupInput", evidence=True, timeout_seconds=30)


def describe_group(ec2: Any, group_id: str) -> dict[str, Any]:
    """DescribeSecurityGroups for one group; `irflow.GroupNotFound` when it is gone."""
    try:
        group: dict[str, Any] = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    except Exception as error:
        if error_code(error) in ("InvalidGroup.NotFound", "InvalidGroupId.NotFound", "InvalidGroupId.Malformed"):
            raise GroupNotFound(f"security group {group_id} no longer exists") from None
        raise
    return group


def read_rule(config: Any, name: str) -> dict[str, Any] | None:
    """The Config rule's source identifier and parameters (None: no such rule)."""
    try:
        rules = config.describe_config_rules(ConfigRuleNames=[name])["ConfigRules"]
    except Exception as error:
        if error_code(error) == "NoSuchConfigRuleException":
            return None
        raise
    if not rules:
        return None
    source = rules[0].get("Source") or {}
    return {"name": name, "owner": source.get("Owner"), "identifier": source.get("SourceIdentifier"),
            "parameters": json.loads(rules[0].get("InputParameters") or "{}")}


def enrich(data: GroupInput, session: Any = None, s3: Any = None) -> dict[str, Any]:
    """The group, the rule and the offending world-open rules, kept as evidence."""
    incident, policy = data.incident, data.policy
    group_id = incident.target
    session = session or member_session(incident.account_id, incident.incident_id, incident.region)
    ec2 = session_client(session, "ec2")
    group = describe_group(ec2, group_id)
    notes: list[str] = []
    rule = noted(notes, f"Config rule {data.rule.name}", lambda: read_rule(session_client(session, "config"),
                                                                           data.rule.name), None)
    if rule is None and not any(n.startswith(f"Config rule {data.rule.name}") for n in notes):
        notes.append(f"Config rule {data.rule.name} not found in {incident.account_id} {incident.region}")
    owner_is_aws = bool(rule and rule.get("owner") == "AWS")
    check = check_for(rule["identifier"] if rule and owner_is_aws else None,
                      rule["parameters"] if rule else {}, policy.fallback_ports)
    rules = offending(group.get("IpPermissions", []), check)
    interfaces = noted(notes, "network interfaces", lambda: ec2.describe_network_interfaces(
        Filters=[{"Name": "group-id", "Values": [group_id]}])["NetworkInterfaces"], [])
    tags = {t["Key"]: t["Value"] for t in group.get("Tags", [])}
    stored = evidence.store(incident.incident_id, ("security-group.json",), json.dumps({
        "group": group, "config_rule": rule, "ports_from": check.source, "offending": [r.model_dump() for r in rules],
        "network_interfaces": [{"id": n["NetworkInterfaceId"], "attachment": (n.get("Attachment") or {}).get(
            "InstanceId"), "description": n.get("Description")} for n in interfaces], "notes": notes,
    }, indent=2, default=str).encode(), "security-group-configuration", content_type="application/json", s3=s3)
    result = {
        "group_id": group_id, "group_name": group.get("GroupName"), "vpc_id": group.get("VpcId"), "tags": tags,
        "exempt": tags.get(EXEMPT_TAG, "").strip().lower() == "true", "ports_from": check.source,
        "offending": [r.model_dump() for r in rules], "offending_count": len(rules),
        "interfaces": len(interfaces), "evidence": {"uri": stored["uri"], "sha256": stored["sha256"]},
        "notes": notes,
    }
    opened = "; ".join(rule_text(r) for r in rules) or "nothing open to the world that the rule objects to"
    result["summary"] = (f"{group_id} ({group.get('GroupName')}) in {group.get('VpcId')}, used by {len(interfaces)} "
                         f"network interface(s); ports from {check.source}: {opened}"
                         + (f"; EXEMPT ({EXEMPT_TAG}=true)" if result["exempt"] else ""))
    result["open_rules"] = opened
    result["proposal"] = (f"revoke from security group {group_id} ({group.get('GroupName')}) the world-wide sources of: "
                          f"{opened} (the rules' other sources stay; the group's rules are recorded first)")
    incidents.add_timeline(incident.incident_id, "enrich-security-group", result["summary"],
                           detail={"notes": notes} if notes else None)
    return result


def run(data: GroupInput) -> dict[str, Any]:
    return enrich(data)


handler = task_handler(TASK, GroupInput, run)
