"""Issue 5's scenario kinds and options: refused when wrong, created in the embedded AWS, read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from irflow.local import scenario as S
from irflow.local.world import World

MEMBER = "222222222222"
EVENT = {"version": "0", "id": "e-1", "detail-type": "Config Rules Compliance Change", "source": "aws.config",
         "account": MEMBER, "time": "2025-03-14T09:26:41Z", "region": "us-east-1", "resources": [],
         "detail": {"resourceId": "${ssh.id}", "configRuleName": "${rule.name}", "configRuleARN": "${rule.arn}",
                    "key": "${alice.access_key_id}", "session": "${app.access_key_id}"}}
WORLD_OPEN_SSH = {"protocol": "tcp", "port": 22, "cidrs": ["0.0.0.0/0", "::/0"], "description": "admin"}


def _write(tmp_path: Path, body: dict[str, Any]) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps(body))
    return path


@pytest.mark.parametrize(("resource", "message"), [
    ({"type": "security-group", "ingress": [{"protocol": "tcp", "port": 22}]}, "ingress must be a list of rules"),
    ({"type": "security-group", "ingress": [{"protocol": "tcp", "ports": "30-20", "cidrs": ["0.0.0.0/0"]}]},
     "ingress must be"),
    ({"type": "security-group", "ingress": [{"protocol": "gre", "port": 1, "cidrs": ["0.0.0.0/0"]}]}, "ingress must"),
    ({"type": "security-group", "ingress": [{"port": 22, "cidrs": ["0.0.0.0/99"]}]}, "ingress must"),
    ({"type": "config-rule", "identifier": "incoming-ssh"}, "identifier must be an AWS Config managed rule"),
    ({"type": "iam-user", "activity": [{"event": "ListUsers"}]}, "activity must be a list of API calls"),
    ({"type": "iam-role", "trusted_service": "ec2"}, "trusted_service must be a service principal"),
    ({"type": "s3-bucket", "acl": "world-writable"}, "acl must be one of"),
    ({"type": "security-group", "access_keys": 1}, "unknown option 'access_keys' for type security-group"),
])
def test_wrong_options_are_refused_with_one_line(tmp_path: Path, resource: dict[str, Any], message: str) -> None:
    with pytest.raises(S.ScenarioError) as caught:
        S.load(_write(tmp_path, {"event": {"source": "x"}, "resources": {"thing": resource}}))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_new_kinds_and_options_are_made_and_read_back(tmp_path: Path) -> None:
    scenario = S.load(_write(tmp_path, {"event": EVENT, "resources": {
        "ssh": {"type": "security-group", "description": "bastion", "tags": {"Owner": "ops"},
                "ingress": [WORLD_OPEN_SSH, {"protocol": "tcp", "ports": "8080-8081", "cidrs": ["10.0.0.0/8"]}]},
        "rule": {"type": "config-rule", "identifier": "RESTRICTED_INCOMING_TRAFFIC",
                 "parameters": {"blockedPort1": 22}},
        "alice": {"type": "iam-user", "access_keys": 2, "inline_policies": {"s3": {
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}},
            "activity": [{"event": "ListBuckets", "source": "s3.amazonaws.com", "ip": "203.0.113.7", "minutes_ago": 20},
                         {"event": "CreateUser", "source": "iam.amazonaws.com", "minutes_ago": 10, "key": 2,
                          "error": "AccessDenied"}]},
        "app": {"type": "iam-role", "trusted_service": "ec2.amazonaws.com",
                "activity": [{"event": "GetCallerIdentity", "source": "sts.amazonaws.com", "minutes_ago": 5}]},
        "data": {"type": "s3-bucket", "public": True, "acl": "public-read", "encryption": "AES256",
                 "objects": {"people.csv": "name,ssn", "readme.txt": "hi"}, "public_objects": ["people.csv"]},
    }}))
    with World() as world:
        for account, role in S.accounts_of(scenario, MEMBER).items():
            world.add_member(account, role)
        created = S.create(world, scenario)
        assert S.after_state(world, created["ssh"]) == {
            "id": created["ssh"].id, "name": "ssh", "egressRules": 1, "tags": {"Owner": "ops"},
            "ingressRules": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrs": ["0.0.0.0/0", "::/0"]},
                             {"protocol": "tcp", "fromPort": 8080, "toPort": 8081, "cidrs": ["10.0.0.0/8"]}]}
        assert S.after_state(world, created["rule"]) == {
            "name": "rule", "identifier": "RESTRICTED_INCOMING_TRAFFIC", "parameters": {"blockedPort1": "22"},
            "state": "ACTIVE"}
        # issue 3's after-states are unchanged; what the options made is read from the embedded AWS
        assert set(S.after_state(world, created["alice"])) == {"name", "accessKeys", "attachedPolicies",
                                                               "inlinePolicies"}
        assert S.after_state(world, created["alice"])["inlinePolicies"] == ["s3"]
        iam = world.client("iam", MEMBER)
        trust = iam.get_role(RoleName="app")["Role"]["AssumeRolePolicyDocument"]
        assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
        s3 = world.client("s3", MEMBER)
        assert any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in s3.get_bucket_acl(Bucket=created["data"].name)["Grants"])
        people = s3.get_object_acl(Bucket=created["data"].name, Key="people.csv")["Grants"]
        readme = s3.get_object_acl(Bucket=created["data"].name, Key="readme.txt")["Grants"]
        assert any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in people)
        assert not any("URI" in g["Grantee"] for g in readme)

        event = S.substitute(scenario.events[0], created)["detail"]
        keys = [k["AccessKeyId"] for k in iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]]
        assert event["key"] == created["alice"].extra["access_keys"][0] and event["key"] in keys
        assert event["session"].startswith("ASIA") and len(event["session"]) == 20
        assert event["resourceId"].startswith("sg-") and event["configRuleARN"].startswith("arn:aws:config:")

        # the activity is CloudTrail's event history for the principal's keys and session
        cloudtrail = world.client("cloudtrail", MEMBER)
        by_second_key = cloudtrail.lookup_events(LookupAttributes=[
            {"AttributeKey": "AccessKeyId", "AttributeValue": created["alice"].extra["access_keys"][1]}])["Events"]
        assert [e["EventName"] for e in by_second_key] == ["CreateUser"]
        record = json.loads(by_second_key[0]["CloudTrailEvent"])
        assert record["errorCode"] == "AccessDenied" and record["userIdentity"]["userName"] == "alice"
        by_user = cloudtrail.lookup_events(LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "alice"}])
        assert [e["EventName"] for e in by_user["Events"]] == ["CreateUser", "ListBuckets"]
        session = cloudtrail.lookup_events(LookupAttributes=[
            {"AttributeKey": "AccessKeyId", "AttributeValue": event["session"]}])["Events"]
        assert [e["Username"] for e in session] == ["i-0123456789abcdef0"]


def test_a_public_acl_on_a_blocked_bucket_is_refused(tmp_path: Path) -> None:
    scenario = S.load(_write(tmp_path, {"event": {"source": "x"}, "resources": {
        "data": {"type": "s3-bucket", "acl": "public-read"}}}))
    with World() as world, pytest.raises(S.ScenarioError, match="needs `public: true`"):
        world.add_member(MEMBER)
        S.create(world, scenario)


def test_access_key_id_of_a_user_without_keys_is_one_clear_line(tmp_path: Path) -> None:
    scenario = S.load(_write(tmp_path, {"event": {"source": "x", "detail": {"k": "${bob.access_key_id}"}},
                                        "resources": {"bob": {"type": "iam-user", "access_keys": 0}}}))
    with World() as world:
        world.add_member(MEMBER)
        created = S.create(world, scenario)
        with pytest.raises(S.ScenarioError, match="has no access key"):
            S.substitute(scenario.events[0], created)
