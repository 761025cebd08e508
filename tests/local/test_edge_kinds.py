"""The alarm and log gap fillers of the local runtime: scenario kinds, subscription deliveries, StartExecution.

Kinds are refused with one line when wrong, created in the embedded AWS and read back; the
delivery helpers recognise and encode what CloudWatch Logs and SNS send; a function's
StartExecution answers as Step Functions does and starts the execution only when asked to run.
"""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from irflow.local import scenario as S
from irflow.local import subscriptions
from irflow.local.runtime import Runtime
from irflow.local.world import World

MEMBER = "222222222222"
EVENT = {"version": "0", "id": "e-1", "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
         "account": MEMBER, "time": "2025-03-01T12:00:00Z", "region": "us-east-1", "resources": [],
         "detail": {"alarmName": "a", "acl": "${acl.arn}", "lb": "${lb.arn}", "group": "${logs.name}"}}


def _write(tmp_path: Path, resources: dict[str, Any], events: list[Any] | None = None) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps({"resources": resources, "events": events or [EVENT]}))
    return path


@pytest.mark.parametrize(("resource", "message"), [
    ({"type": "waf-web-acl", "scope": "GLOBAL"}, "scope must be REGIONAL or CLOUDFRONT"),
    ({"type": "waf-web-acl", "rules": [{"name": "r"}]}, "needs exactly one of managed_rule_group or rate_limit"),
    ({"type": "waf-web-acl", "rules": [{"name": "r", "rate_limit": 100, "shape": "x"}]}, "rules: unknown key 'shape'"),
    ({"type": "waf-web-acl", "sampled_requests": {"SQLi": [{"Weight": 1}]}}, "each sample needs Request.ClientIP"),
    ({"type": "waf-ip-set", "ip_version": "IPV6", "addresses": ["192.0.2.1/32"]}, "is not an IPV6 address"),
    ({"type": "waf-ip-set", "addresses": ["not-an-address"]}, "is not an address or CIDR block"),
    ({"type": "load-balancer", "shield_protected": "yes"}, "shield_protected must be true or false"),
    ({"type": "log-group", "name": "bad name!"}, "name must be a log group name"),
    ({"type": "log-group", "ingress": []}, "unknown option 'ingress' for type log-group"),
])
def test_wrong_options_are_refused_with_one_line(tmp_path: Path, resource: dict[str, Any], message: str) -> None:
    with pytest.raises(S.ScenarioError, match=message):
        S.load(_write(tmp_path, {"x": resource}))


def test_kinds_are_created_and_read_back(tmp_path: Path, world: World) -> None:
    resources = {
        "acl": {"type": "waf-web-acl", "account": MEMBER, "metric_name": "shop-acl",
                "sampled_requests": {"SQLiRuleSet": [{"Request": {"ClientIP": "198.51.100.7"}, "Weight": 3,
                                                      "Timestamp": "2025-03-01T11:58:00Z", "Action": "BLOCK"}]}},
        "blocks": {"type": "waf-ip-set", "account": MEMBER, "name": "irflow-blocked-ipv4", "addresses": ["192.0.2.1"]},
        "lb": {"type": "load-balancer", "account": MEMBER, "shield_protected": True},
        "logs": {"type": "log-group", "name": "/irflow/cloudtrail"},
    }
    scenario = S.load(_write(tmp_path, resources))
    created = S.create(world, scenario)
    assert created["logs"].account == world.security_account  # where log-detection runs
    state = {name: S.after_state(world, c) for name, c in created.items()}
    assert state["acl"]["exists"] and [r["name"] for r in state["acl"]["rules"]] == ["sqli"]
    assert state["acl"]["blockedAddresses"] == []  # the IP set exists but no rule references it yet
    assert state["blocks"]["addresses"] == ["192.0.2.1/32"]
    assert state["lb"]["exists"] and state["lb"]["state"] == "active" and state["lb"]["shieldProtected"]
    (subscription,) = state["logs"]["subscriptionFilters"]
    assert subscription == {"name": "irflow-log-detection",
                            "destination": "arn:aws:lambda:us-east-1:111111111111:function:irflow-log-detection"}
    event = S.substitute(scenario.events[0], created)
    assert event["detail"]["acl"] == created["acl"].arn and event["detail"]["group"] == "/irflow/cloudtrail"
    waf = world.client("wafv2", MEMBER)
    now = world.now()
    sampled = waf.get_sampled_requests(WebAclArn=created["acl"].arn, RuleMetricName="SQLiRuleSet", Scope="REGIONAL",
                                       MaxItems=10, TimeWindow={"StartTime": now.replace(hour=11), "EndTime": now})
    assert [s["Request"]["ClientIP"] for s in sampled["SampledRequests"]] == ["198.51.100.7"]
    assert sampled["PopulationSize"] == 3


