"""parse-finding: turn a GuardDuty EC2 finding (as EventBridge delivers it) into an incident and a policy.

The incident id is derived from the finding (account, region, finding id), so GuardDuty's
updates of one finding land on one incident. Severity gets GuardDuty's band; attacker
addresses and domains from the finding's action are kept for the record. A malformed event
fails with `irflow.InvalidFinding` and a cause naming the bad field, before anything is
touched. The policy arrives from the definition's placeholders as strings and leaves as
numbers and booleans the Choice states compare.

Example event:

    {"event": {"version": "0", "id": "c8c4daa7-a20c-2f03-0070-b7393dd542ad", "detail-type": "GuardDuty Finding",
               "source": "aws.guardduty", "account": "222222222222", "time": "2024-05-14T09:42:37Z",
               "region": "us-east-1", "resources": [],
               "detail": {"schemaVersion": "2.0", "accountId": "222222222222", "region": "us-east-1",
                          "partition": "aws", "id": "96c7b8e1f2a34d5c9e0b1a2f3c4d5e6f",
                          "arn": "arn:aws:guardduty:us-east-1:222222222222:detector/12abc34d567e8fa901bc2d34e56789f0/finding/96c7b8e1f2a34d5c9e0b1a2f3c4d5e6f",
                          "type": "UnauthorizedAccess:EC2/SSHBruteForce", "severity": 8,
                          "title": "i-0a1b2c3d4e5f60718 is performing SSH brute force attacks against 198.51.100.23.",
                          "resource": {"resourceType": "Instance",
                                       "instanceDetails": {"instanceId": "i-0a1b2c3d4e5f60718"}},
                          "service": {"serviceName": "guardduty", "resourceRole": "ACTOR", "count": 41,
                                      "action": {"actionType": "NETWORK_CONNECTION", "networkConnectionAction": {
                                          "connectionDirection": "OUTBOUND",
                                          "remoteIpDetails": {"ipAddressV4": "198.51.100.23"}}}},
                          "createdAt": "2024-05-14T09:27:31.552Z", "updatedAt": "2024-05-14T09:41:58.104Z"}},
     "policy": {"approval_severity": "4", "isolate_severity": "7", "capture_memory": "false",
                "approval_timeout_seconds": "3600", "on_approval_timeout": "escalate"}}
"""

from __future__ import annotations

import ipaddress
from typing import Any

from tasks.common.errors import InvalidFinding
from tasks.common.handler import task_handler, validate
from tasks.common.models import (
    FindingEvent,
    IncidentRef,
    ParseFindingInput,
    Policy,
    incident_id_for,
    severity_band,
)
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="parse-finding", member_permissions=(), central_permissions=(), destructive=False,
    model="tasks.common.models.ParseFindingInput", timeout_seconds=10)


def _ip(value: Any) -> str | None:
    try:
        return str(ipaddress.ip_address(value)) if isinstance(value, str) else None
    except ValueError:
        return None


def indicators(action: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Remote IP addresses and domains named by a finding's `service.action`."""
    details: list[Any] = []
    for name in ("networkConnectionAction", "awsApiCallAction"):
        part = action.get(name)
        if isinstance(part, dict):
            details.append(part.get("remoteIpDetails"))
    probe = action.get("portProbeAction")
    if isinstance(probe, dict):
        details.extend(p.get("remoteIpDetails") for p in probe.get("portProbeDetails") or [] if isinstance(p, dict))
    ips = [ip for d in details if isinstance(d, dict) and (ip := _ip(d.get("ipAddressV4") or d.get("ipAddressV6")))]
    dns = action.get("dnsRequestAction")
    domains = [dns["domain"]] if isinstance(dns, dict) and isinstance(dns.get("domain"), str) else []
    return sorted(set(ips)), domains


def parse(event: dict[str, Any], policy: dict[str, Any]) -> dict[str, Any]:
    """The incident and the normalised policy for a finding event; `irflow.InvalidFinding` if malformed."""
    finding = validate(FindingEvent, event, InvalidFinding).detail
    settings = validate(Policy, policy, prefix="policy")
    instance = finding.resource.instanceDetails
    ips, domains = indicators(finding.service.action)
    incident = IncidentRef(
        incident_id=incident_id_for(finding.accountId, finding.region, finding.id),
        finding_id=finding.id, finding_arn=finding.arn, finding_type=finding.type, title=finding.title,
        severity=finding.severity, severity_band=severity_band(finding.severity),
        account_id=finding.accountId, region=finding.region, instance_id=instance.instanceId,
        resource_role=finding.service.resourceRole, first_seen=finding.service.eventFirstSeen,
        last_seen=finding.service.eventLastSeen, count=finding.service.count, remote_ips=ips, domains=domains)
    return {"incident": incident.model_dump(), "policy": settings.model_dump()}


def run(data: ParseFindingInput) -> dict[str, Any]:
    return parse(data.event, data.policy)


handler = task_handler(TASK, ParseFindingInput, run, invalid=InvalidFinding)
