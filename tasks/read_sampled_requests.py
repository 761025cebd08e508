"""read-sampled-requests: read what the WAF rule behind a SQL injection alarm saw, keep it, and rank the source addresses.

In the member account (through IrflowMemberRole) the task finds the web ACL the alarm names (its
`WebACL` dimension is the web ACL's metric name), asks WAF for the requests it sampled for the
alarm's rule (`GetSampledRequests`: up to 500 from the alarm's evaluation window, which WAF
keeps for three hours), stores the answer as evidence, and ranks the client addresses by the
number of requests their samples stand for (`Weight`). An address is proposed for blocking when
it is on the internet (not private, loopback or link-local), not under the policy's
`never_block` networks, and behind at least `min_requests` requests; at most `max_addresses`
are proposed, the busiest first. Nothing is changed. A web ACL that no longer exists fails
with `irflow.WebAclNotFound`.

Example event:

    {"incident": {"incident_id": "inc-4268e8f0cb1e6e96", "finding_id": "arn:aws:cloudwatch:us-east-1:222222222222:alarm:shop-sqli-blocked#2025-01-01T09:00:00Z",
                  "finding_type": "CloudWatchAlarm:WAF/SQLInjection", "severity": 7.0, "severity_band": "high",
                  "account_id": "222222222222", "region": "us-east-1", "source": "CloudWatch alarm",
                  "resource_type": "waf-web-acl", "resource_id": "shop-acl"},
     "web_acl": {"metric_name": "shop-acl", "rule_metric_name": "SQLiRuleSet", "scope": "REGIONAL", "region": "us-east-1"},
     "state_time": "2025-01-01T09:00:00Z", "period": 300,
     "policy": {"block_seconds": 86400, "max_addresses": 25, "min_requests": 3, "never_block": ["192.0.2.0/24"]}}
"""

from __future__ import annotations

import ipaddress
import json
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field

from tasks.common import clock, evidence, incidents
from tasks.common.addresses import is_internet
from tasks.common.aws import member_session, session_client
from tasks.common.handler import task_handler
from tasks.common.models import Incident, Strict
from tasks.common.waf import find_web_acl
from tasks.parse_alarm import aws_time, iso
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="read-sampled-requests",
    member_permissions=("wafv2:ListWebACLs", "wafv2:GetWebACL", "wafv2:GetSampledRequests"),
    central_permissions=("sts:AssumeRole", "s3:PutObject", "dynamodb:PutItem"), destructive=False,
    model="tasks.read_sampled_requests.ReadSampledRequestsInput", evidence=True, timeout_seconds=30)

MAX_ITEMS = 500  # what GetSampledRequests returns at most
SAMPLE_HISTORY = timedelta(hours=3)  # WAF keeps samples this long
MIN_WINDOW = timedelta(minutes=15)
TOP_DETAILS = 3


class WebAclRef(Strict):
    metric_name: str
    rule_metric_name: str
    scope: Literal["REGIONAL", "CLOUDFRONT"]
    region: str


class BlockPolicy(Strict):
    block_seconds: Annotated[int, Field(ge=300, le=30 * 24 * 3600)] = 86400
    max_addresses: Annotated[int, Field(ge=1, le=1000)] = 25
    min_requests: Annotated[int, Field(ge=1)] = 3
    never_block: list[str] = []


class ReadSampledRequestsInput(Strict):
    incident: Incident
    web_acl: WebAclRef
    state_time: str
    period: Annotated[int, Field(ge=1)] = 300
    policy: BlockPolicy = BlockPolicy()


def window(state_time: str, period: int, now: datetime) -> tuple[datetime, datetime]:
    """The samples to read: the alarm's evaluation periods up to its state change, within WAF's three hours."""
    end = min(aws_time(state_time), now)
    start = max(end - max(MIN_WINDOW, timedelta(seconds=3 * period)), now - SAMPLE_HISTORY)
    return start, end


def _reason_not_to_block(address: str, never: list[Any]) -> str | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "not an IP address"
    if not is_internet(address):
        return "not an internet address (private, shared, loopback, link-local, multicast or reserved)"
    for network in never:
        if ip.version == network.version and ip in network:
            return f"in never_block {network}"
    return None


