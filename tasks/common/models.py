"""Pydantic models: the GuardDuty event, the incident as it flows through a playbook, each task's input.

Step Functions passes JSON between states; each task validates what it receives against its
model before touching anything, so a wiring mistake in a definition fails with a clear
`irflow.InvalidInput` instead of a half-done action. Field names of AWS-shaped data keep AWS's
spelling (GuardDuty's camelCase `detail`); irflow's own data is snake_case.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

AccountId = Annotated[str, Field(pattern=r"^\d{12}$")]
Region = Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")]
InstanceId = Annotated[str, Field(pattern=r"^i-[0-9a-f]{8,17}$")]
IncidentId = Annotated[str, Field(pattern=r"^inc-[0-9a-f]{16}$")]
ApprovalId = Annotated[str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]  # States.UUID()
CommandId = Annotated[str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
Severity = Annotated[float, Field(ge=0, le=10)]
SeverityBand = Literal["low", "medium", "high", "critical"]
Platform = Literal["Linux", "Windows"]

# Incident statuses, in the order a response usually moves through them.
OPEN = "open"
INVESTIGATING = "investigating"
AWAITING_APPROVAL = "awaiting-approval"
CONTAINED = "contained"
REMEDIATED = "remediated"
AWAITING_HUMAN = "awaiting-human"
RELEASED = "released"
CLOSED = "closed"
FAILED = "failed"
IncidentStatus = Literal["open", "investigating", "awaiting-approval", "contained", "remediated", "awaiting-human",
                         "released", "closed", "failed"]


class Strict(BaseModel):
    """irflow's own data: unknown fields are a wiring mistake."""

    model_config = ConfigDict(extra="forbid")


class Lenient(BaseModel):
    """AWS data: keep what irflow reads, ignore the rest (AWS adds fields over time)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


# --- GuardDuty's finding, as EventBridge delivers it ----------------------------------------------


class GdSecurityGroup(Lenient):
    groupId: str | None = None
    groupName: str | None = None


class GdNetworkInterface(Lenient):
    networkInterfaceId: str | None = None
    vpcId: str | None = None
    subnetId: str | None = None
    privateIpAddress: str | None = None
    publicIp: str | None = None
    securityGroups: list[GdSecurityGroup] = []


class GdTag(Lenient):
    key: str
    value: str | None = None


class GdInstanceDetails(Lenient):
    instanceId: InstanceId
    instanceState: str | None = None
    instanceType: str | None = None
    platform: str | None = None
    availabilityZone: str | None = None
    networkInterfaces: list[GdNetworkInterface] = []
    tags: list[GdTag] = []


class GdResource(Lenient):
    resourceType: Literal["Instance"]
    instanceDetails: GdInstanceDetails


class GdService(Lenient):
    serviceName: str | None = None
    detectorId: str | None = None
    action: dict[str, Any] = {}
    resourceRole: str | None = None
    eventFirstSeen: str | None = None
    eventLastSeen: str | None = None
    count: int = 1
    archived: bool = False


class GuardDutyFindingFields(Lenient):
    """What every GuardDuty finding carries, whatever its resource (the playbooks add the resource)."""

    schemaVersion: str
    accountId: AccountId
    region: Region
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]
    arn: str
    service: GdService = GdService()
    severity: Severity
    title: str = ""
    updatedAt: str | None = None


class GuardDutyFinding(GuardDutyFindingFields):
    partition: str = "aws"
    type: Annotated[str, Field(min_length=1, max_length=50)]
    resource: GdResource
    description: str = ""
    createdAt: str | None = None


class FindingEvent(Lenient):
    """An EventBridge event whose detail is a GuardDuty finding about an EC2 instance."""

    version: str = "0"
    id: str
    detail_type: Literal["GuardDuty Finding"] = Field(alias="detail-type")
    source: Literal["aws.guardduty"]
    account: AccountId
    time: str
    region: Region
    resources: list[str] = []
    detail: GuardDutyFinding


def severity_band(severity: float) -> SeverityBand:
    """GuardDuty's bands: low 1.0-3.9, medium 4.0-6.9, high 7.0-8.9, critical 9.0-10.0."""
    if severity >= 9:
        return "critical"
    if severity >= 7:
        return "high"
    if severity >= 4:
        return "medium"
    return "low"


def incident_id_for(account_id: str, region: str, finding_id: str) -> str:
    """Deterministic: the same finding (GuardDuty re-sends it as it updates) is the same incident."""
    digest = hashlib.sha256(f"{account_id}:{region}:{finding_id}".encode()).hexdigest()
    return f"inc-{digest[:16]}"


# --- the incident as it flows through a playbook ---------------------------------------------------


class Incident(Strict):
    """What every task is told about the incident: who, what, where, how bad, and about which resource.

    `source` names who reported it (GuardDuty, a CloudWatch alarm, a log detection...);
    `resource_type`/`resource_id` name the affected resource (scenario resource kinds:
    ec2-instance, iam-user, s3-bucket, waf-web-acl...). An EC2 incident gives `instance_id` and
    may leave `resource_id` out. The tasks every playbook shares (open-incident, notify, record,
    request-approval) take this; tasks that act on an instance take `IncidentRef`.
    """

    incident_id: IncidentId
    finding_id: str
    finding_arn: str = ""
    finding_type: str
    title: str = ""
    severity: Severity
    severity_band: SeverityBand
    account_id: AccountId
    region: Region
    source: str = "GuardDuty"
    resource_type: str = "ec2-instance"
    resource_id: str | None = None
    instance_id: InstanceId | None = None
    resource_role: str | None = None
    first_seen: str | None = None
    last_seen: str | None = None
    count: int = 1
    remote_ips: list[str] = []
    domains: list[str] = []

    @model_validator(mode="after")
    def _names_a_resource(self) -> Incident:
        if not (self.resource_id or self.instance_id):
            raise ValueError("an incident names its resource: resource_id (or instance_id for an EC2 instance)")
        return self

    @property
    def target(self) -> str:
        """The affected resource's id."""
        return str(self.resource_id or self.instance_id)


