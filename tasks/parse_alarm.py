"""parse-alarm: turn a CloudWatch alarm's state change into an incident, say what kind of alarm it is, and normalise the policy.

The event is EventBridge's `CloudWatch Alarm State Change` (the alarm-router task turns the older
SNS notification into the same shape). Only a change into ALARM is an incident. The alarm's
metrics say what it watches: a WAF metric (`AWS/WAFV2`) whose `Rule` dimension names a SQL
injection rule (the policy's pattern) is a `waf-sqli` alarm about the web ACL in its `WebACL`
dimension; Shield Advanced's `DDoSDetected` (`AWS/DDoSProtection`) is a `ddos` alarm about the
resource in its `ResourceArn` dimension; anything else is `other`. An alarm without the dimension
that names its resource is handled as `other`, with a note saying why nothing more can be done.
The incident id comes from the alarm ARN and the time of the state change, so the same change
delivered twice (EventBridge and SNS, or a redelivery) is one incident. A malformed event fails
with `irflow.InvalidAlarm` naming the field; nothing is touched.

Example event:

    {"event": {"version": "0", "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92", "detail-type": "CloudWatch Alarm State Change",
               "source": "aws.cloudwatch", "account": "222222222222", "time": "2025-01-01T09:00:00Z",
               "region": "us-east-1", "resources": ["arn:aws:cloudwatch:us-east-1:222222222222:alarm:shop-sqli-blocked"],
               "detail": {"alarmName": "shop-sqli-blocked",
                          "configuration": {"description": "SQL injection attempts blocked by shop-acl",
                                            "metrics": [{"id": "m1", "returnData": true,
                                                         "metricStat": {"metric": {"namespace": "AWS/WAFV2", "name": "BlockedRequests",
                                                                                   "dimensions": {"WebACL": "shop-acl", "Region": "us-east-1", "Rule": "SQLiRuleSet"}},
                                                                        "period": 300, "stat": "Sum"}}]},
                          "previousState": {"value": "OK", "timestamp": "2025-01-01T08:00:00.000+0000", "reason": "Threshold Crossed"},
                          "state": {"value": "ALARM", "timestamp": "2025-01-01T09:00:00.000+0000",
                                    "reason": "Threshold Crossed: 1 out of the last 1 datapoints [57.0 (01/01/25 08:55:00)] was greater than or equal to the threshold (20.0)."}}},
     "policy": {"sqli_rule_pattern": "(?i)sqli|sql.?injection", "waf_sqli_severity": "7", "ddos_severity": "8",
                "other_severity": "5", "block_seconds": "86400", "max_addresses": "25", "min_requests": "3",
                "never_block": "", "approval_timeout_seconds": "3600", "on_approval_timeout": "escalate"}}
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from tasks.common.errors import IrflowError
from tasks.common.handler import task_handler, validate
from tasks.common.models import (
    AccountId,
    Incident,
    Lenient,
    Region,
    Severity,
    Strict,
    incident_id_for,
    severity_band,
)
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="parse-alarm", member_permissions=(), central_permissions=(), destructive=False,
    model="tasks.parse_alarm.ParseAlarmInput", timeout_seconds=10)

SOURCE = "CloudWatch alarm"
WAF_NAMESPACE = "AWS/WAFV2"
DDOS_NAMESPACE = "AWS/DDoSProtection"
DDOS_METRIC = "DDoSDetected"
TITLE_LIMIT = 300


class InvalidAlarm(IrflowError):
    """The event is not a CloudWatch alarm state change irflow can act on (the message names the field)."""


class AlarmState(Lenient):
    value: str
    reason: str = ""
    timestamp: str


class MetricRef(Lenient):
    namespace: str = ""
    name: str = ""
    dimensions: dict[str, str] = {}


class MetricStat(Lenient):
    metric: MetricRef
    period: int = 300
    stat: str = ""


class AlarmMetric(Lenient):
    id: str = ""
    metricStat: MetricStat | None = None
    expression: str | None = None


class AlarmConfiguration(Lenient):
    description: str | None = None
    metrics: list[AlarmMetric] = []
    alarmRule: str | None = None  # a composite alarm's rule


class AlarmDetail(Lenient):
    alarmName: Annotated[str, Field(min_length=1, max_length=255)]
    state: AlarmState
    previousState: AlarmState | None = None
    configuration: AlarmConfiguration = AlarmConfiguration()


class AlarmEvent(Lenient):
    """An EventBridge `CloudWatch Alarm State Change` event."""

    version: str = "0"
    id: str
    detail_type: Literal["CloudWatch Alarm State Change"] = Field(alias="detail-type")
    source: Literal["aws.cloudwatch"]
    account: AccountId
    time: str
    region: Region
    resources: list[str] = []
    detail: AlarmDetail


class AlarmPolicy(Strict):
    """alarm-response's policy, from playbook.yaml through the definition's placeholders (strings coerced)."""

    sqli_rule_pattern: str = r"(?i)sqli|sql.?injection"
    waf_sqli_severity: Severity = 7.0
    ddos_severity: Severity = 8.0
    other_severity: Severity = 5.0
    block_seconds: Annotated[int, Field(ge=300, le=30 * 24 * 3600)] = 86400
    max_addresses: Annotated[int, Field(ge=1, le=1000)] = 25
    min_requests: Annotated[int, Field(ge=1)] = 3
    never_block: list[str] = []
    approval_timeout_seconds: Annotated[int, Field(ge=60, le=7 * 24 * 3600)] = 3600
    on_approval_timeout: Literal["escalate"] = "escalate"

    @field_validator("sqli_rule_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"not a regular expression: {error}") from None
        return value

    @field_validator("never_block", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> list[str]:
        items = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value or [])
        return [str(ipaddress.ip_network(item, strict=False)) for item in items if item]


class ParseAlarmInput(Strict):
    event: dict[str, Any]
    policy: dict[str, Any] = {}


def aws_time(text: str) -> datetime:
    """CloudWatch writes `2025-01-01T09:00:00.000+0000`; EventBridge `2025-01-01T09:00:00Z`."""
    value = text.strip().replace("Z", "+00:00")
    value = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", value)
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def classify(detail: AlarmDetail, pattern: str) -> dict[str, Any]:
    """What the alarm watches: kind, metric, dimensions, the resource it names, and a note when it names none."""
    stats = [m.metricStat for m in detail.configuration.metrics if m.metricStat is not None]
    waf = next((s for s in stats if s.metric.namespace == WAF_NAMESPACE), None)
    ddos = next((s for s in stats if s.metric.namespace == DDOS_NAMESPACE and s.metric.name == DDOS_METRIC), None)
    chosen = waf or ddos or (stats[0] if stats else None)
    out: dict[str, Any] = {
        "kind": "other", "namespace": chosen.metric.namespace if chosen else None,
        "metric": chosen.metric.name if chosen else None, "dimensions": dict(chosen.metric.dimensions) if chosen else {},
        "period": chosen.period if chosen else 300, "note": None, "web_acl": None, "protected_resource_arn": None,
    }
    if ddos is not None:
        arn = ddos.metric.dimensions.get("ResourceArn")
        if arn:
            out.update(kind="ddos", protected_resource_arn=arn)
        else:
            out["note"] = ("the DDoSDetected alarm has no ResourceArn dimension: irflow cannot tell which protected "
                           "resource it is about, so it only records and notifies")
    elif waf is not None:
        dims = waf.metric.dimensions
        rule = dims.get("Rule", "")
        if rule and re.search(pattern, rule) and dims.get("WebACL"):
            scope = "REGIONAL" if dims.get("Region") else "CLOUDFRONT"
            out.update(kind="waf-sqli", web_acl={"metric_name": dims["WebACL"], "rule_metric_name": rule,
                                                 "scope": scope,
                                                 "region": dims.get("Region") or "us-east-1"})
        elif rule and re.search(pattern, rule):
            out["note"] = ("the SQL injection alarm has no WebACL dimension: irflow cannot tell which web ACL to read "
                           "or protect, so it only records and notifies")
        elif not dims:
            out["note"] = "the WAF alarm has no dimensions: it names no web ACL or rule"
    elif not detail.configuration.metrics and detail.configuration.alarmRule:
        out["note"] = "a composite alarm: its rule combines other alarms, which name the resources"
    elif chosen is not None and not chosen.metric.dimensions:
        out["note"] = "the alarm's metric has no dimensions: it names no resource"
    return out


def parse(event: dict[str, Any], policy: dict[str, Any]) -> dict[str, Any]:
    """The incident, the alarm's facts and the normalised policy; `irflow.InvalidAlarm` if malformed."""
    alarm_event = validate(AlarmEvent, event, InvalidAlarm)
    settings = validate(AlarmPolicy, policy, prefix="policy")
    detail = alarm_event.detail
    if detail.state.value != "ALARM":
        raise InvalidAlarm(f"detail.state.value: the alarm changed to {detail.state.value}, not ALARM: "
                           "only a change into ALARM is an incident")
    try:
        changed = aws_time(detail.state.timestamp)
    except ValueError:
        raise InvalidAlarm(f"detail.state.timestamp: not a time ({detail.state.timestamp!r})") from None
    alarm_arn = next((r for r in alarm_event.resources if ":alarm:" in r),
                     f"arn:aws:cloudwatch:{alarm_event.region}:{alarm_event.account}:alarm:{detail.alarmName}")
    facts = classify(detail, settings.sqli_rule_pattern)
    kind = facts["kind"]
    severity = {"waf-sqli": settings.waf_sqli_severity, "ddos": settings.ddos_severity}.get(
        kind, settings.other_severity)
    if kind == "waf-sqli":
        finding_type, resource_type, resource_id = ("CloudWatchAlarm:WAF/SQLInjection", "waf-web-acl",
                                                    facts["web_acl"]["metric_name"])
    elif kind == "ddos":
        finding_type, resource_type, resource_id = ("CloudWatchAlarm:Shield/DDoSDetected", "shield-protected-resource",
                                                    facts["protected_resource_arn"])
    else:
        metric = f"{facts['namespace']}/{facts['metric']}" if facts["metric"] else "Composite"
        finding_type, resource_type, resource_id = f"CloudWatchAlarm:{metric}", "cloudwatch-alarm", detail.alarmName
    finding_id = f"{alarm_arn}#{iso(changed)}"
    title = f"{detail.alarmName}: {detail.state.reason}".strip()
    incident = Incident(
        incident_id=incident_id_for(alarm_event.account, alarm_event.region, finding_id),
        finding_id=finding_id, finding_arn=alarm_arn, finding_type=finding_type,
        title=title if len(title) <= TITLE_LIMIT else title[: TITLE_LIMIT - 1] + "…",
        severity=severity, severity_band=severity_band(severity), account_id=alarm_event.account,
        region=alarm_event.region, source=SOURCE, resource_type=resource_type, resource_id=resource_id,
        first_seen=iso(changed), last_seen=iso(changed))
    alarm = {"name": detail.alarmName, "arn": alarm_arn, "state_time": iso(changed), "reason": detail.state.reason,
             "description": detail.configuration.description, **facts}
    return {"incident": incident.model_dump(), "alarm": alarm, "policy": settings.model_dump()}


def run(data: ParseAlarmInput) -> dict[str, Any]:
    return parse(data.event, data.policy)


handler = task_handler(TASK, ParseAlarmInput, run, invalid=InvalidAlarm)
