"""parse-detection: turn an `irflow Detection` event (put by log-detection) into an incident and a policy.

The detection names its rule, the account and region the activity happened in, the resource it
concerns, how many log records matched and when. The incident is one per rule, account, resource
and day (UTC, of the first matching record): the same activity seen again that day, in another
delivery or a redelivered one, joins the open incident instead of opening a second. Addresses
on the internet in the records (CloudTrail's `sourceIPAddress`, a flow's `srcaddr`/`dstaddr`)
are kept as the incident's remote addresses. A malformed event fails with
`irflow.InvalidDetection` naming the field; nothing is touched.

Example event:

    {"event": {"version": "0", "id": "5e0c2a8d-9f1b-4c3e-8d7a-6b5c4d3e2f1a", "detail-type": "irflow Detection",
               "source": "irflow.detections", "account": "111111111111", "time": "2025-01-01T09:00:01Z",
               "region": "us-east-1", "resources": [],
               "detail": {"id": "7d1f0c2b9a8e4d6c5b3a2f1e0d9c8b7a", "playbook": "detection-response",
                          "rule": {"id": "root-console-sign-in", "source": "cloudtrail", "playbook": "detection-response",
                                   "description": "Someone signed in to the AWS console as the account's root user."},
                          "title": "Root user signed in to the console of 222222222222 from 203.0.113.77",
                          "severity": 8, "accountId": "222222222222", "region": "us-east-1",
                          "resource": {"type": "aws-account", "id": "222222222222"}, "count": 1, "group": {},
                          "firstSeen": "2025-01-01T09:00:00Z", "lastSeen": "2025-01-01T09:00:00Z",
                          "updatedAt": "2025-01-01T09:00:00Z", "logGroup": "/irflow/cloudtrail",
                          "logStream": "222222222222_CloudTrail_us-east-1",
                          "logEventIds": ["38340569731834751917683297418462717396437823146812571648"],
                          "records": [{"eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin",
                                       "sourceIPAddress": "203.0.113.77", "userIdentity": {"type": "Root"}}],
                          "recordsTruncated": false}},
     "policy": {"review_severity": "7", "approval_timeout_seconds": "3600", "on_approval_timeout": "escalate"}}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from tasks.common.addresses import is_internet
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
    __name__, __doc__, name="parse-detection", member_permissions=(), central_permissions=(), destructive=False,
    model="tasks.parse_detection.ParseDetectionInput", timeout_seconds=10)

SOURCE = "irflow log detection"
SOURCE_LABELS = {"cloudtrail": "CloudTrail", "vpc-flow-logs": "VPCFlowLogs"}
ADDRESS_FIELDS = ("sourceIPAddress", "srcaddr", "dstaddr")
MAX_ADDRESSES = 20


class InvalidDetection(IrflowError):
    """The event is not an irflow detection this playbook can act on (the message names the field)."""


class RuleRef(Lenient):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")]
    source: Literal["cloudtrail", "vpc-flow-logs"]
    description: str = ""


class ResourceRef(Lenient):
    type: Annotated[str, Field(min_length=1, max_length=64)]
    id: Annotated[str, Field(min_length=1, max_length=2048)]


class DetectionDetail(Lenient):
    id: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
    rule: RuleRef
    title: str = ""
    severity: Severity
    accountId: AccountId
    region: Region
    resource: ResourceRef
    count: Annotated[int, Field(ge=1)] = 1
    firstSeen: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}T")]
    lastSeen: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}T")]
    records: list[dict[str, Any]] = []


class DetectionEvent(Lenient):
    """An EventBridge event put by the log-detection function."""

    id: str
    detail_type: Literal["irflow Detection"] = Field(alias="detail-type")
    source: Literal["irflow.detections"]
    detail: DetectionDetail


class DetectionPolicy(Strict):
    """detection-response's policy (strings from the definition's placeholders coerced)."""

    review_severity: Severity = 7.0
    approval_timeout_seconds: Annotated[int, Field(ge=60, le=7 * 24 * 3600)] = 3600
    on_approval_timeout: Literal["escalate"] = "escalate"


class ParseDetectionInput(Strict):
    event: dict[str, Any]
    policy: dict[str, Any] = {}


def internet_addresses(records: list[dict[str, Any]]) -> list[str]:
    found: list[str] = []
    for record in records:
        for name in ADDRESS_FIELDS:
            value = str(record.get(name, ""))
            if is_internet(value) and value not in found:
                found.append(value)
    return found[:MAX_ADDRESSES]


def parse(event: dict[str, Any], policy: dict[str, Any]) -> dict[str, Any]:
    """The incident, the detection's facts and the normalised policy; `irflow.InvalidDetection` if malformed."""
    detail = validate(DetectionEvent, event, InvalidDetection).detail
    settings = validate(DetectionPolicy, policy, prefix="policy")
    rule = detail.rule
    finding_id = f"{rule.id}:{detail.resource.id}:{detail.firstSeen[:10]}"
    incident = Incident(
        incident_id=incident_id_for(detail.accountId, detail.region, finding_id), finding_id=finding_id,
        finding_type=f"Detection:{SOURCE_LABELS[rule.source]}/{rule.id}", title=detail.title or rule.description,
        severity=detail.severity, severity_band=severity_band(detail.severity), account_id=detail.accountId,
        region=detail.region, source=SOURCE, resource_type=detail.resource.type, resource_id=detail.resource.id,
        first_seen=detail.firstSeen, last_seen=detail.lastSeen, count=detail.count,
        remote_ips=internet_addresses(detail.records))
    facts = {"id": detail.id, "rule": rule.id, "source": rule.source, "count": detail.count,
             "review": detail.severity >= settings.review_severity}
    return {"incident": incident.model_dump(), "detection": facts, "policy": settings.model_dump()}


def run(data: ParseDetectionInput) -> dict[str, Any]:
    return parse(data.event, data.policy)


handler = task_handler(TASK, ParseDetectionInput, run, invalid=InvalidDetection)