def test_deleted_kinds_read_back_as_gone(tmp_path: Path, world: World) -> None:
    resources = {"acl": {"type": "waf-web-acl", "account": MEMBER, "deleted": True},
                 "lb": {"type": "load-balancer", "account": MEMBER, "deleted": True}}
    event = {**EVENT, "detail": {"alarmName": "a", "acl": "${acl.arn}", "lb": "${lb.arn}"}}
    created = S.create(world, S.load(_write(tmp_path, resources, [event])))
    assert S.after_state(world, created["acl"])["exists"] is False
    assert S.after_state(world, created["lb"])["exists"] is False


def test_deliveries_are_recognised_and_encoded_as_cloudwatch_logs_does() -> None:
    message = {"owner": "111111111111", "logGroup": "/irflow/cloudtrail", "logStream": "s",
               "logEvents": [{"message": {"eventName": "ConsoleLogin", "eventTime": "2025-01-01T09:00:00Z"}},
                             {"message": "2 222222222222 eni-1 198.51.100.7 10.0.0.1 1 22 6 1 1 1735722600 1735722660 "
                                         "ACCEPT OK"}]}
    readable = {"logs_subscription": message}
    assert subscriptions.kind(readable) == "logs_subscription"
    assert subscriptions.kind({"awslogs": {"data": "x"}}) == "awslogs"
    assert subscriptions.kind({"Records": [{"EventSource": "aws:sns", "Sns": {}}]}) == "sns"
    assert subscriptions.kind({"Records": [{"eventSource": "aws:s3"}]}) is None
    assert subscriptions.kind(EVENT) is None
    from datetime import UTC, datetime

    data = subscriptions.encode_message(message, datetime(2025, 1, 1, tzinfo=UTC))
    decoded = json.loads(gzip.decompress(base64.b64decode(data)))
    assert decoded["messageType"] == "DATA_MESSAGE" and decoded["subscriptionFilters"] == ["irflow-log-detection"]
    first, second = decoded["logEvents"]
    assert json.loads(first["message"])["eventName"] == "ConsoleLogin" and first["timestamp"] == 1735722000000
    assert second["timestamp"] == 1735722600000 and len(first["id"]) == 56 and first["id"] != second["id"]
    assert subscriptions.event_time(readable) == datetime(2025, 1, 1, 9, 10, tzinfo=UTC)


def test_a_functions_start_execution_answers_at_once_and_runs_when_routed() -> None:
    with Runtime() as runtime:
        sfn = runtime.aws.client("stepfunctions")
        machine = runtime.state_machines["alarm-response"]
        started = sfn.start_execution(stateMachineArn=machine, name="from-a-task", input='{"not": "an alarm"}')
        assert started["executionArn"].endswith(":execution:irflow-alarm-response:from-a-task")
        assert runtime.engine.list_executions(stateMachineArn=machine)["executions"] == []  # not yet: returned first
        again = sfn.start_execution(stateMachineArn=machine, name="from-a-task", input='{"not": "an alarm"}')
        assert again["executionArn"] == started["executionArn"]  # the same request is the same execution
        with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
            sfn.start_execution(stateMachineArn=machine, name="from-a-task", input='{"other": 1}')
        with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
            sfn.start_execution(stateMachineArn=machine.replace("alarm-response", "nothing"), name="x")
        (delivery,) = subscriptions.Outcome("alarm-router", {}, None).route(runtime)
        assert (delivery.playbook, delivery.outcome) == ("alarm-response", "started")
        (execution,) = runtime.engine.list_executions(stateMachineArn=machine)["executions"]
        assert execution["status"] == "FAILED"  # parse-alarm refused the input, as it should
