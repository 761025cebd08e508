"""Scenario files: what is refused (one clear line), what is created, what is read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from irflow.cli import main as cli
from irflow.local import scenario as S
from irflow.local.world import World

REPO = Path(__file__).resolve().parents[2]
EVENT = {"version": "0", "id": "e-1", "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
         "account": "222222222222", "time": "2025-03-14T09:26:41Z", "region": "us-east-1", "resources": [],
         "detail": {"id": "f-1", "accountId": "222222222222", "resource": {"instanceDetails": {"instanceId": "${web.id}"}}}}


def _write(tmp_path: Path, body: dict | str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    return path


@pytest.mark.parametrize(("body", "message"), [
    ({"event": EVENT, "bogus": 1}, "unknown key 'bogus'"),
    ({"resources": {}}, "give exactly one of event, events or event_file"),
    ({"event": EVENT, "events": [EVENT]}, "found event, events"),
    ({"event": EVENT, "resources": {"web": {"type": "ec2-instance", "colour": "red"}}}, "unknown option 'colour'"),
    ({"event": EVENT, "resources": {"web": {"type": "lambda"}}}, "type must be one of"),
    ({"event": EVENT, "resources": {"web": {"type": "ec2-instance", "platform": "bsd"}}}, "platform must be linux or windows"),
    ({"event": EVENT, "resources": {"web": {"type": "ec2-instance", "account": "12345"}}}, "not a 12-digit"),
    ({"event": EVENT, "resources": {"db": {"type": "ec2-instance"}}}, "${web.id} names no resource"),
    ({"event": EVENT | {"detail": {"x": "${web.colour}"}}, "resources": {"web": {"type": "ec2-instance"}}},
     "attribute must be one of"),
    ({"event": EVENT, "resources": {"web": {"type": "ec2-instance"}}, "approvals": "maybe"}, "approvals must be one of"),
    ({"event_file": "missing.json"}, "cannot read event file"),
    ({"events": ["not an event"]}, "event 1: expected an EventBridge event"),
    ({"event": EVENT, "accounts": {"members": {"222222222222": {"role": "sometimes"}}}}, "present or missing"),
    ("name: [unclosed", "is not valid YAML"),
])
def test_bad_scenarios_are_refused_with_one_line(tmp_path: Path, body: dict | str, message: str) -> None:
    with pytest.raises(S.ScenarioError) as caught:
        S.load(_write(tmp_path, body))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_cli_exit_2_and_one_line_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, {"event": EVENT, "resources": {"web": {"type": "ec2-instance", "colour": "red"}}})
    assert cli(["simulate", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "Traceback" not in captured.err


def test_unquoted_account_ids_and_approve_override(tmp_path: Path) -> None:
    path = _write(tmp_path, "event: {source: x}\napprovals: reject\n"
                            "accounts: {security: 111111111111, members: {222222222222: {role: missing}}}\n")
    scenario = S.load(path, approvals="timeout")
    assert scenario.security_account == "111111111111" and scenario.members == {"222222222222": False}
    assert scenario.approvals == "timeout"


def test_every_shipped_scenario_loads() -> None:
    paths = sorted((REPO / "scenarios").glob("*.yaml"))
    assert len(paths) >= 11
    for path in paths:
        scenario = S.load(path)
        assert scenario.events and scenario.resources, path


def test_resources_are_created_and_read_back_in_the_documented_shape(tmp_path: Path) -> None:
    path = _write(tmp_path, {
        "event": EVENT,
        "resources": {
            "web": {"type": "ec2-instance", "account": "222222222222", "tags": {"Name": "web-1"},
                    "auto_scaling_group": "web-asg", "target_group": "web-tg", "instance_profile": "web-role"},
            "win": {"type": "ec2-instance", "platform": "windows", "ssm_managed": False},
            "alice": {"type": "iam-user", "access_keys": 2},
            "data": {"type": "s3-bucket", "public": True, "objects": {"a.txt": "hello"}},
        }})
    scenario = S.load(path)
    with World() as world:
        for account, role in S.accounts_of(scenario, "222222222222").items():
            world.add_member(account, role)
        created = S.create(world, scenario)
        web = S.after_state(world, created["web"])
        assert set(web) == {"id", "state", "securityGroups", "tags", "terminationProtection", "autoScalingGroup",
                            "targetGroups", "snapshots"}
        assert web["state"] == "running" and web["autoScalingGroup"] == "web-asg" and web["targetGroups"] == ["web-tg"]
        assert web["securityGroups"] == [{"id": web["securityGroups"][0]["id"], "name": "web-sg",
                                          "ingressRules": 2, "egressRules": 1}]
        ec2 = world.client("ec2", "222222222222")
        described = ec2.describe_instances(InstanceIds=[created["win"].id])["Reservations"][0]["Instances"][0]
        assert described["Platform"] == "windows"
        managed = world.agent.describe("222222222222", "us-east-1", {})["InstanceInformationList"]
        assert [row["InstanceId"] for row in managed] == [created["web"].id]  # win: ssm_managed false
        alice = S.after_state(world, created["alice"])
        assert [k["status"] for k in alice["accessKeys"]] == ["Active", "Active"]
        assert S.after_state(world, created["data"]) == {
            "name": "data-222222222222", "policyIsPublic": True,
            "publicAccessBlock": {"BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
                                  "RestrictPublicBuckets": False}}
        event = S.substitute(scenario.events[0], created)
        assert event["detail"]["resource"]["instanceDetails"]["instanceId"] == created["web"].id
