r"""alarm-router: the older alarm path, CloudWatch alarm -> SNS topic -> this function -> the alarm-response playbook.

Subscribed to the SNS topic the alarms notify, the function reads each notification (the
alarm as CloudWatch writes it into the SNS message: `AlarmName`, `AlarmArn`, `NewStateValue`,
`StateChangeTime`, `Trigger` with the metric and its dimensions as `[{"name", "value"}]`), turns
it into the `CloudWatch Alarm State Change` event EventBridge would have delivered, and starts
`irflow-alarm-response` in its own account with `states:StartExecution`. The execution name
comes from the alarm and the time of the change, so SNS delivering a notification twice starts
one execution (the second start is refused as `ExecutionAlreadyExists`, which is reported as a
duplicate). A change to OK or INSUFFICIENT_DATA is acknowledged and ignored. A message that is
not a CloudWatch alarm notification is recorded as a refused event in the incidents table and
acknowledged: retrying the invocation could not make it one.

Example event:

    {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
                  "EventSubscriptionArn": "arn:aws:sns:us-east-1:111111111111:irflow-alarms:9d2f0b9e-3c1a-4e59-8a0f-2d6c1b7e4a35",
                  "Sns": {"Type": "Notification", "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                          "TopicArn": "arn:aws:sns:us-east-1:111111111111:irflow-alarms",
                          "Subject": "ALARM: \"shop-sqli-blocked\" in US East (N. Virginia)",
                          "Message": "{\"AlarmName\":\"shop-sqli-blocked\",\"AlarmDescription\":\"SQL injection attempts blocked by shop-acl\",\"AWSAccountId\":\"222222222222\",\"AlarmConfigurationUpdatedTimestamp\":\"2024-11-02T10:11:12.345+0000\",\"NewStateValue\":\"ALARM\",\"NewStateReason\":\"Threshold Crossed: 1 out of the last 1 datapoints [57.0 (01/01/25 08:55:00)] was greater than or equal to the threshold (20.0).\",\"StateChangeTime\":\"2025-01-01T09:00:00.000+0000\",\"Region\":\"US East (N. Virginia)\",\"AlarmArn\":\"arn:aws:cloudwatch:us-east-1:222222222222:alarm:shop-sqli-blocked\",\"OldStateValue\":\"OK\",\"OKActions\":[],\"AlarmActions\":[\"arn:aws:sns:us-east-1:111111111111:irflow-alarms\"],\"InsufficientDataActions\":[],\"Trigger\":{\"MetricName\":\"BlockedRequests\",\"Namespace\":\"AWS/WAFV2\",\"StatisticType\":\"Statistic\",\"Statistic\":\"SUM\",\"Unit\":null,\"Dimensions\":[{\"value\":\"shop-acl\",\"name\":\"WebACL\"},{\"value\":\"us-east-1\",\"name\":\"Region\"},{\"value\":\"SQLiRuleSet\",\"name\":\"Rule\"}],\"Period\":300,\"EvaluationPeriods\":1,\"DatapointsToAlarm\":1,\"ComparisonOperator\":\"GreaterThanOrEqualToThreshold\",\"Threshold\":20.0,\"TreatMissingData\":\"missing\",\"EvaluateLowSampleCountPercentile\":\"\"}}",
                          "Timestamp": "2025-01-01T09:00:01.512Z", "SignatureVersion": "1",
                          "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=",
                          "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
                          "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:111111111111:irflow-alarms:9d2f0b9e-3c1a-4e59-8a0f-2d6c1b7e4a35",
                          "MessageAttributes": {}}}]}
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from pydantic import Field, ValidationError

from tasks.common import incidents
from tasks.common.aws import client, error_code
from tasks.common.handler import describe_validation, task_handler
from tasks.common.models import AccountId, Lenient
from tasks.parse_alarm import aws_time, iso
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="alarm-router", member_permissions=(),
    central_permissions=("states:StartExecution", "dynamodb:PutItem"), destructive=False,
    model="tasks.alarm_router.SnsEvent", timeout_seconds=15)

PLAYBOOK = "alarm-response"
STATE_MACHINE = f"irflow-{PLAYBOOK}"
REFUSED_ERROR = "irflow.InvalidAlarm"


class SnsMessage(Lenient):
    Type: str = "Notification"
    MessageId: str
    TopicArn: str = ""
    Subject: str | None = None
    Message: str
    Timestamp: str = ""


class SnsRecord(Lenient):
    EventSource: str = "aws:sns"
    Sns: SnsMessage


class SnsEvent(Lenient):
    """What SNS sends a subscribed Lambda function."""

    Records: Annotated[list[SnsRecord], Field(min_length=1)]


class Dimension(Lenient):
    name: str
    value: str


class TriggerMetric(Lenient):
    MetricName: str = ""
    Namespace: str = ""
    Dimensions: list[Dimension] = []


class QueryStat(Lenient):
    Metric: TriggerMetric
    Period: int = 300
    Stat: str = ""


class TriggerQuery(Lenient):
    Id: str = ""
    Expression: str | None = None
    MetricStat: QueryStat | None = None
    ReturnData: bool = True


class AlarmTrigger(TriggerMetric):
    Period: int = 300
    Statistic: str | None = None
    ExtendedStatistic: str | None = None
    Metrics: list[TriggerQuery] = []


class AlarmNotification(Lenient):
    """The alarm as CloudWatch writes it into an SNS notification."""

    AlarmName: Annotated[str, Field(min_length=1)]
    AlarmDescription: str | None = None
    AWSAccountId: AccountId
    NewStateValue: str
    NewStateReason: str = ""
    StateChangeTime: str
    AlarmArn: Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:cloudwatch:[a-z0-9-]+:\d{12}:alarm:")]
    OldStateValue: str | None = None
    Trigger: AlarmTrigger | None = None


def _dimensions(items: list[Dimension]) -> dict[str, str]:
    return {d.name: d.value for d in items}


def metrics(trigger: AlarmTrigger | None) -> list[dict[str, Any]]:
    """The alarm's metrics as EventBridge's `detail.configuration.metrics` lists them."""
    if trigger is None:
        return []
    if trigger.Metrics:
        out = []
        for query in trigger.Metrics:
            item: dict[str, Any] = {"id": query.Id, "returnData": query.ReturnData}
            if query.MetricStat is not None:
                metric = query.MetricStat.Metric
                item["metricStat"] = {"metric": {"namespace": metric.Namespace, "name": metric.MetricName,
                                                 "dimensions": _dimensions(metric.Dimensions)},
                                      "period": query.MetricStat.Period, "stat": query.MetricStat.Stat}
            if query.Expression:
                item["expression"] = query.Expression
            out.append(item)
        return out
    return [{"id": "m1", "returnData": True,
             "metricStat": {"metric": {"namespace": trigger.Namespace, "name": trigger.MetricName,
                                       "dimensions": _dimensions(trigger.Dimensions)},
                            "period": trigger.Period,
                            "stat": (trigger.Statistic or trigger.ExtendedStatistic or "").title()}}]


def alarm_event(alarm: AlarmNotification, message_id: str) -> dict[str, Any]:
    """The `CloudWatch Alarm State Change` event EventBridge would have delivered for this notification."""
    region = alarm.AlarmArn.split(":")[3]
    changed = aws_time(alarm.StateChangeTime)
    detail: dict[str, Any] = {
        "alarmName": alarm.AlarmName,
        "state": {"value": alarm.NewStateValue, "reason": alarm.NewStateReason, "timestamp": alarm.StateChangeTime},
        "configuration": {"description": alarm.AlarmDescription, "metrics": metrics(alarm.Trigger)},
    }
    if alarm.OldStateValue:
        detail["previousState"] = {"value": alarm.OldStateValue, "timestamp": alarm.StateChangeTime}
    return {"version": "0", "id": message_id, "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch", "account": alarm.AWSAccountId, "time": iso(changed), "region": region,
            "resources": [alarm.AlarmArn], "detail": detail}


def execution_name(alarm: AlarmNotification) -> str:
    """Stable for one state change of one alarm (at most 80 characters)."""
    digest = hashlib.sha256(f"{alarm.AlarmArn}|{iso(aws_time(alarm.StateChangeTime))}".encode()).hexdigest()
    return f"sns-{digest[:40]}"


def _refuse(message: SnsMessage, cause: str, ddb: Any) -> dict[str, Any]:
    event_id = f"sns-{message.MessageId}"[:80]
    incidents.record_rejected_event(event_id, {"Error": REFUSED_ERROR, "Cause": cause}, ddb=ddb)
    return {"message_id": message.MessageId, "outcome": "refused", "reason": cause}


def route(record: SnsRecord, account: str, region: str, sfn: Any, ddb: Any = None) -> dict[str, Any]:
    """Start the playbook for one notification; returns what happened to it."""
    message = record.Sns
    try:
        body = json.loads(message.Message)
    except ValueError:
        return _refuse(message, "the SNS message is not JSON: not a CloudWatch alarm notification", ddb)
    try:
        alarm = AlarmNotification.model_validate(body)
        aws_time(alarm.StateChangeTime)
    except ValidationError as error:
        return _refuse(message, f"not a CloudWatch alarm notification: {describe_validation(error)}", ddb)
    except ValueError:
        return _refuse(message, f"StateChangeTime is not a time: {alarm.StateChangeTime!r}", ddb)
    if alarm.NewStateValue != "ALARM":
        return {"message_id": message.MessageId, "outcome": "ignored",
                "reason": f"{alarm.AlarmName} changed to {alarm.NewStateValue}: only a change into ALARM is an incident"}
    machine = f"arn:aws:states:{region}:{account}:stateMachine:{STATE_MACHINE}"
    name = execution_name(alarm)
    try:
        started = sfn.start_execution(stateMachineArn=machine, name=name,
                                      input=json.dumps(alarm_event(alarm, message.MessageId)))
    except Exception as error:
        if error_code(error) != "ExecutionAlreadyExists":
            raise
        return {"message_id": message.MessageId, "outcome": "duplicate", "execution_name": name}
    return {"message_id": message.MessageId, "outcome": "started", "execution_arn": started["executionArn"]}


def run(data: SnsEvent) -> dict[str, Any]:
    sts = client("sts")
    identity = sts.get_caller_identity()
    region = sts.meta.region_name
    sfn = client("stepfunctions")
    return {"results": [route(r, identity["Account"], region, sfn) for r in data.Records]}


handler = task_handler(TASK, SnsEvent, run)
