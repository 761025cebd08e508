"""parse-config-change: turn an AWS Config compliance change for a security group into an incident.

AWS Config sends `Config Rules Compliance Change` when a rule's evaluation of a resource
changes. config-remediation answers a security group becoming NON_COMPLIANT (a rule such as
restricted-ssh found it open to the world). The finding id is the rule, the group and the time
of the evaluation, so a redelivered event is the same incident and a group that is opened
again later is a new one. Config findings carry no severity: the policy's `severity` (default
7, high) is used. Another resource type, a compliant result, or a malformed event fails with
`irflow.InvalidFinding` naming the field, before anything is touched.

Example event:

    {"event": {"version": "0", "id": "5f0b6c1e-2a3d-4e5f-8a9b-0c1d2e3f4a5b", "detail-type": "Config Rules Compliance Change",
               "source": "aws.config", "account": "222222222222", "time": "2025-05-20T08:14:03Z",
               "region": "us-east-1", "resources": [],
               "detail": {"resourceId": "sg-0a1b2c3d4e5f60718", "awsRegion": "us-east-1",
                          "awsAccountId": "222222222222", "configRuleName": "restricted-ssh",
                          "recordVersion": "1.0",
                          "configRuleARN": "arn:aws:config:us-east-1:222222222222:config-rule/config-rule-8fngan",
                          "messageType": "ComplianceChangeNotification",
                          "newEvaluationResult": {
                              "evaluationResultIdentifier": {
                                  "evaluationResultQualifier": {"configRuleName": "restricted-ssh",
                                                                "resourceType": "AWS::EC2::SecurityGroup",
                                                                "resourceId": "sg-0a1b2c3d4e5f60718"},
                                  "orderingTimestamp": "2025-05-20T08:13:51.962Z"},
                              "complianceType": "NON_COMPLIANT",
                              "resultRecordedTime": "2025-05-20T08:14:02.441Z",
                              "configRuleInvokedTime": "2025-05-20T08:14:01.827Z"},
                          "oldEvaluationResult": {"complianceType": "COMPLIANT"},
                          "notificationCreationTime": "2025-05-20T08:14:03.112Z",
                          "resourceType": "AWS::EC2::SecurityGroup"}},
     "policy": {"severity": "7", "fallback_ports": "22,3389", "approval_timeout_seconds": "3600",
                "on_approval_timeout": "escalate"}}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from tasks.common.errors import InvalidFinding
from tasks.common.handler import task_handler, validate
from tasks.common.models import (
    AccountId,
    Incident,
    Lenient,
    ParseFindingInput,
    Region,
    incident_id_for,
    severity_band,
)
from tasks.common.security_groups import ConfigPolicy, RuleRef
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="parse-config-change", member_permissions=(), central_permissions=(), destructive=False,
    model="tasks.common.models.ParseFindingInput", timeout_seconds=10)

SECURITY_GROUP = "AWS::EC2::SecurityGroup"


class Qualifier(Lenient):
    configRuleName: str
    resourceType: str
    resourceId: str


class ResultIdentifier(Lenient):
    evaluationResultQualifier: Qualifier
    orderingTimestamp: str | None = None


class Evaluation(Lenient):
    evaluationResultIdentifier: ResultIdentifier
    complianceType: str
    resultRecordedTime: str | None = None
    annotation: str | None = None


class ComplianceChange(Lenient):
    resourceId: Annotated[str, Field(min_length=1)]
    awsRegion: Region
    awsAccountId: AccountId
    configRuleName: Annotated[str, Field(min_length=1, max_length=128)]
    configRuleARN: str | None = None
    messageType: Literal["ComplianceChangeNotification"]
    newEvaluationResult: Evaluation


class ConfigEvent(Lenient):
    id: str
    detail_type: Literal["Config Rules Compliance Change"] = Field(alias="detail-type")
    source: Literal["aws.config"]
    account: AccountId
    region: Region
    detail: ComplianceChange


def parse(event: dict[str, Any], policy: dict[str, Any]) -> dict[str, Any]:
    """The incident, the rule and the policy; `irflow.InvalidFinding` for anything but a world-open group."""
    change = validate(ConfigEvent, event, InvalidFinding).detail
    result = change.newEvaluationResult
    qualifier = result.evaluationResultIdentifier.evaluationResultQualifier
    if qualifier.resourceType != SECURITY_GROUP:
        raise InvalidFinding(f"detail.newEvaluationResult...resourceType: config-remediation handles {SECURITY_GROUP}, "
                             f"not {qualifier.resourceType}")
    if result.complianceType != "NON_COMPLIANT":
        raise InvalidFinding(f"detail.newEvaluationResult.complianceType: {result.complianceType}, not NON_COMPLIANT: "
                             "nothing to remediate")
    if not change.resourceId.startswith("sg-"):
        raise InvalidFinding(f"detail.resourceId: {change.resourceId!r} is not a security group id")
    settings = validate(ConfigPolicy, policy, prefix="policy")
    when = result.evaluationResultIdentifier.orderingTimestamp or result.resultRecordedTime or ""
    finding_id = f"{change.configRuleName}/{change.resourceId}/{when}"
    incident = Incident(
        incident_id=incident_id_for(change.awsAccountId, change.awsRegion, finding_id), finding_id=finding_id,
        finding_arn=change.configRuleARN or "", finding_type=f"Config:{change.configRuleName}/NON_COMPLIANT",
        title=f"Security group {change.resourceId} is NON_COMPLIANT with {change.configRuleName}"
        + (f": {result.annotation}" if result.annotation else ""),
        severity=settings.severity, severity_band=severity_band(settings.severity), account_id=change.awsAccountId,
        region=change.awsRegion, source="Config", resource_type="security-group", resource_id=change.resourceId,
        first_seen=result.resultRecordedTime, last_seen=result.resultRecordedTime)
    rule = RuleRef(name=change.configRuleName, arn=change.configRuleARN)
    return {"incident": incident.model_dump(), "rule": rule.model_dump(), "policy": settings.model_dump()}


def run(data: ParseFindingInput) -> dict[str, Any]:
    return parse(data.event, data.policy)


handler = task_handler(TASK, ParseFindingInput, run, invalid=InvalidFinding)
