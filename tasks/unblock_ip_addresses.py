"""unblock-ip-addresses: when a block expires, take the incident's addresses out of irflow's WAF IP sets.

The playbook waits until the expiry block-ip-addresses returned, then calls this task. Each
address the incident claimed leaves its IP set only when its claim has expired: an address a
later incident blocked again stays until that block expires (`tasks.common.waf`). The Block
rule and the (possibly empty) IP set stay in the web ACL for the next incident. Removing an
address only restores the traffic the approval stopped for a limited time, so it needs no
approval of its own. Running it twice changes nothing the second time.

Example event:

    {"incident": {"incident_id": "inc-4268e8f0cb1e6e96", "finding_id": "arn:aws:cloudwatch:us-east-1:222222222222:alarm:shop-sqli-blocked#2025-01-01T09:00:00Z",
                  "finding_type": "CloudWatchAlarm:WAF/SQLInjection", "severity": 7.0, "severity_band": "high",
                  "account_id": "222222222222", "region": "us-east-1", "source": "CloudWatch alarm",
                  "resource_type": "waf-web-acl", "resource_id": "shop-acl"},
     "ip_sets": [{"arn": "arn:aws:wafv2:us-east-1:222222222222:regional/ipset/irflow-blocked-ipv4/5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9",
                  "name": "irflow-blocked-ipv4", "id": "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9", "scope": "REGIONAL",
                  "region": "us-east-1", "addresses": ["198.51.100.7/32", "203.0.113.45/32"]}],
     "expires_at": "2025-01-02T09:05:00Z"}
"""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

from tasks.common import clock, incidents, waf
from tasks.common.aws import client, error_code, member_session, session_client
from tasks.common.handler import task_handler
from tasks.common.models import Incident, Strict
from tasks.parse_alarm import iso
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="unblock-ip-addresses",
    member_permissions=("wafv2:GetIPSet", "wafv2:UpdateIPSet"),
    central_permissions=("sts:AssumeRole", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem"),
    destructive=False, model="tasks.unblock_ip_addresses.UnblockInput", timeout_seconds=60)


class BlockedSet(Strict):
    arn: str
    name: str
    id: str
    scope: Literal["REGIONAL", "CLOUDFRONT"]
    region: str
    addresses: list[str]


class UnblockInput(Strict):
    incident: Incident
    ip_sets: list[BlockedSet]
    expires_at: str


def _without(out: list[str], addresses: list[str]) -> list[str]:
    return [a for a in addresses if a not in set(out)]


def unblock(data: UnblockInput, session: Any = None, ddb: Any = None) -> dict[str, Any]:
    """Remove the expired addresses; returns what was removed and what a later block keeps."""
    incident = data.incident
    ddb = ddb or client("dynamodb")
    now = iso(clock.now())
    removed: list[str] = []
    kept: list[dict[str, Any]] = []
    gone: list[str] = []
    for item in data.ip_sets:
        released = []
        for address in item.addresses:
            if waf.release(item.arn, address, now, ddb):
                released.append(address)
            else:
                claim = waf.get_claim(item.arn, address, ddb) or {}
                kept.append({"address": address, "until": claim.get("expires_at"), "by": claim.get("incident_id")})
        if not released:
            continue
        session = session or member_session(incident.account_id, incident.incident_id, item.region)
        waf_client = session_client(session, "wafv2", item.region)
        summary = {"Name": item.name, "Id": item.id, "ARN": item.arn}
        try:
            waf.change_ip_set(waf_client, item.scope, summary, partial(_without, released))
        except Exception as error:
            if error_code(error) != "WAFNonexistentItemException":
                raise
            gone.append(item.name)  # the IP set was deleted: nothing left to remove
            continue
        removed.extend(released)
    result = f"{len(removed)} address(es) removed at expiry"
    if kept:
        result += f"; {len(kept)} kept (blocked again by a later incident)"
    if gone:
        result += f"; IP set(s) {', '.join(gone)} no longer exist"
    incidents.add_action(incident.incident_id, "unblock-ip-addresses", data.ip_sets[0].name if data.ip_sets else "-",
                         result, detail={"removed": removed, "kept": kept, "expired": data.expires_at}, ddb=ddb)
    return {"removed": removed, "kept": kept, "missing_ip_sets": gone}


def run(data: UnblockInput) -> dict[str, Any]:
    return unblock(data)


handler = task_handler(TASK, UnblockInput, run)
