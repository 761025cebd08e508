"""parse-iam-finding: turn a GuardDuty finding about IAM credentials into an incident, its principal and a policy.

GuardDuty's IAM findings (`*:IAMUser/*` types, `InstanceCredentialExfiltration.*`, any finding
whose resource is an `AccessKey`) name the key and its principal in
`resource.accessKeyDetails`. The incident id comes from the finding (account, region, finding
id), as for EC2 findings, so GuardDuty's updates join one incident. The principal is an IAM user
(`IAMUser`), a role session (`AssumedRole`: the role, and the session that held the key, an
instance id for stolen instance credentials), the root user, or something irflow cannot contain
(federated users, AWS services), which the playbook escalates to a person. A malformed event,
or one whose resource is not an access key, fails with `irflow.InvalidFinding` naming the field,
before anything is touched.

Example event:

    {"event": {"version": "0", "id": "7b2f1c3e-4d5a-6b7c-8d9e-0f1a2b3c4d5e", "detail-type": "GuardDuty Finding",
               "source": "aws.guardduty", "account": "222222222222", "time": "2025-02-03T14:21:09Z",
               "region": "us-east-1", "resources": [],
               "detail": {"schemaVersion": "2.0", "accountId": "222222222222", "region": "us-east-1",
                          "partition": "aws", "id": "4ac6d2a1b9e34c7f8a0b1c2d3e4f5a6b",
                          "arn": "arn:aws:guardduty:us-east-1:222222222222:detector/12abc34d567e8fa901bc2d34e56789f0/finding/4ac6d2a1b9e34c7f8a0b1c2d3e4f5a6b",
                          "type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller", "severity": 5,
                          "title": "API ListBuckets was invoked from a known malicious IP address.",
                          "resource": {"resourceType": "AccessKey",
                                       "accessKeyDetails": {"accessKeyId": "AKIA2EXAMPLE4DEPLOY1",
                                                            "principalId": "AIDA2EXAMPLE5DEPLOY1",
                                                            "userName": "deploy-bot", "userType": "IAMUser"}},
                          "service": {"serviceName": "guardduty", "count": 3,
                                      "eventFirstSeen": "2025-02-03T13:58:40Z", "eventLastSeen": "2025-02-03T14:19:12Z",
                                      "action": {"actionType": "AWS_API_CALL", "awsApiCallAction": {
                                          "api": "ListBuckets", "serviceName": "s3.amazonaws.com",
                                          "remoteIpDetails": {"ipAddressV4": "198.51.100.77"}}}},
                          "createdAt": "2025-02-03T14:00:02.115Z", "updatedAt": "2025-02-03T14:20:31.870Z"}},
     "policy": {"approval_severity": "4", "approval_timeout_seconds": "3600", "on_approval_timeout": "escalate",
                "activity_hours": "24", "activity_max_events": "200"}}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from tasks.common.errors import InvalidFinding
from tasks.common.handler import task_handler, validate
from tasks.common.models import (
    AccountId,
    GuardDutyFindingFields,
    Incident,
    Lenient,
    ParseFindingInput,
    Region,
    incident_id_for,
    severity_band,
)
from tasks.common.principals import IamPolicy, Principal, PrincipalKind
from tasks.parse_finding import indicators
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="parse-iam-finding", member_permissions=(), central_permissions=(), destructive=False,
    model="tasks.common.models.ParseFindingInput", timeout_seconds=10)

KINDS: dict[str, PrincipalKind] = {"IAMUser": "iam-user", "AssumedRole": "iam-role", "Root": "root"}


class GdAccessKeyDetails(Lenient):
    accessKeyId: str | None = None
    principalId: str | None = None
    userName: str | None = None
    userType: Annotated[str, Field(min_length=1)]

    @model_validator(mode="after")
    def _named(self) -> GdAccessKeyDetails:
        if self.userType in ("IAMUser", "AssumedRole") and not self.userName:
            raise ValueError(f"an {self.userType} principal needs its userName")
        return self


class GdAccessKeyResource(Lenient):
    resourceType: Literal["AccessKey"]
    accessKeyDetails: GdAccessKeyDetails


class IamFinding(GuardDutyFindingFields):
    type: Annotated[str, Field(min_length=1, max_length=80)]
    resource: GdAccessKeyResource


class IamFindingEvent(Lenient):
    """An EventBridge event whose detail is a GuardDuty finding about IAM credentials."""

    id: str
    detail_type: Literal["GuardDuty Finding"] = Field(alias="detail-type")
    source: Literal["aws.guardduty"]
    account: AccountId
    time: str
    region: Region
    detail: IamFinding


def principal_of(details: GdAccessKeyDetails) -> Principal:
    """The principal GuardDuty names; a role session's name is what follows ':' in its principal id."""
    kind = KINDS.get(details.userType, "other")
    session = None
    if kind == "iam-role" and details.principalId and ":" in details.principalId:
        session = details.principalId.split(":", 1)[1]
    name = "root" if kind == "root" else details.userName or details.principalId or details.userType
    return Principal(kind=kind, name=name, user_type=details.userType, access_key_id=details.accessKeyId,
                     principal_id=details.principalId, session_name=session)


def parse(event: dict[str, Any], policy: dict[str, Any]) -> dict[str, Any]:
    """The incident, the principal and the policy; `irflow.InvalidFinding` if the event is not one irflow reads."""
    finding = validate(IamFindingEvent, event, InvalidFinding).detail
    settings = validate(IamPolicy, policy, prefix="policy")
    principal = principal_of(finding.resource.accessKeyDetails)
    ips, domains = indicators(finding.service.action)
    incident = Incident(
        incident_id=incident_id_for(finding.accountId, finding.region, finding.id),
        finding_id=finding.id, finding_arn=finding.arn, finding_type=finding.type, title=finding.title,
        severity=finding.severity, severity_band=severity_band(finding.severity), account_id=finding.accountId,
        region=finding.region, source="GuardDuty", resource_type="iam-user" if principal.kind == "iam-user"
        else "iam-role" if principal.kind == "iam-role" else "iam-principal", resource_id=principal.name,
        resource_role=finding.service.resourceRole, first_seen=finding.service.eventFirstSeen,
        last_seen=finding.service.eventLastSeen, count=finding.service.count, remote_ips=ips, domains=domains)
    return {"incident": incident.model_dump(), "principal": principal.model_dump(), "policy": settings.model_dump()}


def run(data: ParseFindingInput) -> dict[str, Any]:
    return parse(data.event, data.policy)


handler = task_handler(TASK, ParseFindingInput, run, invalid=InvalidFinding)
