"""parse-config-change, enrich-security-group and revoke-ingress-rules, against the embedded AWS's member account."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from irflow.local.world import World
from tasks import enrich_security_group, parse_config_change, revoke_ingress_rules
from tasks.common import incidents
from tasks.common.errors import InvalidFinding
from tasks.common.models import Decision, Incident
from tasks.common.security_groups import (
    ConfigPolicy,
    GroupInput,
    GroupNotFound,
    OpenRule,
    RevokeInput,
    RuleRef,
    check_for,
    offending,
)

from .conftest import MEMBER, CallLog, ManualClock, evidence_body
from .issue5_checks import assert_declared

APPROVAL = Decision(approval_id="0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", decision="approved", by="alice@example.com")


def change_for(group_id: str, rule: str = "restricted-ssh", **evaluation: Any) -> dict[str, Any]:
    event = copy.deepcopy(parse_config_change.TASK.example["event"])
    text = json.dumps(event).replace("sg-0a1b2c3d4e5f60718", group_id).replace("restricted-ssh", rule)
    event = json.loads(text)
    event["detail"]["newEvaluationResult"].update(evaluation)
    return event


def bastion(world: World, *, tags: dict[str, str] | None = None) -> str:
    """A group open to the world on SSH (v4 and v6) and 8080-8081, and to the office on SSH."""
    ec2 = world.client("ec2", MEMBER)
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    group: str = ec2.create_security_group(GroupName="bastion", Description="bastion", VpcId=vpc)["GroupId"]
    if tags:
        ec2.create_tags(Resources=[group], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}, {"CidrIp": "198.51.100.0/24", "Description": "office"}],
         "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8081, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    return group


def rule(world: World, name: str, identifier: str, parameters: dict[str, str] | None = None) -> None:
    config: dict[str, Any] = {"ConfigRuleName": name, "Source": {"Owner": "AWS", "SourceIdentifier": identifier},
                              "Scope": {"ComplianceResourceTypes": ["AWS::EC2::SecurityGroup"]}}
    if parameters:
        config["InputParameters"] = json.dumps(parameters)
    world.client("config", MEMBER).put_config_rule(ConfigRule=config)


def opened(event: dict[str, Any]) -> tuple[Incident, RuleRef]:
    out = parse_config_change.parse(event, {})
    incident = Incident.model_validate(out["incident"])
    incidents.open_incident(incident.model_dump(), {}, None)
    return incident, RuleRef.model_validate(out["rule"])


# --- parse-config-change -----------------------------------------------------------------------------


def test_parse_a_noncompliant_security_group() -> None:
    out = parse_config_change.parse(parse_config_change.TASK.example["event"], parse_config_change.TASK.example["policy"])
    incident = out["incident"]
    assert incident["source"] == "Config" and incident["resource_type"] == "security-group"
    assert incident["resource_id"] == "sg-0a1b2c3d4e5f60718" and incident["severity"] == 7.0
    assert incident["finding_id"] == "restricted-ssh/sg-0a1b2c3d4e5f60718/2025-05-20T08:13:51.962Z"
    assert out["rule"]["name"] == "restricted-ssh" and out["policy"]["fallback_ports"] == [22, 3389]
    again = parse_config_change.parse(parse_config_change.TASK.example["event"], {})
    assert again["incident"]["incident_id"] == incident["incident_id"]  # a redelivery is the same incident


@pytest.mark.parametrize(("change", "field"), [
    (lambda d: d["newEvaluationResult"].update(complianceType="COMPLIANT"), "not NON_COMPLIANT"),
    (lambda d: d["newEvaluationResult"]["evaluationResultIdentifier"]["evaluationResultQualifier"].update(
        resourceType="AWS::S3::Bucket"), "handles AWS::EC2::SecurityGroup, not AWS::S3::Bucket"),
    (lambda d: d.update(messageType="OversizedConfigurationItemChangeNotification"), "detail.messageType"),
    (lambda d: d.update(resourceId="bucket-1"), "not a security group id"),
    (lambda d: d.pop("awsAccountId"), "detail.awsAccountId"),
])
def test_parse_refuses_other_changes(change: Any, field: str) -> None:
    event = copy.deepcopy(parse_config_change.TASK.example["event"])
    change(event["detail"])
    with pytest.raises(InvalidFinding) as refused:
        parse_config_change.handler({"event": event, "policy": {}}, None)
    assert field in str(refused.value)


@pytest.mark.parametrize(("identifier", "parameters", "offends"), [
    ("INCOMING_SSH_DISABLED", {}, ["tcp 22"]),
    ("RESTRICTED_INCOMING_TRAFFIC", {}, []),  # 20, 21, 3389, 3306, 4333: none open here
    ("RESTRICTED_INCOMING_TRAFFIC", {"blockedPort1": "8080"}, ["tcp 8080"]),
    ("RESTRICTED_INCOMING_TRAFFIC", {"blockedPorts": "22,8081"}, ["tcp 22", "tcp 8080"]),
    ("VPC_SG_OPEN_ONLY_TO_AUTHORIZED_PORTS", {"authorizedTcpPorts": "443,8000-8100"}, ["tcp 22"]),
    ("VPC_SG_OPEN_ONLY_TO_AUTHORIZED_PORTS", {}, ["tcp 22", "tcp 8080", "tcp 443"]),
    (None, {}, ["tcp 22"]),  # a custom rule: the policy's fallback ports 22 and 3389
])
def test_which_world_open_rules_a_config_rule_objects_to(identifier: str | None, parameters: dict[str, str],
                                                         offends: list[str]) -> None:
    permissions = [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8081, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
    ]
    found = offending(permissions, check_for(identifier, parameters, [22, 3389]))
    assert [f"{r.protocol} {r.from_port}" for r in found] == offends


def test_all_traffic_open_to_the_world_always_offends() -> None:
    everything = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    assert [r.protocol for r in offending(everything, check_for("INCOMING_SSH_DISABLED", {}, []))] == ["-1"]


# --- enrich-security-group -----------------------------------------------------------------------------


def test_enrich_reads_the_group_and_the_rule_and_keeps_them_as_evidence(world: World, clock: ManualClock,
                                                                        calls: CallLog) -> None:
    group = bastion(world)
    rule(world, "restricted-ssh", "INCOMING_SSH_DISABLED")
    incident, ref = opened(change_for(group))
    calls.mark()
    facts = enrich_security_group.enrich(GroupInput(incident=incident, rule=ref))
    assert_declared(calls, "enrich-security-group")
    assert facts["ports_from"] == "Config rule INCOMING_SSH_DISABLED" and facts["exempt"] is False
    assert facts["offending"] == [{"protocol": "tcp", "from_port": 22, "to_port": 22, "cidrs": ["0.0.0.0/0", "::/0"]}]
    assert facts["open_rules"] == "tcp 22 from 0.0.0.0/0, ::/0"
    stored = json.loads(evidence_body(world, facts["evidence"]["uri"]))
    assert stored["group"]["GroupId"] == group and len(stored["group"]["IpPermissions"]) == 3
    assert stored["config_rule"]["identifier"] == "INCOMING_SSH_DISABLED"


def test_a_rule_irflow_cannot_find_falls_back_to_the_policy_ports(world: World, clock: ManualClock) -> None:
    group = bastion(world, tags={"irflow:exempt": "true"})
    incident, ref = opened(change_for(group, rule="custom-open-ports"))
    facts = enrich_security_group.enrich(GroupInput(incident=incident, rule=ref, policy=ConfigPolicy(
        fallback_ports=[8080])))
    assert facts["ports_from"] == "policy fallback_ports" and facts["exempt"] is True
    assert [r["from_port"] for r in facts["offending"]] == [8080]
    assert facts["notes"] == [f"Config rule custom-open-ports not found in {MEMBER} us-east-1"]


def test_enrich_a_group_that_is_gone(world: World, clock: ManualClock) -> None:
    incident, ref = opened(change_for("sg-0123456789abcdef0"))
    with pytest.raises(GroupNotFound, match="no longer exists"):
        enrich_security_group.enrich(GroupInput(incident=incident, rule=ref))


# --- revoke-ingress-rules ------------------------------------------------------------------------------


def test_revoke_removes_only_the_world_wide_sources_approved(world: World, clock: ManualClock, calls: CallLog) -> None:
    group = bastion(world)
    incident, _ = opened(change_for(group))
    approved = [OpenRule(protocol="tcp", from_port=22, to_port=22, cidrs=["0.0.0.0/0", "::/0"])]
    calls.mark()
    result = revoke_ingress_rules.revoke(RevokeInput(incident=incident, group_id=group, rules=approved,
                                                     approval=APPROVAL))
    assert_declared(calls, "revoke-ingress-rules")
    assert result["revoked"] == 1
    assert result["still_open"] == ["tcp 8080-8081 from 0.0.0.0/0", "tcp 443 from 0.0.0.0/0"]
    described = world.client("ec2", MEMBER).describe_security_groups(GroupIds=[group])["SecurityGroups"][0]
    ssh = [p for p in described["IpPermissions"] if p.get("FromPort") == 22]
    assert [r["CidrIp"] for p in ssh for r in p["IpRanges"]] == ["198.51.100.0/24"]  # the office stays
    assert not any(p.get("Ipv6Ranges") for p in ssh)
    assert {t["Key"]: t["Value"] for t in described["Tags"]}["irflow:status"] == "remediated"
    record = incidents.load_incident(incident.incident_id)
    assert record["status"] == "remediated"
    assert [(a["name"], a["target"]) for a in record["actions"]] == [
        ("revoke-ingress-rule", f"{group} tcp 22 from 0.0.0.0/0, ::/0")]
    original = incidents.get_original_state(incident.incident_id, f"security-group/{group}")
    assert original is not None and len(original["ingress"]) == 3


def test_revoking_twice_and_revoking_what_is_gone_change_nothing(world: World, clock: ManualClock) -> None:
    group = bastion(world)
    incident, _ = opened(change_for(group))
    data = RevokeInput(incident=incident, group_id=group, approval=APPROVAL,
                       rules=[OpenRule(protocol="tcp", from_port=22, to_port=22, cidrs=["0.0.0.0/0"])])
    revoke_ingress_rules.revoke(data)
    before = world.client("ec2", MEMBER).describe_security_groups(GroupIds=[group])["SecurityGroups"][0]
    second = revoke_ingress_rules.revoke(data)
    assert second["changed"] is False
    after = world.client("ec2", MEMBER).describe_security_groups(GroupIds=[group])["SecurityGroups"][0]
    assert after["IpPermissions"] == before["IpPermissions"]
    [action] = incidents.load_incident(incident.incident_id)["actions"]
    assert action["result"].startswith("done")  # the first run's record is kept


def test_revoke_on_a_group_that_is_gone_changes_nothing(world: World, clock: ManualClock) -> None:
    incident, _ = opened(change_for("sg-0123456789abcdef0"))
    with pytest.raises(GroupNotFound):
        revoke_ingress_rules.revoke(RevokeInput(incident=incident, group_id="sg-0123456789abcdef0", approval=APPROVAL,
                                                rules=[OpenRule(protocol="tcp", from_port=22, to_port=22,
                                                                cidrs=["0.0.0.0/0"])]))
    assert incidents.load_incident(incident.incident_id)["actions"] == []
