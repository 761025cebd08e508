"""describe-protected-resource: what a Shield DDoSDetected alarm is about, for the incident and the people paged.

In the member account the task reads the Shield Advanced protection of the resource the alarm
names (`DescribeProtection`, by resource ARN) and the resource itself: a load balancer
(`DescribeLoadBalancers`), a CloudFront distribution (`GetDistribution`) or an Elastic IP
(`DescribeAddresses`); other protected types (Global Accelerator, Route 53 hosted zones) are
reported by their ARN. The details are kept as evidence and written to the incident's timeline.
Nothing is changed: Shield Advanced mitigates, the Shield Response Team can be engaged, and the
people notified decide. A resource that no longer exists fails with `irflow.ResourceGone`.

Example event:

    {"incident": {"incident_id": "inc-7a1c2e3f4b5d6e7f", "finding_id": "arn:aws:cloudwatch:us-east-1:222222222222:alarm:shop-ddos#2025-01-01T09:00:00Z",
                  "finding_type": "CloudWatchAlarm:Shield/DDoSDetected", "severity": 8.0, "severity_band": "high",
                  "account_id": "222222222222", "region": "us-east-1", "source": "CloudWatch alarm",
                  "resource_type": "shield-protected-resource",
                  "resource_id": "arn:aws:elasticloadbalancing:us-east-1:222222222222:loadbalancer/app/shop-alb/50dc6c495c0c9188"},
     "resource_arn": "arn:aws:elasticloadbalancing:us-east-1:222222222222:loadbalancer/app/shop-alb/50dc6c495c0c9188"}
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field

from tasks.common import evidence, incidents
from tasks.common.aws import error_code, member_session, session_client
from tasks.common.errors import IrflowError
from tasks.common.handler import task_handler
from tasks.common.models import Incident, Strict
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="describe-protected-resource",
    member_permissions=("shield:DescribeProtection", "elasticloadbalancing:DescribeLoadBalancers",
                        "cloudfront:GetDistribution", "ec2:DescribeAddresses"),
    central_permissions=("sts:AssumeRole", "s3:PutObject", "dynamodb:PutItem"), destructive=False,
    model="tasks.describe_protected_resource.ProtectedResourceInput", evidence=True, timeout_seconds=30)

SHIELD_REGION = "us-east-1"  # Shield Advanced's API endpoint
NOT_FOUND = {"ResourceNotFoundException", "LoadBalancerNotFound", "NoSuchDistribution", "InvalidAllocationID.NotFound"}


class ResourceGone(IrflowError):
    """The resource the alarm names no longer exists."""


class ProtectedResourceInput(Strict):
    incident: Incident
    resource_arn: Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:[a-z0-9-]+:")]


def _arn_parts(arn: str) -> tuple[str, str, str]:
    """(service, region, resource) of an ARN."""
    parts = arn.split(":", 5)
    return parts[2], parts[3], parts[5] if len(parts) > 5 else ""


def resource_details(session: Any, arn: str, default_region: str) -> dict[str, Any]:
    """What the resource is, read from its own service; ResourceGone when it no longer exists."""
    service, region, resource = _arn_parts(arn)
    region = region or default_region
    try:
        if service == "elasticloadbalancing" and resource.startswith("loadbalancer/"):
            found = session_client(session, "elbv2", region).describe_load_balancers(LoadBalancerArns=[arn])
            lb = found["LoadBalancers"][0]
            return {"kind": "load-balancer", "name": lb.get("LoadBalancerName"), "dns_name": lb.get("DNSName"),
                    "type": lb.get("Type"), "scheme": lb.get("Scheme"), "state": (lb.get("State") or {}).get("Code"),
                    "vpc_id": lb.get("VpcId")}
        if service == "cloudfront" and resource.startswith("distribution/"):
            found = session_client(session, "cloudfront", SHIELD_REGION).get_distribution(Id=resource.split("/", 1)[1])
            dist = found["Distribution"]
            config = dist.get("DistributionConfig") or {}
            return {"kind": "cloudfront-distribution", "id": dist.get("Id"), "domain_name": dist.get("DomainName"),
                    "status": dist.get("Status"), "enabled": config.get("Enabled"),
                    "aliases": (config.get("Aliases") or {}).get("Items") or []}
        if service == "ec2" and resource.startswith("eip-allocation/"):
            found = session_client(session, "ec2", region).describe_addresses(AllocationIds=[resource.split("/", 1)[1]])
            address = found["Addresses"][0]
            return {"kind": "elastic-ip", "public_ip": address.get("PublicIp"),
                    "instance_id": address.get("InstanceId"), "network_interface_id": address.get("NetworkInterfaceId")}
    except Exception as error:
        if error_code(error) in NOT_FOUND:
            raise ResourceGone(f"{arn} no longer exists ({error_code(error)})") from None
        raise
    return {"kind": f"{service}:{resource.split('/', 1)[0]}", "note": "irflow does not read details of this type"}


def protection(session: Any, arn: str) -> dict[str, Any] | None:
    """The resource's Shield Advanced protection, or None when it has none."""
    try:
        found = session_client(session, "shield", SHIELD_REGION).describe_protection(ResourceArn=arn)["Protection"]
    except Exception as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise
    return {"id": found.get("Id"), "name": found.get("Name"), "health_check_ids": found.get("HealthCheckIds") or [],
            "automatic_response": (found.get("ApplicationLayerAutomaticResponseConfiguration") or {}).get("Status")}


def describe(data: ProtectedResourceInput, session: Any = None, s3: Any = None, ddb: Any = None) -> dict[str, Any]:
    """Read and keep the resource's details and protection; returns them with a one-line summary."""
    incident = data.incident
    session = session or member_session(incident.account_id, incident.incident_id, incident.region)
    details = resource_details(session, data.resource_arn, incident.region)
    shield = protection(session, data.resource_arn)
    name = details.get("name") or details.get("domain_name") or details.get("public_ip") or data.resource_arn
    summary = (f"DDoS detected on {details['kind']} {name}"
               + (f", Shield Advanced protection {shield['name']}" if shield else ", which has no Shield Advanced "
                  "protection")
               + (f" (automatic application-layer response {shield['automatic_response']})"
                  if shield and shield.get("automatic_response") else ""))
    kept = {"resourceArn": data.resource_arn, "resource": details, "protection": shield}
    entry = evidence.store(incident.incident_id, ("shield", "protected-resource.json"),
                           json.dumps(kept, indent=2, sort_keys=True).encode(), "protected-resource",
                           content_type="application/json", s3=s3, ddb=ddb)
    incidents.add_timeline(incident.incident_id, "describe-protected-resource", summary, ddb=ddb)
    return {"resource": details, "protection": shield, "summary": summary, "name": str(name),
            "evidence": {"uri": entry["uri"], "sha256": entry["sha256"]}}


def run(data: ProtectedResourceInput) -> dict[str, Any]:
    return describe(data)


handler = task_handler(TASK, ProtectedResourceInput, run)
