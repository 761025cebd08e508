"""revoke-ingress-rules: after approval, revoke the world-wide sources of the rules a person approved (destructive).

Exactly what was approved is revoked: each rule's `0.0.0.0/0` and `::/0` sources, one rule at a
time; other sources in the same rule stay. The group's rules are recorded first (in the
incidents table, once: a rerun never overwrites them), so a person can put any of them back
from the record. A rule that is already gone (someone fixed it meanwhile) is recorded as
unchanged; a rerun changes nothing. The group is tagged `irflow:incident` and
`irflow:status=remediated`, and read back: a world-open rule the approval did not cover is
reported, not revoked.

Example event:

    {"incident": {"incident_id": "inc-7c2e9a4b1d0f3e58", "finding_id": "restricted-ssh/sg-0a1b2c3d4e5f60718/2025-05-20T08:13:51.962Z",
                  "finding_type": "Config:restricted-ssh/NON_COMPLIANT", "severity": 7.0, "severity_band": "high",
                  "account_id": "222222222222", "region": "us-east-1", "source": "Config",
                  "resource_type": "security-group", "resource_id": "sg-0a1b2c3d4e5f60718"},
     "group_id": "sg-0a1b2c3d4e5f60718",
     "rules": [{"protocol": "tcp", "from_port": 22, "to_port": 22, "cidrs": ["0.0.0.0/0", "::/0"]}],
     "approval": {"approval_id": "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "decision": "approved",
                  "by": "alice@example.com", "at": "2025-05-20T08:31:02.000Z"}}
"""

from __future__ import annotations

from typing import Any

from tasks.common import clock, incidents
from tasks.common.aws import error_code, member_session, session_client
from tasks.common.handler import task_handler
from tasks.common.models import REMEDIATED
from tasks.common.security_groups import WORLD, OpenRule, RevokeInput, permission_of, rule_text
from tasks.enrich_security_group import describe_group
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="revoke-ingress-rules",
    member_permissions=("ec2:DescribeSecurityGroups", "ec2:RevokeSecurityGroupIngress", "ec2:CreateTags"),
    central_permissions=("sts:AssumeRole", "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"),
    destructive=True, model="tasks.common.security_groups.RevokeInput", timeout_seconds=30)

DONE, UNCHANGED = "done", "unchanged"


def _still_open(group: dict[str, Any]) -> list[str]:
    """Every rule that still admits the world, as text."""
    found = []
    for permission in group.get("IpPermissions", []):
        cidrs = [r["CidrIp"] for r in permission.get("IpRanges", []) if r.get("CidrIp") in WORLD] + [
            r["CidrIpv6"] for r in permission.get("Ipv6Ranges", []) if r.get("CidrIpv6") in WORLD]
        if cidrs:
            found.append(rule_text(OpenRule(protocol=str(permission["IpProtocol"]), from_port=permission.get("FromPort"),
                                            to_port=permission.get("ToPort"), cidrs=cidrs)))
    return found


def _present(group: dict[str, Any], permission: dict[str, Any]) -> bool:
    """Whether every source in `permission` is still in one of the group's rules."""
    for existing in group.get("IpPermissions", []):
        if (existing.get("IpProtocol"), existing.get("FromPort"), existing.get("ToPort")) != (
                permission["IpProtocol"], permission.get("FromPort"), permission.get("ToPort")):
            continue
        have = {r["CidrIp"] for r in existing.get("IpRanges", [])} | {r["CidrIpv6"] for r in existing.get("Ipv6Ranges", [])}
        wanted = {r["CidrIp"] for r in permission.get("IpRanges", [])} | {
            r["CidrIpv6"] for r in permission.get("Ipv6Ranges", [])}
        return wanted <= have
    return False


def revoke(data: RevokeInput, session: Any = None) -> dict[str, Any]:
    """Revoke the approved rules (idempotently); returns what was done and what is still open."""
    incident, approval, group_id = data.incident, data.approval, data.group_id
    session = session or member_session(incident.account_id, incident.incident_id, incident.region)
    ec2 = session_client(session, "ec2")
    group = describe_group(ec2, group_id)
    incidents.save_original_state(incident.incident_id, f"security-group/{group_id}", {
        "group_id": group_id, "captured_at": clock.iso(), "ingress": group.get("IpPermissions", []),
        "tags": {t["Key"]: t["Value"] for t in group.get("Tags", [])}})
    approved = {"approval_id": approval.approval_id, "by": approval.by}
    steps = []
    for rule in data.rules:
        permission = permission_of(rule)
        if not _present(group, permission):
            steps.append(incidents.add_action(incident.incident_id, "revoke-ingress-rule", f"{group_id} {rule_text(rule)}",
                                              f"{UNCHANGED}: no longer in the group", approved, keep_existing=True))
            continue
        try:
            ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[permission])
            result = f"{DONE}: approved by {approval.by}"
        except Exception as error:
            if error_code(error) != "InvalidPermission.NotFound":
                raise
            result = f"{UNCHANGED}: no longer in the group"
        steps.append(incidents.add_action(incident.incident_id, "revoke-ingress-rule", f"{group_id} {rule_text(rule)}",
                                          result, approved, keep_existing=result.startswith(UNCHANGED)))
    ec2.create_tags(Resources=[group_id], Tags=[{"Key": "irflow:incident", "Value": incident.incident_id},
                                                {"Key": "irflow:status", "Value": "remediated"}])
    still_open = _still_open(describe_group(ec2, group_id))
    incidents.set_status(incident.incident_id, REMEDIATED)
    changed = [s for s in steps if s["result"].startswith(DONE)]
    incidents.add_timeline(incident.incident_id, "revoke-ingress-rules",
                           f"{group_id}: {len(changed)} rule(s) revoked, approved by {approval.by} "
                           f"({approval.approval_id})" + (f"; still open to the world, not approved: "
                                                          f"{'; '.join(still_open)}" if still_open else ""))
    return {"revoked": len(changed), "changed": bool(changed), "still_open": still_open, "actions": steps}


def run(data: RevokeInput) -> dict[str, Any]:
    return revoke(data)


handler = task_handler(TASK, RevokeInput, run)
