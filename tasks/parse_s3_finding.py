"""parse-s3-finding: turn a Macie finding or a GuardDuty S3 policy finding into an incident about a bucket.

Two sources name an exposed bucket. Macie (`Macie Finding` events): policy findings that a
bucket is public or lost its public access block (`Policy:IAMUser/S3BucketPublic`,
`Policy:IAMUser/S3BlockPublicAccessDisabled`), and sensitive-data findings about one object
(`SensitiveData:S3Object/*`: the key and the kinds of data found are kept). GuardDuty
(`GuardDuty Finding` with an `S3Bucket` resource): `Policy:S3/BucketBlockPublicAccessDisabled`,
`Policy:S3/BucketAnonymousAccessGranted`, `Policy:S3/BucketPublicAccessGranted`. Macie's
severity (Low, Medium, High) becomes 2, 5 or 8 on GuardDuty's scale, so one policy threshold
serves both. The incident id comes from the finding, so updates of one finding join one
incident. Any other finding type, another source, or a malformed event fails with
`irflow.InvalidFinding` naming what is wrong, before anything is touched.

Example event:

    {"event": {"version": "0", "id": "2d4c8e1a-7f3b-4a6d-9c0e-5b1f2a3d4e6f", "detail-type": "Macie Finding",
               "source": "aws.macie", "account": "222222222222", "time": "2025-04-08T10:12:44Z",
               "region": "us-east-1", "resources": [],
               "detail": {"schemaVersion": "1.0", "id": "9f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
                          "accountId": "222222222222", "partition": "aws", "region": "us-east-1",
                          "type": "SensitiveData:S3Object/Personal",
                          "title": "The S3 object contains personal information.",
                          "severity": {"score": 2, "description": "Medium"},
                          "createdAt": "2025-04-08T10:11:02.301Z", "updatedAt": "2025-04-08T10:11:02.301Z",
                          "count": 1, "category": "CLASSIFICATION",
                          "resourcesAffected": {
                              "s3Bucket": {"arn": "arn:aws:s3:::exports-222222222222",
                                           "name": "exports-222222222222"},
                              "s3Object": {"bucketArn": "arn:aws:s3:::exports-222222222222",
                                           "key": "crm/customers-2025-04.csv", "publicAccess": true}},
                          "classificationDetails": {"result": {"sensitiveData": [
                              {"category": "PERSONAL_INFORMATION", "totalCount": 412,
                               "detections": [{"type": "USA_SOCIAL_SECURITY_NUMBER", "count": 206},
                                              {"type": "NAME", "count": 206}]}]}}}},
     "policy": {"approval_severity": "4", "approval_timeout_seconds": "3600", "on_approval_timeout": "escalate",
                "restrict_object": "true"}}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from tasks.common.buckets import BucketRef, S3Policy
from tasks.common.errors import InvalidFinding
from tasks.common.handler import task_handler, validate
from tasks.common.models import (
    AccountId,
    GdService,
    Incident,
    Lenient,
    ParseFindingInput,
    Region,
    Severity,
    incident_id_for,
    severity_band,
)
from tasks.parse_finding import indicators
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="parse-s3-finding", member_permissions=(), central_permissions=(), destructive=False,
    model="tasks.common.models.ParseFindingInput", timeout_seconds=10)

MACIE_TYPES = ("Policy:IAMUser/S3BucketPublic", "Policy:IAMUser/S3BlockPublicAccessDisabled")
MACIE_SENSITIVE_PREFIX = "SensitiveData:S3Object/"
GUARDDUTY_TYPES = ("Policy:S3/BucketBlockPublicAccessDisabled", "Policy:S3/BucketAnonymousAccessGranted",
                   "Policy:S3/BucketPublicAccessGranted")
MACIE_SEVERITY = {"Low": 2.0, "Medium": 5.0, "High": 8.0}
FindingId = Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]
BucketName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]


class MacieSeverity(Lenient):
    score: int | None = None
    description: Literal["Low", "Medium", "High"]


class MacieBucket(Lenient):
    name: BucketName
    arn: str | None = None


class MacieObject(Lenient):
    key: Annotated[str, Field(min_length=1, max_length=1024)]
    publicAccess: bool | None = None


class MacieResources(Lenient):
    s3Bucket: MacieBucket
    s3Object: MacieObject | None = None


class MacieDetection(Lenient):
    type: str
    count: int = 0


class MacieSensitiveData(Lenient):
    category: str
    totalCount: int = 0
    detections: list[MacieDetection] = []


class MacieResult(Lenient):
    sensitiveData: list[MacieSensitiveData] = []


class MacieClassification(Lenient):
    result: MacieResult | None = None


class MacieFinding(Lenient):
    schemaVersion: str
    id: FindingId
    accountId: AccountId
    region: Region
    type: Annotated[str, Field(min_length=1, max_length=80)]
    title: str = ""
    severity: MacieSeverity
    createdAt: str | None = None
    updatedAt: str | None = None
    count: int = 1
    resourcesAffected: MacieResources
    classificationDetails: MacieClassification | None = None


class MacieEvent(Lenient):
    id: str
    detail_type: Literal["Macie Finding"] = Field(alias="detail-type")
    source: Literal["aws.macie"]
    account: AccountId
    region: Region
    detail: MacieFinding


class GdS3BucketDetail(Lenient):
    name: BucketName
    arn: str | None = None


class GdS3Resource(Lenient):
    resourceType: Literal["S3Bucket"]
    s3BucketDetails: Annotated[list[GdS3BucketDetail], Field(min_length=1)]


class GdS3Finding(Lenient):
    schemaVersion: str
    accountId: AccountId
    region: Region
    id: FindingId
    arn: str
    type: Annotated[str, Field(min_length=1, max_length=80)]
    resource: GdS3Resource
    service: GdService = GdService()
    severity: Severity
    title: str = ""


class GdS3Event(Lenient):
    id: str
    detail_type: Literal["GuardDuty Finding"] = Field(alias="detail-type")
    source: Literal["aws.guardduty"]
    account: AccountId
    region: Region
    detail: GdS3Finding


def _sensitive(finding: MacieFinding) -> list[str]:
    result = finding.classificationDetails.result if finding.classificationDetails else None
    found = []
    for data in result.sensitiveData if result else []:
        for detection in data.detections or [MacieDetection(type="(unspecified)", count=data.totalCount)]:
            found.append(f"{data.category}: {detection.type} x{detection.count}")
    return found


def _refuse(source: str, finding_type: str, handled: tuple[str, ...]) -> InvalidFinding:
    return InvalidFinding(f"detail.type: {source} finding type {finding_type!r} is not a data-exposure finding "
                          f"s3-data-exposure handles ({', '.join(handled)})")


def from_macie(event: dict[str, Any]) -> tuple[Incident, BucketRef]:
    finding = validate(MacieEvent, event, InvalidFinding).detail
    sensitive = finding.type.startswith(MACIE_SENSITIVE_PREFIX)
    if finding.type not in MACIE_TYPES and not sensitive:
        raise _refuse("Macie", finding.type, (*MACIE_TYPES, MACIE_SENSITIVE_PREFIX + "*"))
    resources = finding.resourcesAffected
    if sensitive and resources.s3Object is None:
        raise InvalidFinding("detail.resourcesAffected.s3Object: a sensitive-data finding names its object")
    severity = MACIE_SEVERITY[finding.severity.description]
    incident = Incident(
        incident_id=incident_id_for(finding.accountId, finding.region, finding.id), finding_id=finding.id,
        finding_type=finding.type, title=finding.title, severity=severity, severity_band=severity_band(severity),
        account_id=finding.accountId, region=finding.region, source="Macie", resource_type="s3-bucket",
        resource_id=resources.s3Bucket.name, first_seen=finding.createdAt, last_seen=finding.updatedAt,
        count=finding.count)
    key = resources.s3Object.key if sensitive and resources.s3Object else None
    return incident, BucketRef(name=resources.s3Bucket.name, key=key, sensitive_data=_sensitive(finding))


def from_guardduty(event: dict[str, Any]) -> tuple[Incident, BucketRef]:
    finding = validate(GdS3Event, event, InvalidFinding).detail
    if finding.type not in GUARDDUTY_TYPES:
        raise _refuse("GuardDuty", finding.type, GUARDDUTY_TYPES)
    bucket = finding.resource.s3BucketDetails[0].name
    ips, domains = indicators(finding.service.action)
    incident = Incident(
        incident_id=incident_id_for(finding.accountId, finding.region, finding.id), finding_id=finding.id,
        finding_arn=finding.arn, finding_type=finding.type, title=finding.title, severity=finding.severity,
        severity_band=severity_band(finding.severity), account_id=finding.accountId, region=finding.region,
        source="GuardDuty", resource_type="s3-bucket", resource_id=bucket,
        first_seen=finding.service.eventFirstSeen, last_seen=finding.service.eventLastSeen,
        count=finding.service.count, remote_ips=ips, domains=domains)
    return incident, BucketRef(name=bucket)


def parse(event: dict[str, Any], policy: dict[str, Any]) -> dict[str, Any]:
    """The incident, the bucket (and object) and the policy; `irflow.InvalidFinding` for anything else."""
    sources = {"aws.macie": from_macie, "aws.guardduty": from_guardduty}
    source = event.get("source")
    if source not in sources:
        raise InvalidFinding(f"source: expected aws.macie or aws.guardduty, not {source!r}")
    incident, bucket = sources[str(source)](event)
    settings = validate(S3Policy, policy, prefix="policy")
    return {"incident": incident.model_dump(), "bucket": bucket.model_dump(), "policy": settings.model_dump()}


def run(data: ParseFindingInput) -> dict[str, Any]:
    return parse(data.event, data.policy)


handler = task_handler(TASK, ParseFindingInput, run, invalid=InvalidFinding)
