"""parse-iam-finding, enrich-principal and contain-principal, against the embedded AWS's member account."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import pytest

from irflow.local.world import World
from tasks import contain_principal, enrich_principal, parse_iam_finding
from tasks.common import incidents
from tasks.common.errors import InvalidFinding, InvalidInput
from tasks.common.models import Decision, Incident
from tasks.common.principals import ContainPrincipalInput, Principal, PrincipalInput, PrincipalNotFound

from .conftest import MEMBER, CallLog, ManualClock, evidence_body
from .issue5_checks import assert_declared

APPROVAL = Decision(approval_id="0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", decision="approved", by="alice@example.com")


def finding(**details: Any) -> dict[str, Any]:
    """parse-iam-finding's documented event, with accessKeyDetails replaced."""
    event = copy.deepcopy(parse_iam_finding.TASK.example["event"])
    if details:
        event["detail"]["resource"]["accessKeyDetails"] = details
    return event


def parsed(event: dict[str, Any]) -> tuple[Incident, Principal]:
    out = parse_iam_finding.parse(event, {})
    incident = Incident.model_validate(out["incident"])
    incidents.open_incident(incident.model_dump(), {}, None)
    return incident, Principal.model_validate(out["principal"])


def make_user(world: World, name: str = "deploy-bot", keys: int = 2) -> list[str]:
    iam = world.client("iam", MEMBER)
    iam.create_user(UserName=name, Tags=[{"Key": "team", "Value": "platform"}])
    iam.put_user_policy(UserName=name, PolicyName="deploy", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]}))
    iam.create_group(GroupName="deployers")
    iam.add_user_to_group(GroupName="deployers", UserName=name)
    return [iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"] for _ in range(keys)]


def record_activity(world: World, key: str, user: str = "deploy-bot") -> None:
    for minutes, name, ip in ((50, "ListBuckets", "198.51.100.77"), (40, "CreateUser", "198.51.100.77"),
                              (30, "GetCallerIdentity", "203.0.113.9"), (60 * 30, "ListUsers", "198.51.100.77")):
        when = world.now() - timedelta(minutes=minutes)
        world.cloudtrail.record(MEMBER, "us-east-1", {
            "eventID": f"ev-{minutes}", "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "eventName": name,
            "eventSource": "iam.amazonaws.com", "sourceIPAddress": ip, "readOnly": name != "CreateUser",
            "userIdentity": {"type": "IAMUser", "userName": user, "accessKeyId": key}})


# --- parse-iam-finding -------------------------------------------------------------------------------------


def test_parse_a_user_finding() -> None:
    out = parse_iam_finding.parse(parse_iam_finding.TASK.example["event"], parse_iam_finding.TASK.example["policy"])
    assert out["incident"]["resource_type"] == "iam-user" and out["incident"]["resource_id"] == "deploy-bot"
    assert out["incident"]["source"] == "GuardDuty" and out["incident"]["severity_band"] == "medium"
    assert out["incident"]["remote_ips"] == ["198.51.100.77"] and out["incident"]["instance_id"] is None
    assert out["principal"] == {"kind": "iam-user", "name": "deploy-bot", "user_type": "IAMUser",
                                "access_key_id": "AKIA2EXAMPLE4DEPLOY1", "principal_id": "AIDA2EXAMPLE5DEPLOY1",
                                "session_name": None}
    assert out["policy"]["activity_hours"] == 24 and out["policy"]["approval_severity"] == 4.0


def test_parse_stolen_instance_credentials_names_the_role_and_its_session() -> None:
    out = parse_iam_finding.parse(finding(accessKeyId="ASIA2EXAMPLE7SESSION", principalId="AROA2EXAMPLE6ROLE:i-0abc1234",
                                          userName="app-server", userType="AssumedRole"), {})
    assert out["incident"]["resource_type"] == "iam-role"
    assert out["principal"]["kind"] == "iam-role" and out["principal"]["session_name"] == "i-0abc1234"


def test_parse_root_and_federated_principals_are_named_not_contained() -> None:
    root = parse_iam_finding.parse(finding(principalId="222222222222", userName="Root", userType="Root"), {})
    assert root["principal"]["kind"] == "root" and root["principal"]["name"] == "root"
    assert root["incident"]["resource_type"] == "iam-principal"
    other = parse_iam_finding.parse(finding(principalId="AROAX:jane@example.com", userType="Federated"), {})
    assert other["principal"]["kind"] == "other" and other["principal"]["name"] == "AROAX:jane@example.com"


@pytest.mark.parametrize(("change", "field"), [
    (lambda e: e["detail"]["resource"].update(resourceType="Instance"), "detail.resource.resourceType"),
    (lambda e: e["detail"]["resource"]["accessKeyDetails"].pop("userName"), "needs its userName"),
    (lambda e: e["detail"].pop("accountId"), "detail.accountId"),
    (lambda e: e.update(source="aws.macie"), "source"),
])
def test_parse_refuses_what_it_cannot_read(change: Any, field: str) -> None:
    event = finding()
    change(event)
    with pytest.raises(InvalidFinding) as refused:
        parse_iam_finding.handler({"event": event, "policy": {}}, None)
    assert field in str(refused.value)


# --- enrich-principal ------------------------------------------------------------------------------------


def test_enrich_a_user_reads_keys_policies_and_activity_and_keeps_evidence(world: World, clock: ManualClock,
                                                                           calls: CallLog) -> None:
    keys = make_user(world)
    record_activity(world, keys[0])
    incident, principal = parsed(finding(accessKeyId=keys[0], principalId="AIDA2EXAMPLE5DEPLOY1",
                                         userName="deploy-bot", userType="IAMUser"))
    calls.mark()
    facts = enrich_principal.enrich(PrincipalInput(incident=incident, principal=principal))
    assert_declared(calls, "enrich-principal")
    assert [k["id"] for k in facts["access_keys"]] == keys and facts["active_keys"] == 2
    assert facts["inline_policies"] == ["deploy"] and facts["exempt"] is False
    activity = facts["activity"]
    assert activity["events"] == 3  # the 30-hour-old call is outside the 24-hour window
    assert activity["write_events"] == ["CreateUser"]
    assert activity["source_ips"] == {"198.51.100.77": 2, "203.0.113.9": 1}
    assert "198.51.100.77" in facts["summary"] and "CreateUser" in facts["summary"]

    principal_doc, trail_doc = (json.loads(evidence_body(world, e["uri"])) for e in facts["evidence"])
    assert principal_doc["groups"] == ["deployers"] and principal_doc["console_access"] is False
    assert principal_doc["inline_policies"]["deploy"]["Statement"][0]["Action"] == "s3:PutObject"
    assert trail_doc["lookup"] == {"AttributeKey": "AccessKeyId", "AttributeValue": keys[0]}
    assert [e["eventName"] for e in trail_doc["events"]] == ["GetCallerIdentity", "CreateUser", "ListBuckets"]
    recorded = incidents.load_incident(incident.incident_id)
    assert {e["uri"] for e in recorded["evidence"]} == {e["uri"] for e in facts["evidence"]}


def test_enrich_a_role_and_an_exempt_principal(world: World, clock: ManualClock) -> None:
    iam = world.client("iam", MEMBER)
    iam.create_role(RoleName="app-server", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
        Tags=[{"Key": "irflow:exempt", "Value": "true"}])
    iam.create_instance_profile(InstanceProfileName="app-server")
    iam.add_role_to_instance_profile(InstanceProfileName="app-server", RoleName="app-server")
    incident, principal = parsed(finding(accessKeyId="ASIA2EXAMPLE7SESSION", principalId="AROA2EXAMPLE6:i-0abc1234",
                                         userName="app-server", userType="AssumedRole"))
    facts = enrich_principal.enrich(PrincipalInput(incident=incident, principal=principal))
    assert facts["kind"] == "iam-role" and facts["exempt"] is True and facts["activity"]["events"] == 0
    described = json.loads(evidence_body(world, facts["evidence"][0]["uri"]))
    assert described["instance_profiles"] == ["app-server"] and described["session"] == "i-0abc1234"


def test_enrich_a_principal_that_is_gone(world: World, clock: ManualClock) -> None:
    incident, principal = parsed(finding())
    with pytest.raises(PrincipalNotFound, match="deploy-bot no longer exists"):
        enrich_principal.enrich(PrincipalInput(incident=incident, principal=principal))
    assert incidents.load_incident(incident.incident_id)["evidence"] == []


def test_enrich_refuses_the_root_user(world: World, clock: ManualClock) -> None:
    incident, principal = parsed(finding(principalId="222222222222", userType="Root"))
    with pytest.raises(InvalidInput, match="not root"):
        enrich_principal.enrich(PrincipalInput(incident=incident, principal=principal))


# --- contain-principal -------------------------------------------------------------------------------------


def test_contain_a_user(world: World, clock: ManualClock, calls: CallLog) -> None:
    keys = make_user(world)
    iam = world.client("iam", MEMBER)
    iam.update_access_key(UserName="deploy-bot", AccessKeyId=keys[1], Status="Inactive")
    incident, principal = parsed(finding(accessKeyId=keys[0], userName="deploy-bot", userType="IAMUser"))
    calls.mark()
    result = contain_principal.contain(ContainPrincipalInput(incident=incident, principal=principal,
                                                             approval=APPROVAL))
    assert_declared(calls, "contain-principal")
    assert result["changed"] is True
    assert [k["Status"] for k in iam.list_access_keys(UserName="deploy-bot")["AccessKeyMetadata"]] == ["Inactive"] * 2
    assert [p["PolicyName"] for p in iam.list_attached_user_policies(UserName="deploy-bot")["AttachedPolicies"]] == [
        "AWSDenyAll"]
    name = f"irflow-revoke-sessions-{incident.incident_id}"
    assert sorted(iam.list_user_policies(UserName="deploy-bot")["PolicyNames"]) == ["deploy", name]
    document = iam.get_user_policy(UserName="deploy-bot", PolicyName=name)["PolicyDocument"]
    document = document if isinstance(document, dict) else json.loads(document)
    assert document["Statement"][0]["Condition"] == {"DateLessThan": {"aws:TokenIssueTime": "2025-03-14T09:30:00Z"}}
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName="deploy-bot")["Tags"]}
    assert tags["irflow:status"] == "contained" and tags["irflow:incident"] == incident.incident_id

    record = incidents.load_incident(incident.incident_id)
    assert record["status"] == "contained"
    assert {(a["name"], a["target"], a["result"].split(":")[0]) for a in record["actions"]} == {
        ("deactivate-access-key", keys[0], "done"), ("deactivate-access-key", keys[1], "unchanged"),
        ("attach-deny-all-policy", "deploy-bot", "done"), ("revoke-sessions", "deploy-bot", "done"),
        ("tag-principal", "deploy-bot", "done")}
    original = incidents.get_original_state(incident.incident_id, "iam-user/deploy-bot")
    assert original is not None
    assert original["access_keys"] == [{"id": keys[0], "status": "Active"}, {"id": keys[1], "status": "Inactive"}]
    assert original["attached_policies"] == [] and original["inline_policies"] == ["deploy"]


