"""Security groups open to the world: which ingress rules a Config rule objects to, and the models config-remediation shares.

An ingress rule is open to the world when it admits `0.0.0.0/0` or `::/0`. Which of those a
Config rule objects to depends on the rule, read from AWS Config itself
(`DescribeConfigRules`: the managed rule's identifier and parameters):
- `INCOMING_SSH_DISABLED` (restricted-ssh): TCP 22;
- `RESTRICTED_INCOMING_TRAFFIC` (restricted-common-ports): the `blockedPort1`..`5` (default 20,
  21, 3389, 3306, 4333) or `blockedPorts` TCP ports;
- `VPC_SG_OPEN_ONLY_TO_AUTHORIZED_PORTS`: every TCP and UDP port outside `authorizedTcpPorts` /
  `authorizedUdpPorts`;
- any other rule (a custom one, or a rule irflow cannot read): the policy's `fallback_ports`.
A rule for all protocols (`-1`) open to the world covers every port, so it always offends. Only
the world-wide ranges of an offending rule are revoked; other sources in it stay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from .errors import IrflowError
from .models import Decision, Incident, Severity, Strict

WORLD = ("0.0.0.0/0", "::/0")
EXEMPT_TAG = "irflow:exempt"
RESTRICTED_DEFAULTS = (20, 21, 3389, 3306, 4333)
RANGE = re.compile(r"^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$")
Ranges = list[tuple[int, int]]


class GroupNotFound(IrflowError):
    """The security group a finding names no longer exists."""


class ConfigPolicy(Strict):
    """config-remediation's policy (playbook.yaml, through the definition's placeholders)."""

    severity: Severity = 7.0  # Config findings carry none: what a world-open group counts as
    fallback_ports: list[Annotated[int, Field(ge=0, le=65535)]] = [22, 3389]
    approval_timeout_seconds: Annotated[int, Field(ge=60, le=7 * 24 * 3600)] = 3600
    on_approval_timeout: Literal["escalate"] = "escalate"

    @field_validator("fallback_ports", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        """A placeholder arrives as text: "22,3389"."""
        if isinstance(value, str):
            return [int(part) for part in value.split(",") if part.strip()]
        return value


class RuleRef(Strict):
    """The Config rule that reported the group."""

    name: Annotated[str, Field(min_length=1, max_length=128)]
    arn: str | None = None


class GroupInput(Strict):
    """Input of enrich-security-group."""

    incident: Incident
    rule: RuleRef
    policy: ConfigPolicy = ConfigPolicy()


class OpenRule(Strict):
    """One ingress rule's world-wide sources, as revoked."""

    protocol: str  # tcp, udp, icmp or -1
    from_port: int | None = None
    to_port: int | None = None
    cidrs: Annotated[list[str], Field(min_length=1)]


class RevokeInput(Strict):
    """Input of revoke-ingress-rules: the group, the rules a person approved revoking, who approved."""

    incident: Incident
    group_id: Annotated[str, Field(pattern=r"^sg-[0-9a-f]{8,17}$")]
    rules: list[OpenRule]
    approval: Decision


@dataclass
class PortCheck:
    """Which world-open ports offend: those `blocked`, or those not `authorized`."""

    mode: Literal["blocked", "authorized"]
    source: str  # where the ports came from, for the record
    tcp: Ranges = field(default_factory=list)
    udp: Ranges = field(default_factory=list)

    def offends(self, protocol: str, low: int | None, high: int | None) -> bool:
        if protocol == "-1":
            return True
        if protocol not in ("tcp", "udp") or low is None or high is None:
            return False
        ranges = self.tcp if protocol == "tcp" else self.udp
        if self.mode == "blocked":
            return any(low <= b_high and b_low <= high for b_low, b_high in ranges)
        return not any(a_low <= low and high <= a_high for a_low, a_high in ranges)


def parse_ranges(text: str) -> Ranges:
    """"443,1020-1025" -> [(443, 443), (1020, 1025)]."""
    ranges = []
    for part in str(text).split(","):
        if not part.strip():
            continue
        match = RANGE.match(part)
        if not match:
            raise ValueError(f"not a port or port range: {part!r}")
        low, high = int(match.group(1)), int(match.group(2) or match.group(1))
        ranges.append((min(low, high), max(low, high)))
    return ranges


def check_for(identifier: str | None, parameters: dict[str, Any], fallback: list[int]) -> PortCheck:
    """The ports a Config managed rule objects to, from its identifier and parameters."""
    if identifier == "INCOMING_SSH_DISABLED":
        return PortCheck("blocked", "Config rule INCOMING_SSH_DISABLED", tcp=[(22, 22)])
    if identifier == "RESTRICTED_INCOMING_TRAFFIC":
        if parameters.get("blockedPorts"):
            ports = parse_ranges(str(parameters["blockedPorts"]))
        else:
            ports = [(int(parameters.get(f"blockedPort{i}", d)),) * 2 for i, d in enumerate(RESTRICTED_DEFAULTS, 1)]
        return PortCheck("blocked", "Config rule RESTRICTED_INCOMING_TRAFFIC", tcp=ports)
    if identifier == "VPC_SG_OPEN_ONLY_TO_AUTHORIZED_PORTS":
        return PortCheck("authorized", "Config rule VPC_SG_OPEN_ONLY_TO_AUTHORIZED_PORTS",
                         tcp=parse_ranges(parameters.get("authorizedTcpPorts", "")),
                         udp=parse_ranges(parameters.get("authorizedUdpPorts", "")))
    source = f"policy fallback_ports (Config rule {identifier})" if identifier else "policy fallback_ports"
    return PortCheck("blocked", source, tcp=[(p, p) for p in fallback], udp=[(p, p) for p in fallback])


def offending(permissions: list[dict[str, Any]], check: PortCheck) -> list[OpenRule]:
    """The world-wide sources of each ingress rule the check objects to."""
    found = []
    for permission in permissions:
        cidrs = [r["CidrIp"] for r in permission.get("IpRanges", []) if r.get("CidrIp") in WORLD] + [
            r["CidrIpv6"] for r in permission.get("Ipv6Ranges", []) if r.get("CidrIpv6") in WORLD]
        protocol = str(permission.get("IpProtocol"))
        if cidrs and check.offends(protocol, permission.get("FromPort"), permission.get("ToPort")):
            found.append(OpenRule(protocol=protocol, from_port=permission.get("FromPort"),
                                  to_port=permission.get("ToPort"), cidrs=cidrs))
    return found


def permission_of(rule: OpenRule) -> dict[str, Any]:
    """The IpPermissions entry that revokes exactly `rule`'s world-wide sources."""
    permission: dict[str, Any] = {"IpProtocol": rule.protocol}
    if rule.from_port is not None:
        permission.update(FromPort=rule.from_port, ToPort=rule.to_port)
    v4 = [c for c in rule.cidrs if ":" not in c]
    v6 = [c for c in rule.cidrs if ":" in c]
    if v4:
        permission["IpRanges"] = [{"CidrIp": c} for c in v4]
    if v6:
        permission["Ipv6Ranges"] = [{"CidrIpv6": c} for c in v6]
    return permission


def rule_text(rule: OpenRule) -> str:
    """`tcp 22 from 0.0.0.0/0, ::/0`."""
    if rule.protocol == "-1":
        ports = "all traffic"
    elif rule.from_port == rule.to_port or rule.from_port is None:
        ports = f"{rule.protocol} {rule.from_port}"
    else:
        ports = f"{rule.protocol} {rule.from_port}-{rule.to_port}"
    return f"{ports} from {', '.join(rule.cidrs)}"
