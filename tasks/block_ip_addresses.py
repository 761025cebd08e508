"""block-ip-addresses: after approval, block source addresses on a web ACL for a limited time.

In the member account the addresses go into irflow's WAF IP set for their version
(`irflow-blocked-ipv4` / `-ipv6`, created on first use), which a Block rule of the web ACL
references (added on first use, ahead of the web ACL's own rules). Before changing anything the
task records, once per incident, the IP set's addresses and the web ACL's rules as they were
(the rollback data). Each address is claimed until `now + block_seconds` (`tasks.common.waf`);
an address already in the set because someone else put it there is left alone, and one an
earlier incident blocked gets the later expiry. The playbook waits for the expiry and then runs
unblock-ip-addresses. Running the task twice adds nothing the second time.

Example event:

    {"incident": {"incident_id": "inc-4268e8f0cb1e6e96", "finding_id": "arn:aws:cloudwatch:us-east-1:222222222222:alarm:shop-sqli-blocked#2025-01-01T09:00:00Z",
                  "finding_type": "CloudWatchAlarm:WAF/SQLInjection", "severity": 7.0, "severity_band": "high",
                  "account_id": "222222222222", "region": "us-east-1", "source": "CloudWatch alarm",
                  "resource_type": "waf-web-acl", "resource_id": "shop-acl"},
     "web_acl": {"arn": "arn:aws:wafv2:us-east-1:222222222222:regional/webacl/shop-acl/3f1a2b4c-5d6e-4f70-8192-a3b4c5d6e7f8",
                 "name": "shop-acl", "id": "3f1a2b4c-5d6e-4f70-8192-a3b4c5d6e7f8", "scope": "REGIONAL", "region": "us-east-1"},
     "addresses": ["198.51.100.7", "203.0.113.45"], "block_seconds": 86400,
     "approval": {"approval_id": "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "decision": "approved", "by": "alice@example.com"}}
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Annotated, Any, Literal

from pydantic import Field

from tasks.common import clock, incidents, waf
from tasks.common.aws import client, error_code, member_session, session_client
from tasks.common.handler import task_handler
from tasks.common.models import Decision, Incident, Strict
from tasks.parse_alarm import iso
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="block-ip-addresses",
    member_permissions=("wafv2:GetWebACL", "wafv2:UpdateWebACL", "wafv2:ListIPSets", "wafv2:GetIPSet",
                        "wafv2:CreateIPSet", "wafv2:UpdateIPSet", "wafv2:TagResource"),
    central_permissions=("sts:AssumeRole", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem"),
    destructive=True, model="tasks.block_ip_addresses.BlockInput", timeout_seconds=60)


class WebAcl(Strict):
    arn: str
    name: str
    id: str
    scope: Literal["REGIONAL", "CLOUDFRONT"]
    region: str


class BlockInput(Strict):
    incident: Incident
    web_acl: WebAcl
    addresses: Annotated[list[str], Field(min_length=1, max_length=1000)]
    block_seconds: Annotated[int, Field(ge=300, le=30 * 24 * 3600)] = 86400
    approval: Decision


def _web_acl(waf_client: Any, ref: WebAcl) -> tuple[dict[str, Any], str]:
    try:
        found = waf_client.get_web_acl(Name=ref.name, Scope=ref.scope, Id=ref.id)
    except Exception as error:
        if error_code(error) == "WAFNonexistentItemException":
            raise waf.WebAclNotFound(f"web ACL {ref.name} ({ref.id}) no longer exists: nothing was blocked") from None
        raise
    return found["WebACL"], str(found["LockToken"])


def _ensure_rule(waf_client: Any, ref: WebAcl, ip_set: dict[str, Any], incident_id: str, ddb: Any) -> bool:
    """Add the Block rule for the IP set unless the web ACL has one; True when it was added."""
    acl, token = _web_acl(waf_client, ref)
    if waf.references(acl, ip_set["ARN"]):
        return False
    incidents.save_original_state(incident_id, f"waf-web-acl:{acl['ARN']}",
                                  {"rules": acl.get("Rules") or [], "default_action": acl.get("DefaultAction")},
                                  ddb=ddb)
    waf.add_block_rule(waf_client, ref.scope, acl, token, ip_set)
    return True


def _with(new: list[str], addresses: list[str]) -> list[str]:
    return sorted(set(addresses) | set(new))


def block(data: BlockInput, session: Any = None, ddb: Any = None) -> dict[str, Any]:
    """Block the addresses; returns the expiry, the IP sets with the addresses this incident claimed, and what was skipped."""
    incident, ref = data.incident, data.web_acl
    ddb = ddb or client("dynamodb")
    session = session or member_session(incident.account_id, incident.incident_id, ref.region)
    waf_client = session_client(session, "wafv2", ref.region)
    _web_acl(waf_client, ref)  # gone: fail before creating anything
    expires_at = iso(clock.now() + timedelta(seconds=data.block_seconds))
    by_version: dict[str, list[str]] = {}
    for address in dict.fromkeys(waf.cidr(a) for a in data.addresses):
        by_version.setdefault(waf.version(address), []).append(address)
    sets: list[dict[str, Any]] = []
    left_alone: list[str] = []
    rules_added: list[str] = []
    for address_version, cidrs in sorted(by_version.items()):
        summary, created = waf.ensure_block_set(waf_client, ref.scope, address_version)
        current, _ = waf.get_ip_set(waf_client, ref.scope, summary)
        present = set(current.get("Addresses", []))
        incidents.save_original_state(incident.incident_id, f"waf-ip-set:{summary['ARN']}",
                                      {"addresses": sorted(present), "created_by_irflow": created}, ddb=ddb)
        if waf.with_lock_retry(partial(_ensure_rule, waf_client, ref, summary, incident.incident_id, ddb)):
            rules_added.append(summary["Name"])
        claimed = []
        for address in cidrs:
            if address in present and waf.get_claim(summary["ARN"], address, ddb) is None:
                left_alone.append(address)  # someone else blocked it: not irflow's to expire
                continue
            waf.claim(summary["ARN"], address, incident.incident_id, expires_at, ddb)
            claimed.append(address)
        if claimed:
            waf.change_ip_set(waf_client, ref.scope, summary, partial(_with, claimed))
        sets.append({"arn": summary["ARN"], "name": summary["Name"], "id": summary["Id"], "scope": ref.scope,
                     "region": ref.region, "addresses": claimed})
    blocked = [a for s in sets for a in s["addresses"]]
    incidents.add_action(incident.incident_id, "block-ip-addresses", ref.name,
                         f"{len(blocked)} address(es) blocked until {expires_at}"
                         + (f"; {len(left_alone)} already blocked by someone else" if left_alone else ""),
                         detail={"addresses": blocked, "left_alone": left_alone, "expires_at": expires_at,
                                 "ip_sets": [s["name"] for s in sets], "rules_added": rules_added,
                                 "approved_by": data.approval.by}, ddb=ddb)
    return {"expires_at": expires_at, "blocked": blocked, "left_alone": left_alone, "ip_sets": sets,
            "rules_added": rules_added, "web_acl": ref.model_dump()}


def run(data: BlockInput) -> dict[str, Any]:
    return block(data)


handler = task_handler(TASK, BlockInput, run)