def test_containing_twice_changes_nothing_the_second_time(world: World, clock: ManualClock) -> None:
    make_user(world)
    incident, principal = parsed(finding())
    data = ContainPrincipalInput(incident=incident, principal=principal, approval=APPROVAL)
    contain_principal.contain(data)
    clock.tick(60)
    second = contain_principal.contain(data)
    assert second["changed"] is False
    original = incidents.get_original_state(incident.incident_id, "iam-user/deploy-bot")
    assert original is not None and {k["status"] for k in original["access_keys"]} == {"Active"}  # first run's record
    iam = world.client("iam", MEMBER)
    assert len(iam.list_attached_user_policies(UserName="deploy-bot")["AttachedPolicies"]) == 1


def test_contain_a_role_revokes_its_sessions_only(world: World, clock: ManualClock) -> None:
    iam = world.client("iam", MEMBER)
    iam.create_role(RoleName="app-server", AssumeRolePolicyDocument="{}")
    incident, principal = parsed(finding(accessKeyId="ASIA2EXAMPLE7SESSION", principalId="AROA2EXAMPLE6:i-0abc1234",
                                         userName="app-server", userType="AssumedRole"))
    contain_principal.contain(ContainPrincipalInput(incident=incident, principal=principal, approval=APPROVAL))
    assert iam.list_role_policies(RoleName="app-server")["PolicyNames"] == [
        f"irflow-revoke-sessions-{incident.incident_id}"]
    assert iam.list_attached_role_policies(RoleName="app-server")["AttachedPolicies"] == []
    assert [a["name"] for a in incidents.load_incident(incident.incident_id)["actions"]] == [
        "revoke-sessions", "tag-principal"]


def test_contain_a_principal_that_is_gone_changes_nothing(world: World, clock: ManualClock) -> None:
    incident, principal = parsed(finding())
    with pytest.raises(PrincipalNotFound):
        contain_principal.contain(ContainPrincipalInput(incident=incident, principal=principal, approval=APPROVAL))
    assert incidents.load_incident(incident.incident_id)["actions"] == []