class IncidentRef(Incident):
    """An incident about an EC2 instance (what the ec2-compromise tasks act on)."""

    instance_id: InstanceId


class Policy(Strict):
    """The playbook's policy, from playbook.yaml through the definition's placeholders (strings coerced)."""

    approval_severity: Severity = 4.0
    isolate_severity: Severity = 7.0
    capture_memory: bool = False
    approval_timeout_seconds: Annotated[int, Field(ge=60, le=7 * 24 * 3600)] = 3600
    on_approval_timeout: Literal["escalate"] = "escalate"

    @field_validator("isolate_severity")
    @classmethod
    def _ordered(cls, value: float, info: Any) -> float:
        approval = info.data.get("approval_severity")
        if approval is not None and value < approval:
            raise ValueError("isolate_severity must not be below approval_severity")
        return value


class SsmFacts(Strict):
    managed: bool = False
    ping_status: str | None = None
    platform_name: str | None = None
    agent_version: str | None = None


class VolumeFacts(Strict):
    volume_id: str
    device: str | None = None
    size_gib: int | None = None
    encrypted: bool | None = None


class InterfaceFacts(Strict):
    interface_id: str
    groups: list[str] = []


class InstanceFacts(Strict):
    """What enrich-instance learns about the instance (and later tasks read)."""

    instance_id: InstanceId
    state: str
    platform: Platform = "Linux"
    instance_type: str | None = None
    image_id: str | None = None
    launch_time: str | None = None
    vpc_id: str | None = None
    subnet_id: str | None = None
    private_ip: str | None = None
    public_ip: str | None = None
    security_groups: list[dict[str, str]] = []
    interfaces: list[InterfaceFacts] = []
    tags: dict[str, str] = {}
    owner: str | None = None
    environment: str | None = None
    exempt: bool = False
    instance_profile_arn: str | None = None
    role_name: str | None = None
    auto_scaling_group: str | None = None
    target_groups: list[str] = []
    volumes: list[VolumeFacts] = []
    ssm: SsmFacts = SsmFacts()
    other_findings: list[dict[str, Any]] | None = None
    notes: list[str] = []


class Failure(Lenient):
    """A Catch's error output (`{"Error": ..., "Cause": ...}`)."""

    Error: str
    Cause: str | None = None


# --- task inputs ------------------------------------------------------------------------------------


class ParseFindingInput(Strict):
    event: dict[str, Any]
    policy: dict[str, Any] = {}


class IncidentInput(Strict):
    """Input of the tasks that need only the incident."""

    incident: IncidentRef


class OpenIncidentInput(Strict):
    incident: Incident
    # ec2-compromise's policy, or another playbook's own (kept on the incident as given)
    policy: Annotated[Policy | dict[str, Any], Field(union_mode="left_to_right")] = Policy()
    execution_arn: str | None = None


class InstanceInput(Strict):
    """Input of the tasks that act on the enriched instance."""

    incident: IncidentRef
    instance: InstanceFacts


class CaptureMemoryInput(Strict):
    incident: IncidentRef
    instance: InstanceFacts
    requested: bool = True  # the playbook's policy (capture_memory)


class CommandRef(Strict):
    """An SSM command a collect task sent and the poll task follows."""

    kind: Literal["volatile", "memory"]
    status: str
    instance_id: InstanceId
    command_id: CommandId | None = None
    polls: int = 0
    output_prefix: str | None = None
    image_key: str | None = None
    reason: str | None = None
    evidence: list[dict[str, str]] = []


class PollCommandInput(Strict):
    incident: IncidentRef
    command: CommandRef


class RequestApprovalInput(Strict):
    incident: Incident
    approval_id: ApprovalId
    action: Annotated[str, Field(pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")]  # the task that runs once approved
    task_token: Annotated[str, Field(min_length=1, max_length=4096)]
    timeout_seconds: Annotated[int, Field(ge=60, le=7 * 24 * 3600)] = 3600
    reason: str | None = None
    what: str | None = None  # what will be done, for actions request-approval does not describe itself


class Decision(Lenient):
    """What an approval's SendTaskSuccess output carries."""

    approval_id: ApprovalId
    decision: Literal["approved"]
    by: str
    at: str | None = None


class RemediateInput(Strict):
    incident: IncidentRef
    approval: Decision


NotifyKind = Literal["summary", "access-denied", "escalation", "contained", "remediated", "rejected", "failure",
                     "instance-gone", "exempt", "low-severity"]


class NotifyInput(Strict):
    incident: Incident
    kind: NotifyKind
    failure: Failure | None = None
    note: str | None = None
    headline: str | None = None  # the subject, when the kind's standard headline does not fit the playbook


class RecordInput(Strict):
    """One entry for the incident record: a timeline line, maybe a failure, a status, the report."""

    incident: Incident | None = None
    step: str
    message: str
    status: IncidentStatus | None = None
    failure: Failure | None = None
    approval_id: ApprovalId | None = None
    approval_timed_out: bool = False
    report: bool = False
    event_id: str | None = None


class ReleaseInput(Strict):
    incident_id: IncidentId
    instance_id: InstanceId | None = None
    by: str = "irflow"