def rank(samples: list[dict[str, Any]], policy: BlockPolicy) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(addresses proposed for blocking, busiest first; addresses kept out, with the reason)."""
    never = [ipaddress.ip_network(n, strict=False) for n in policy.never_block]
    by_ip: dict[str, dict[str, Any]] = {}
    for sample in samples:
        request = sample.get("Request") or {}
        address = str(request.get("ClientIP", ""))
        entry = by_ip.setdefault(address, {"address": address, "requests": 0, "samples": 0, "countries": {},
                                           "uris": {}, "actions": set(), "first_seen": None, "last_seen": None})
        weight = int(sample.get("Weight") or 1)
        entry["requests"] += weight
        entry["samples"] += 1
        for key, value in (("countries", request.get("Country")), ("uris", request.get("URI"))):
            if value:
                entry[key][value] = entry[key].get(value, 0) + weight
        if sample.get("Action"):
            entry["actions"].add(sample["Action"])
        stamp = sample.get("Timestamp")
        when = iso(stamp) if isinstance(stamp, datetime) else None
        if when:
            entry["first_seen"] = min(filter(None, (entry["first_seen"], when)))
            entry["last_seen"] = max(filter(None, (entry["last_seen"], when)))
    proposed: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    for entry in sorted(by_ip.values(), key=lambda e: (-e["requests"], e["address"])):
        shown = {**entry, "countries": _top(entry["countries"]), "uris": _top(entry["uris"]),
                 "actions": sorted(entry["actions"])}
        reason = _reason_not_to_block(entry["address"], never)
        if reason is None and entry["requests"] < policy.min_requests:
            reason = f"only {entry['requests']} request(s), below min_requests {policy.min_requests}"
        if reason is None and len(proposed) >= policy.max_addresses:
            reason = f"beyond max_addresses {policy.max_addresses}"
        if reason is None:
            proposed.append(shown)
        else:
            excluded.append({"address": entry["address"], "requests": entry["requests"], "reason": reason})
    return proposed, excluded


def _top(counts: dict[str, int]) -> list[str]:
    return [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_DETAILS]]


def proposal(offenders: list[dict[str, Any]], acl: dict[str, Any], scope: str, region: str, hours: float) -> str:
    """What the approval asks: which addresses, where, for how long."""
    shown = ", ".join(f"{o['address']} ({o['requests']} requests)" for o in offenders[:10])
    more = f" and {len(offenders) - 10} more" if len(offenders) > 10 else ""
    return (f"block {len(offenders)} source address(es) on web ACL {acl['Name']} ({scope}, {region}): {shown}{more}; "
            f"through irflow's WAF IP set, for {hours:g} hours, after which irflow removes them again")


def read(data: ReadSampledRequestsInput, session: Any = None, s3: Any = None, ddb: Any = None) -> dict[str, Any]:
    """Sample, keep as evidence, rank; returns the web ACL, the proposed and excluded addresses and the evidence."""
    incident = data.incident
    ref = data.web_acl
    region = ref.region if ref.scope == "REGIONAL" else "us-east-1"
    session = session or member_session(incident.account_id, incident.incident_id, region)
    waf = session_client(session, "wafv2", region)
    acl, _ = find_web_acl(waf, ref.scope, ref.metric_name)
    start, end = window(data.state_time, data.period, clock.now())
    response = waf.get_sampled_requests(WebAclArn=acl["ARN"], RuleMetricName=ref.rule_metric_name, Scope=ref.scope,
                                        TimeWindow={"StartTime": start, "EndTime": end}, MaxItems=MAX_ITEMS)
    samples = response.get("SampledRequests", [])
    offenders, excluded = rank(samples, data.policy)
    kept = {"webAcl": {"ARN": acl["ARN"], "Name": acl["Name"], "Id": acl["Id"], "Scope": ref.scope, "Region": region},
            "ruleMetricName": ref.rule_metric_name, "requestedWindow": {"StartTime": iso(start), "EndTime": iso(end)},
            "response": {k: v for k, v in response.items() if k != "ResponseMetadata"}}
    entry = evidence.store(incident.incident_id, ("waf", f"sampled-requests-{ref.rule_metric_name}.json"),
                           json.dumps(kept, indent=2, default=_json_time).encode(), "waf-sampled-requests",
                           content_type="application/json", s3=s3, ddb=ddb)
    incidents.add_timeline(incident.incident_id, "read-sampled-requests",
                           f"{len(samples)} sampled request(s) of rule {ref.rule_metric_name} on web ACL {acl['Name']} "
                           f"(population {response.get('PopulationSize', 0)}); {len(offenders)} address(es) proposed "
                           f"for blocking, {len(excluded)} kept out", ddb=ddb)
    hours = data.policy.block_seconds / 3600
    return {
        "web_acl": {"arn": acl["ARN"], "name": acl["Name"], "id": acl["Id"], "scope": ref.scope, "region": region},
        "sampled": len(samples),
        "population": int(response.get("PopulationSize") or 0),
        "offenders": offenders,
        "addresses": [o["address"] for o in offenders],
        "excluded": excluded,
        "proposal": proposal(offenders, acl, ref.scope, region, hours) if offenders else None,
        "evidence": {"uri": entry["uri"], "sha256": entry["sha256"]},
    }


def _json_time(value: Any) -> Any:
    return iso(value) if isinstance(value, datetime) else str(value)


def run(data: ReadSampledRequestsInput) -> dict[str, Any]:
    return read(data)


handler = task_handler(TASK, ReadSampledRequestsInput, run)
