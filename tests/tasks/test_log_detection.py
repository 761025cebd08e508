"""log-detection: payloads decoded as CloudWatch Logs sends them, the shipped rules on real-shaped records, the bus and the EMF count.

Each shipped rule is run on a record it must match and on a near miss it must not; the function
is run against the embedded AWS and the world is read back: the detections arrive through an
EventBridge rule on the bus (an SQS target, as a playbook trigger would receive them), a refused
delivery is in the incidents table, the embedded metric is on stdout in CloudWatch's format.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from irflow.local.world import World
from tasks.log_detection import SOURCE, TASK, LogsEvent, process, rules
from tasks.log_detection.detect import evaluate
from tasks.log_detection.records import PayloadError, decode, encode
from tasks.log_detection.rules import RuleError, load_rules, parse_rule
from tests.tasks.conftest import CallLog

MEMBER = "222222222222"
ROOT = json.loads(decode(TASK.example["awslogs"]["data"]).events[0].message)


def trail(**fields: Any) -> dict[str, Any]:
    """A CloudTrail record of a member account's API call, with `fields` over the defaults."""
    record = {"eventVersion": "1.09", "eventTime": "2025-01-01T09:00:00Z", "awsRegion": "us-east-1",
              "sourceIPAddress": "198.51.100.23", "userAgent": "aws-cli/2.15.0",
              "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{MEMBER}:user/devops-ci", "userName": "devops-ci"},
              "eventType": "AwsApiCall", "recipientAccountId": MEMBER, "requestParameters": None,
              "responseElements": None, "eventID": "0d3c8e1a-6f2b-4c7d-9e0f-1a2b3c4d5e01"}
    record.update(fields)
    return record


def flow(src: str, dst: str, dport: int, action: str, start: int = 1735722000, sport: int = 51234) -> str:
    return f"2 {MEMBER} eni-0a1b2c3d4e5f60718 {src} {dst} {sport} {dport} 6 10 840 {start} {start + 60} {action} OK"


def batch_of(*messages: Any, group: str = "/irflow/cloudtrail") -> str:
    events = [{"id": str(10**55 + i), "timestamp": 1735722000000 + i,
               "message": m if isinstance(m, str) else json.dumps(m)} for i, m in enumerate(messages)]
    return encode({"messageType": "DATA_MESSAGE", "owner": "111111111111", "logGroup": group, "logStream": "s",
                   "subscriptionFilters": ["irflow-log-detection"], "logEvents": events})


def detected(*messages: Any) -> list[str]:
    return sorted(d.rule.id for d in evaluate(decode(batch_of(*messages)), rules(), "us-east-1").detections)


SG_OPEN: dict[str, Any] = {"groupId": "sg-0a1b2c3d4e5f60718", "ipPermissions": {"items": [
    {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "groups": {}, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]},
     "ipv6Ranges": {}, "prefixListIds": {}}]}}
SG_HTTPS = copy.deepcopy(SG_OPEN)
SG_HTTPS["ipPermissions"]["items"][0].update(fromPort=443, toPort=443)
SG_OFFICE = copy.deepcopy(SG_OPEN)
SG_OFFICE["ipPermissions"]["items"][0]["ipRanges"] = {"items": [{"cidrIp": "10.40.0.0/16"}]}
SG_RDP_V6_RANGE = {"groupId": "sg-0a1b2c3d4e5f60719", "ipPermissions": {"items": [
    {"ipProtocol": "tcp", "fromPort": 3000, "toPort": 4000, "ipRanges": {}, "ipv6Ranges": {"items": [{"cidrIpv6": "::/0"}]}}]}}
SG_SPLIT = {"groupId": "sg-0a1b2c3d4e5f60720", "ipPermissions": {"items": [  # world on 443, office on 22: no rule is both
    {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}},
    {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "10.40.0.0/16"}]}}]}}

