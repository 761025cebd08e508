"""parse-alarm and alarm-router: what an alarm is about, and the SNS path that starts the playbook.

parse-alarm is pure (it is given events in EventBridge's format and must say what it is, or
refuse it naming the field). alarm-router runs against the embedded AWS with a state machine
called irflow-alarm-response in moto's own Step Functions: what it started is read back from
there, and what it refused from the incidents table.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from irflow.local.world import World
from tasks.alarm_router import TASK as ROUTER
from tasks.alarm_router import AlarmNotification, SnsEvent, execution_name, route
from tasks.common.errors import IrflowError
from tasks.parse_alarm import TASK as PARSE
from tasks.parse_alarm import InvalidAlarm, parse
from tests.tasks.conftest import CallLog

WAF_EVENT: dict[str, Any] = PARSE.example["event"]


def with_metric(namespace: str, name: str, dimensions: dict[str, str], **detail: Any) -> dict[str, Any]:
    event = copy.deepcopy(WAF_EVENT)
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"] = {
        "namespace": namespace, "name": name, "dimensions": dimensions}
    event["detail"].update(detail)
    return event


def test_a_waf_sql_injection_alarm_names_its_web_acl_and_rule() -> None:
    out = parse(WAF_EVENT, PARSE.example["policy"])
    incident, alarm = out["incident"], out["alarm"]
    assert alarm["kind"] == "waf-sqli" and alarm["note"] is None
    assert alarm["web_acl"] == {"metric_name": "shop-acl", "rule_metric_name": "SQLiRuleSet", "scope": "REGIONAL",
                                "region": "us-east-1"}
    assert (incident["resource_type"], incident["resource_id"], incident["source"]) == (
        "waf-web-acl", "shop-acl", "CloudWatch alarm")
    assert (incident["severity"], incident["severity_band"], incident["account_id"]) == (7.0, "high", "222222222222")
    assert incident["finding_id"].endswith(":alarm:shop-sqli-blocked#2025-01-01T09:00:00Z")
    assert out["policy"]["block_seconds"] == 86400 and out["policy"]["never_block"] == []


def test_policy_strings_become_values() -> None:
    policy = {**PARSE.example["policy"], "never_block": "192.0.2.0/24, 2001:db8::/32", "block_seconds": "3600"}
    out = parse(WAF_EVENT, policy)["policy"]
    assert out["never_block"] == ["192.0.2.0/24", "2001:db8::/32"] and out["block_seconds"] == 3600
    with pytest.raises(IrflowError, match="policy.sqli_rule_pattern"):
        parse(WAF_EVENT, {**policy, "sqli_rule_pattern": "("})


def test_the_same_change_is_the_same_incident_and_a_later_one_is_not() -> None:
    first = parse(WAF_EVENT, {})["incident"]["incident_id"]
    redelivered = copy.deepcopy(WAF_EVENT)
    redelivered["id"] = "another-envelope"
    assert parse(redelivered, {})["incident"]["incident_id"] == first
    later = copy.deepcopy(WAF_EVENT)
    later["detail"]["state"]["timestamp"] = "2025-01-02T09:00:00.000+0000"
    assert parse(later, {})["incident"]["incident_id"] != first


def test_cloudfront_web_acls_have_no_region_dimension() -> None:
    alarm = parse(with_metric("AWS/WAFV2", "BlockedRequests", {"WebACL": "edge-acl", "Rule": "AWS-SQLi"}), {})["alarm"]
    assert alarm["web_acl"]["scope"] == "CLOUDFRONT" and alarm["web_acl"]["region"] == "us-east-1"


def test_shield_ddos_names_the_protected_resource() -> None:
    arn = "arn:aws:elasticloadbalancing:us-east-1:222222222222:loadbalancer/app/shop/50dc6c495c0c9188"
    out = parse(with_metric("AWS/DDoSProtection", "DDoSDetected", {"ResourceArn": arn}), {})
    assert out["alarm"]["kind"] == "ddos" and out["alarm"]["protected_resource_arn"] == arn
    assert (out["incident"]["resource_id"], out["incident"]["severity"]) == (arn, 8.0)


@pytest.mark.parametrize(("namespace", "name", "dimensions", "note"), [
    ("AWS/WAFV2", "BlockedRequests", {}, "has no dimensions"),
    ("AWS/WAFV2", "BlockedRequests", {"Rule": "SQLiRuleSet", "Region": "us-east-1"}, "has no WebACL dimension"),
    ("AWS/DDoSProtection", "DDoSDetected", {}, "has no ResourceArn dimension"),
    ("AWS/EC2", "CPUUtilization", {}, "has no dimensions"),
])
def test_an_alarm_without_the_dimension_naming_its_resource_is_only_recorded(
        namespace: str, name: str, dimensions: dict[str, str], note: str) -> None:
    out = parse(with_metric(namespace, name, dimensions), {})
    assert out["alarm"]["kind"] == "other" and note in out["alarm"]["note"]
    assert (out["incident"]["resource_type"], out["incident"]["resource_id"]) == ("cloudwatch-alarm", "shop-sqli-blocked")


def test_other_alarms_and_composites() -> None:
    cpu = parse(with_metric("AWS/EC2", "CPUUtilization", {"InstanceId": "i-0a1b2c3d4e5f60718"}), {})
    assert cpu["alarm"]["kind"] == "other" and cpu["alarm"]["note"] is None
    assert cpu["incident"]["finding_type"] == "CloudWatchAlarm:AWS/EC2/CPUUtilization"
    composite = copy.deepcopy(WAF_EVENT)
    composite["detail"]["configuration"] = {"alarmRule": "ALARM(a) AND ALARM(b)"}
    assert "composite alarm" in parse(composite, {})["alarm"]["note"]


@pytest.mark.parametrize(("change", "field"), [
    (lambda e: e["detail"]["state"].update(value="OK"), "detail.state.value"),
    (lambda e: e["detail"]["state"].update(timestamp="soon"), "detail.state.timestamp"),
    (lambda e: e["detail"].pop("state"), "detail.state"),
    (lambda e: e.update(source="com.example.monitoring"), "source"),
    (lambda e: e.update(account="2222"), "account"),
])
def test_malformed_events_are_refused_naming_the_field(change: Any, field: str) -> None:
    event = copy.deepcopy(WAF_EVENT)
    change(event)
    with pytest.raises(InvalidAlarm, match=field.replace(".", r"\.")):
        parse(event, {})
    assert InvalidAlarm.error_name == "irflow.InvalidAlarm"


# --- alarm-router against the embedded AWS -----------------------------------------------------------


def _machine(world: World) -> str:
    sfn = world.client("stepfunctions")
    arn: str = sfn.create_state_machine(
        name="irflow-alarm-response", definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn=f"arn:aws:iam::{world.security_account}:role/irflow-alarm-response-execution")["stateMachineArn"]
    return arn


def _record(message: Any, message_id: str = "95df01b4-ee98-5cb9-9903-4c221d41eb5e") -> Any:
    event = copy.deepcopy(ROUTER.example)
    sns = event["Records"][0]["Sns"]
    sns["Message"] = message if isinstance(message, str) else json.dumps(message)
    sns["MessageId"] = message_id
    return SnsEvent.model_validate(event).Records[0]


def _alarm() -> dict[str, Any]:
    return dict(json.loads(ROUTER.example["Records"][0]["Sns"]["Message"]))


def test_the_router_starts_the_playbook_with_eventbridges_event(world: World, calls: CallLog) -> None:
    machine = _machine(world)
    sfn = world.client("stepfunctions")
    with calls.checking("alarm-router"):
        result = route(_record(_alarm()), world.security_account, world.region, sfn)
    assert result["outcome"] == "started"
    (execution,) = sfn.list_executions(stateMachineArn=machine)["executions"]
    started = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert execution["name"] == execution_name(AlarmNotification.model_validate(_alarm()))
    assert (started["source"], started["detail-type"], started["account"], started["region"]) == (
        "aws.cloudwatch", "CloudWatch Alarm State Change", "222222222222", "us-east-1")
    assert started["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"] == {
        "namespace": "AWS/WAFV2", "name": "BlockedRequests",
        "dimensions": {"WebACL": "shop-acl", "Region": "us-east-1", "Rule": "SQLiRuleSet"}}
    via_eventbridge = parse(started, {})  # the playbook reads it as it reads EventBridge's
    assert via_eventbridge["alarm"]["kind"] == "waf-sqli"
    assert via_eventbridge["incident"]["incident_id"] == parse(WAF_EVENT, {})["incident"]["incident_id"]


def test_metric_math_alarms_keep_their_queries(world: World) -> None:
    _machine(world)
    alarm = _alarm()
    trigger = alarm.pop("Trigger")
    alarm["Trigger"] = {"Period": 300, "EvaluationPeriods": 1, "Threshold": 20.0, "Metrics": [
        {"Id": "e1", "Expression": "m1 + m2", "ReturnData": True},
        {"Id": "m1", "ReturnData": False, "MetricStat": {"Metric": {"MetricName": "BlockedRequests", "Namespace": "AWS/WAFV2",
                                                                    "Dimensions": trigger["Dimensions"]},
                                                         "Period": 300, "Stat": "Sum"}}]}
    sfn = world.client("stepfunctions")
    route(_record(alarm), world.security_account, world.region, sfn)
    arn = sfn.list_executions(stateMachineArn=_arn(world))["executions"][0]["executionArn"]
    started = json.loads(sfn.describe_execution(executionArn=arn)["input"])
    assert parse(started, {})["alarm"]["web_acl"]["metric_name"] == "shop-acl"


def _arn(world: World) -> str:
    return f"arn:aws:states:{world.region}:{world.security_account}:stateMachine:irflow-alarm-response"


def test_the_router_ignores_ok_and_refuses_what_is_not_an_alarm(world: World) -> None:
    _machine(world)
    sfn = world.client("stepfunctions")
    ok = route(_record({**_alarm(), "NewStateValue": "OK"}), world.security_account, world.region, sfn)
    assert ok["outcome"] == "ignored" and "changed to OK" in ok["reason"]
    refused = route(_record('{"Records": [{"eventSource": "aws:s3"}]}', "1c2d"), world.security_account, world.region, sfn)
    text = route(_record("plain text", "3e4f"), world.security_account, world.region, sfn)
    assert refused["outcome"] == text["outcome"] == "refused"
    assert "AlarmName: Field required" in refused["reason"] and "not JSON" in text["reason"]
    assert sfn.list_executions(stateMachineArn=_arn(world))["executions"] == []
    table = world.central.incidents_table if world.central else ""
    item = world.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": "REJECTED#sns-1c2d"},
                                                                    "sk": {"S": "META"}})["Item"]
    assert item["error"]["S"] == "irflow.InvalidAlarm"


def test_a_second_notification_of_the_same_change_starts_nothing_new(world: World) -> None:
    _machine(world)
    sfn = world.client("stepfunctions")
    first = route(_record(_alarm(), "aaaa"), world.security_account, world.region, sfn)
    again = route(_record(_alarm(), "bbbb"), world.security_account, world.region, sfn)  # published twice
    assert first["outcome"] == "started" and again["outcome"] == "duplicate"
    assert len(sfn.list_executions(stateMachineArn=_arn(world))["executions"]) == 1