# rule -> (a record it must detect, a near miss it must not)
CASES: dict[str, tuple[Any, Any]] = {
    "root-console-sign-in": (ROOT, {**ROOT, "userIdentity": {"type": "IAMUser", "userName": "alice"}}),
    "iam-user-created": (trail(eventSource="iam.amazonaws.com", eventName="CreateUser",
                               requestParameters={"userName": "backup-svc"}),
                         trail(eventSource="iam.amazonaws.com", eventName="CreateUser", errorCode="AccessDenied",
                               requestParameters={"userName": "backup-svc"})),
    "iam-access-key-created": (trail(eventSource="iam.amazonaws.com", eventName="CreateAccessKey",
                                     responseElements={"accessKey": {"userName": "backup-svc", "status": "Active"}}),
                               trail(eventSource="iam.amazonaws.com", eventName="UpdateAccessKey",
                                     requestParameters={"userName": "backup-svc", "status": "Inactive"})),
    "iam-administrator-attached-to-user": (
        trail(eventSource="iam.amazonaws.com", eventName="AttachUserPolicy",
              requestParameters={"userName": "backup-svc", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
        trail(eventSource="iam.amazonaws.com", eventName="AttachUserPolicy",
              requestParameters={"userName": "auditor", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"})),
    "cloudtrail-stopped-or-deleted": (trail(eventSource="cloudtrail.amazonaws.com", eventName="StopLogging",
                                            requestParameters={"name": "org-trail"}),
                                      trail(eventSource="cloudtrail.amazonaws.com", eventName="StartLogging",
                                            requestParameters={"name": "org-trail"})),
    "cloudtrail-updated": (trail(eventSource="cloudtrail.amazonaws.com", eventName="UpdateTrail",
                                 requestParameters={"name": "org-trail", "s3BucketName": "elsewhere"}),
                           trail(eventSource="cloudtrail.amazonaws.com", eventName="UpdateTrail", errorCode="AccessDenied",
                                 requestParameters={"name": "org-trail"})),
    "guardduty-disabled": (trail(eventSource="guardduty.amazonaws.com", eventName="UpdateDetector",
                                 requestParameters={"detectorId": "12abc", "enable": False}),
                           trail(eventSource="guardduty.amazonaws.com", eventName="UpdateDetector",
                                 requestParameters={"detectorId": "12abc", "enable": True})),
    "macie-disabled": (trail(eventSource="macie2.amazonaws.com", eventName="UpdateMacieSession",
                             requestParameters={"status": "PAUSED"}),
                       trail(eventSource="macie2.amazonaws.com", eventName="UpdateMacieSession",
                             requestParameters={"status": "ENABLED"})),
    "security-group-open-to-world": (trail(eventSource="ec2.amazonaws.com", eventName="AuthorizeSecurityGroupIngress",
                                           requestParameters=SG_OPEN),
                                     trail(eventSource="ec2.amazonaws.com", eventName="AuthorizeSecurityGroupIngress",
                                           requestParameters=SG_SPLIT)),
    "flow-admin-port-accepted-from-internet": (flow("198.51.100.77", "10.0.1.15", 3389, "ACCEPT"),
                                               flow("10.0.2.9", "10.0.1.15", 22, "ACCEPT")),
    "flow-traffic-to-bad-address": (flow("10.0.1.15", "198.51.100.201", 443, "ACCEPT"),
                                    flow("10.0.1.15", "198.51.100.204", 443, "ACCEPT")),
}


def test_every_shipped_rule_loads_and_has_a_case_here() -> None:
    shipped = {r.id for r in load_rules()}
    assert shipped == set(CASES) | {"flow-rejected-surge"}
    assert all(r.playbook == "detection-response" for r in load_rules())


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_detects_its_record_and_not_the_near_miss(rule: str) -> None:
    hit, miss = CASES[rule]
    assert detected(hit) == [rule]
    assert detected(miss) == []


def test_security_group_rule_reads_each_permission_as_one_rule() -> None:
    def opened(params: dict[str, Any]) -> list[str]:
        return detected(trail(eventSource="ec2.amazonaws.com", eventName="AuthorizeSecurityGroupIngress",
                              requestParameters=params))

    assert opened(SG_HTTPS) == opened(SG_OFFICE) == []
    assert opened(SG_RDP_V6_RANGE) == ["security-group-open-to-world"]  # 3000-4000 covers 3389, from ::/0
    every_port = {"groupId": "sg-1", "ipPermissions": {"items": [
        {"ipProtocol": "-1", "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}
    assert opened(every_port) == ["security-group-open-to-world"]


def test_surge_counts_rejections_from_one_source_within_the_window() -> None:
    scan = [flow("203.0.113.9", "10.0.1.15", port, "REJECT", start=1735722000 + i * 2, sport=61000 + i)
            for i, port in enumerate(range(20, 40))]
    spread = [flow("192.0.2.44", "10.0.1.15", 3389, "REJECT", start=1735722000 + i * 30, sport=62000 + i)
              for i in range(25)]  # 25 rejections, but never 20 within a minute
    found = evaluate(decode(batch_of(*scan, *spread)), rules(), "us-east-1").detections
    assert [(d.rule.id, d.resource_id, len(d.matches)) for d in found] == [("flow-rejected-surge", "203.0.113.9", 20)]
    assert detected(*scan[:19]) == []


def test_detections_group_by_resource_and_carry_their_records() -> None:
    stop = CASES["cloudtrail-stopped-or-deleted"][0]
    delete = {**stop, "eventName": "DeleteTrail", "eventTime": "2025-01-01T09:01:00Z"}
    other = {**stop, "requestParameters": {"name": "other-trail"}}
    batch = decode(batch_of(stop, delete, other))
    found = evaluate(batch, rules(), "us-east-1").detections
    assert sorted((d.resource_id, len(d.matches)) for d in found) == [("org-trail", 2), ("other-trail", 1)]
    detail = next(d for d in found if d.resource_id == "org-trail").detail(batch)
    assert detail["count"] == 2 and detail["firstSeen"] == "2025-01-01T09:00:00Z"
    assert detail["lastSeen"] == detail["updatedAt"] == "2025-01-01T09:01:00Z"
    assert [r["eventName"] for r in detail["records"]] == ["StopLogging", "DeleteTrail"]
    assert detail["accountId"] == MEMBER and detail["resource"] == {"type": "cloudtrail-trail", "id": "org-trail"}
    assert detail["title"].startswith("CloudTrail StopLogging on org-trail in 222222222222")
    again = evaluate(decode(batch_of(stop, delete, other)), rules(), "us-east-1").detections
    assert {d.id for d in again} == {d.id for d in found}  # a redelivered batch is the same detection


@pytest.mark.parametrize(("data", "reason"), [
    ("not base64!", "not base64"),
    (base64.b64encode(b'{"messageType": "DATA_MESSAGE"}').decode(), "not gzip"),
    (base64.b64encode(base64.b64decode(TASK.example["awslogs"]["data"])[:200]).decode(), "truncated"),
    (base64.b64encode(gzip.compress(b"{not json")).decode(), "not JSON"),
    (base64.b64encode(gzip.compress(b'{"hello": "world"}')).decode(), "not a CloudWatch Logs subscription message"),
])
def test_unreadable_payloads_say_what_is_wrong(data: str, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        decode(data)


def test_rules_that_cannot_be_applied_fail_to_load(tmp_path: Path) -> None:
    def lists(name: str) -> Any:
        raise RuleError(f"no list {name}")

    base = {"id": "x-rule", "description": "d", "source": "cloudtrail", "severity": 5, "match": {"eventName": "X"},
            "playbook": "detection-response"}
    parse_rule(base, "ok.yaml", lists)
    problems = {
        "unknown key 'matchs'": {**base, "matchs": {}},
        "unknown operator 'equal'": {**base, "match": {"eventName": {"equal": "X"}}},
        "source must be one of": {**base, "source": "syslog"},
        "severity must be": {**base, "severity": 11},
        "starts a playbook, counts a metric, or both": {k: v for k, v in base.items() if k != "playbook"},
        "not a regular expression": {**base, "match": {"eventName": {"matches": "("}}},
        "threshold count": {**base, "threshold": {"group_by": ["srcaddr"], "count": 1}},
    }
    for message, data in problems.items():
        with pytest.raises(RuleError, match=message):
            parse_rule(data, "bad.yaml", lists)
    (tmp_path / "lists").mkdir()
    (tmp_path / "one.yaml").write_text("id: same\ndescription: a\nsource: cloudtrail\nseverity: 1\nmatch: {a: 1}\n"
                                       "playbook: p\n")
    (tmp_path / "two.yaml").write_text((tmp_path / "one.yaml").read_text())
    with pytest.raises(RuleError, match="another rule already has the id 'same'"):
        load_rules(tmp_path)
    (tmp_path / "two.yaml").write_text("id: listed\ndescription: a\nsource: vpc-flow-logs\nseverity: 1\n"
                                       "match: {srcaddr: {listed: nowhere}}\nplaybook: p\n")
    with pytest.raises(RuleError, match="no file nowhere.txt"):
        load_rules(tmp_path)


# --- the function against the embedded AWS --------------------------------------------------------


def _bus_queue(world: World) -> str:
    """A queue receiving every irflow Detection on the default bus, as a playbook trigger would."""
    sqs, events = world.client("sqs"), world.client("events")
    url = sqs.create_queue(QueueName="detections")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="detections", EventPattern=json.dumps({"source": [SOURCE], "detail-type": ["irflow Detection"]}))
    events.put_targets(Rule="detections", Targets=[{"Id": "q", "Arn": arn}])
    return str(url)


def _received(world: World, url: str) -> list[dict[str, Any]]:
    messages = world.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_detections_reach_the_bus_and_the_metric_is_written(world: World, calls: CallLog,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    url = _bus_queue(world)
    data = batch_of(CASES["iam-user-created"][0], CASES["iam-user-created"][1], ROOT,
                    {**CASES["iam-user-created"][0], "recipientAccountId": "333333333333"})
    with calls.checking("log-detection"):
        result = process(data)
    assert result["status"] == "detected"
    assert result["records"] == {"cloudtrail": 4, "vpc-flow-logs": 0, "unreadable": 0}
    delivered = _received(world, url)
    assert sorted((e["detail"]["rule"]["id"], e["detail"]["accountId"]) for e in delivered) == [
        ("iam-user-created", "222222222222"), ("iam-user-created", "333333333333"),
        ("root-console-sign-in", "222222222222")]
    assert all(e["detail"]["playbook"] == "detection-response" for e in delivered)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert [(line["AccountId"], line["IamUsersCreated"]) for line in lines] == [("222222222222", 1), ("333333333333", 1)]
    directive = lines[0]["_aws"]["CloudWatchMetrics"][0]
    assert directive == {"Namespace": "irflow/detections", "Dimensions": [["AccountId"]],
                         "Metrics": [{"Name": "IamUsersCreated", "Unit": "Count"}]}


def test_a_clean_batch_puts_nothing(world: World) -> None:
    url = _bus_queue(world)
    assert process(batch_of(*(miss for _, miss in CASES.values())))["status"] == "clean"
    assert _received(world, url) == []


def test_refused_and_control_deliveries_are_recorded_or_ignored(world: World) -> None:
    url = _bus_queue(world)
    handler_event = {"awslogs": {"data": "bm90IGd6aXA="}}  # base64 of "not gzip"
    LogsEvent.model_validate(handler_event)
    refused = process(handler_event["awslogs"]["data"])
    assert refused["status"] == "refused" and "not gzip" in refused["reason"]
    table = world.central.incidents_table if world.central else ""
    item = world.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": f"REJECTED#{refused['event_id']}"},
                                                                    "sk": {"S": "META"}})["Item"]
    assert item["error"]["S"] == "irflow.InvalidLogPayload" and "not gzip" in item["cause"]["S"]
    control = encode({"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "",
                      "subscriptionFilters": [], "logEvents": [
                          {"id": "", "timestamp": 1, "message": "CWL CONTROL MESSAGE: Checking health of destination"}]})
    assert process(control)["status"] == "control-message"
    assert _received(world, url) == []
