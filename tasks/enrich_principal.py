"""enrich-principal: learn who the finding's principal is and what it did, and keep it as evidence.

For an IAM user: its tags (the `irflow:exempt=true` exemption), access keys with their status and
when and where each was last used, attached and inline policies (with their documents), groups,
console access and MFA devices. For a role: its tags, trust policy, attached and inline policies
and instance profiles. Then its recent API activity from CloudTrail's event history
(`LookupEvents`, newest first, within the policy's window): by the finding's access key when it
names one (the stolen credential's own trail), else by user name. Everything is written to the
evidence bucket (`principal.json`, `cloudtrail-activity.json`, each with its SHA-256) before
any change is proposed; the task returns a summary for the approval and the Choice states. Read
in the member account through IrflowMemberRole; a lookup AWS refuses is noted, not fatal; a
principal that no longer exists fails with `irflow.PrincipalNotFound`.

Example event:

    {"incident": {"incident_id": "inc-5b0c3f0e2d1a9c87", "finding_id": "4ac6d2a1b9e34c7f8a0b1c2d3e4f5a6b",
                  "finding_type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller", "severity": 5.0,
                  "severity_band": "medium", "account_id": "222222222222", "region": "us-east-1",
                  "source": "GuardDuty", "resource_type": "iam-user", "resource_id": "deploy-bot"},
     "principal": {"kind": "iam-user", "name": "deploy-bot", "user_type": "IAMUser",
                   "access_key_id": "AKIA2EXAMPLE4DEPLOY1", "principal_id": "AIDA2EXAMPLE5DEPLOY1"},
     "policy": {"approval_severity": 4.0, "approval_timeout_seconds": 3600, "on_approval_timeout": "escalate",
                "activity_hours": 24, "activity_max_events": 200}}
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from functools import partial
from typing import Any

from tasks.common import clock, evidence, incidents
from tasks.common.aws import member_session, session_client
from tasks.common.errors import InvalidInput
from tasks.common.handler import task_handler
from tasks.common.lookups import noted
from tasks.common.principals import EXEMPT_TAG, Principal, PrincipalInput, exists_or_raise, missing, tags_of
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="enrich-principal",
    member_permissions=(
        "iam:GetUser", "iam:ListUserTags", "iam:ListAccessKeys", "iam:GetAccessKeyLastUsed",
        "iam:ListAttachedUserPolicies", "iam:ListUserPolicies", "iam:GetUserPolicy", "iam:ListGroupsForUser",
        "iam:GetLoginProfile", "iam:ListMFADevices", "iam:GetRole", "iam:ListRoleTags",
        "iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:GetRolePolicy",
        "iam:ListInstanceProfilesForRole", "cloudtrail:LookupEvents"),
    central_permissions=("sts:AssumeRole", "s3:PutObject", "dynamodb:PutItem"),
    destructive=False, model="tasks.common.principals.PrincipalInput", evidence=True, timeout_seconds=120)

TOP = 10  # event names and addresses shown in the summary


def _iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else (str(value) if value else None)


def _inline(iam: Any, principal: Principal, names: list[str]) -> dict[str, Any]:
    """Inline policy documents by name."""
    documents = {}
    for name in names:
        if principal.kind == "iam-user":
            document = iam.get_user_policy(UserName=principal.name, PolicyName=name)["PolicyDocument"]
        else:
            document = iam.get_role_policy(RoleName=principal.name, PolicyName=name)["PolicyDocument"]
        documents[name] = document if isinstance(document, dict) else json.loads(document)
    return documents


def _keys(iam: Any, user: str, notes: list[str]) -> list[dict[str, Any]]:
    def last_used(key_id: str) -> dict[str, Any]:
        used: dict[str, Any] = iam.get_access_key_last_used(AccessKeyId=key_id)["AccessKeyLastUsed"]
        return used

    keys = []
    for key in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
        key_id = key["AccessKeyId"]
        used = noted(notes, f"last use of {key_id}", partial(last_used, key_id), {})
        keys.append({"id": key["AccessKeyId"], "status": key["Status"], "created": _iso(key.get("CreateDate")),
                     "last_used": _iso(used.get("LastUsedDate")),
                     "last_used_service": None if used.get("ServiceName") in (None, "N/A") else used["ServiceName"],
                     "last_used_region": None if used.get("Region") in (None, "N/A") else used["Region"]})
    return keys


def _user_facts(iam: Any, principal: Principal, found: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    name = principal.name
    inline = noted(notes, "inline policies", lambda: iam.list_user_policies(UserName=name)["PolicyNames"], [])

    def console() -> bool:
        try:
            iam.get_login_profile(UserName=name)
        except Exception as error:
            if missing(error):
                return False
            raise
        return True

    keys = noted(notes, "access keys", lambda: _keys(iam, name, notes), [])
    if principal.access_key_id and keys and principal.access_key_id not in {k["id"] for k in keys}:
        notes.append(f"the finding's key {principal.access_key_id} is not one of {name}'s keys (deleted since?)")
    return {
        "arn": found.get("Arn"), "created": _iso(found.get("CreateDate")),
        "password_last_used": _iso(found.get("PasswordLastUsed")),
        "access_keys": keys,
        "attached_policies": [p["PolicyArn"] for p in noted(
            notes, "attached policies", lambda: iam.list_attached_user_policies(UserName=name)["AttachedPolicies"], [])],
        "inline_policies": noted(notes, "inline policy documents", lambda: _inline(iam, principal, inline), {}),
        "groups": [g["GroupName"] for g in noted(notes, "groups",
                                                  lambda: iam.list_groups_for_user(UserName=name)["Groups"], [])],
        "console_access": noted(notes, "console access", console, None),
        "mfa_devices": len(noted(notes, "MFA devices", lambda: iam.list_mfa_devices(UserName=name)["MFADevices"], [])),
    }


def _role_facts(iam: Any, principal: Principal, found: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    name = principal.name
    inline = noted(notes, "inline policies", lambda: iam.list_role_policies(RoleName=name)["PolicyNames"], [])
    trust = found.get("AssumeRolePolicyDocument")
    return {
        "arn": found.get("Arn"), "created": _iso(found.get("CreateDate")),
        "trust_policy": json.loads(trust) if isinstance(trust, str) else trust,
        "last_used": _iso((found.get("RoleLastUsed") or {}).get("LastUsedDate")),
        "session": principal.session_name,
        "attached_policies": [p["PolicyArn"] for p in noted(
            notes, "attached policies", lambda: iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"], [])],
        "inline_policies": noted(notes, "inline policy documents", lambda: _inline(iam, principal, inline), {}),
        "instance_profiles": [p["InstanceProfileName"] for p in noted(
            notes, "instance profiles",
            lambda: iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"], [])],
    }


def activity(cloudtrail: Any, principal: Principal, hours: int, limit: int) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """(the lookup made, CloudTrail records newest first) for the finding's key, else the principal's name."""
    if principal.access_key_id:
        lookup = {"AttributeKey": "AccessKeyId", "AttributeValue": principal.access_key_id}
    else:
        lookup = {"AttributeKey": "Username", "AttributeValue": principal.session_name or principal.name}
    end = clock.now()
    records: list[dict[str, Any]] = []
    pages = cloudtrail.get_paginator("lookup_events").paginate(
        LookupAttributes=[lookup], StartTime=end - timedelta(hours=hours), EndTime=end,
        PaginationConfig={"MaxItems": limit, "PageSize": min(limit, 50)})
    for page in pages:
        for event in page.get("Events", []):
            records.append(json.loads(event["CloudTrailEvent"]) if event.get("CloudTrailEvent") else {
                "eventName": event.get("EventName"), "eventSource": event.get("EventSource"),
                "eventTime": _iso(event.get("EventTime"))})
    return lookup, records[:limit]


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """What a person reads before approving: how much, what, from where, what failed, what changed things."""
    names = Counter(str(r.get("eventName")) for r in records)
    addresses = Counter(str(r.get("sourceIPAddress")) for r in records if r.get("sourceIPAddress"))
    writes = sorted({str(r.get("eventName")) for r in records if r.get("readOnly") is False})
    times = sorted(str(r.get("eventTime")) for r in records if r.get("eventTime"))
    return {"events": len(records), "first": times[0] if times else None, "last": times[-1] if times else None,
            "errors": sum(1 for r in records if r.get("errorCode")), "write_events": writes,
            "event_names": dict(names.most_common(TOP)), "source_ips": dict(addresses.most_common(TOP))}


def enrich(data: PrincipalInput, session: Any = None, s3: Any = None) -> dict[str, Any]:
    """The principal's facts and activity, stored as evidence; returns the summary the playbook routes on."""
    incident, principal, policy = data.incident, data.principal, data.policy
    if principal.kind not in ("iam-user", "iam-role"):
        raise InvalidInput(f"enrich-principal reads IAM users and roles, not {principal.kind} {principal.name}")
    session = session or member_session(incident.account_id, incident.incident_id, incident.region)
    iam = session_client(session, "iam")
    found = exists_or_raise(iam, principal)
    notes: list[str] = []
    tags = noted(notes, "tags", lambda: tags_of(iam, principal), {})
    facts = (_user_facts if principal.kind == "iam-user" else _role_facts)(iam, principal, found, notes)
    lookup, records = noted(notes, "CloudTrail event history", lambda: activity(
        session_client(session, "cloudtrail"), principal, policy.activity_hours, policy.activity_max_events),
        ({}, []))
    summary = summarise(records)
    described = {"kind": principal.kind, "name": principal.name, "account_id": incident.account_id, "tags": tags,
                 **facts, "finding_access_key": principal.access_key_id, "notes": notes}
    stored = [evidence.store(incident.incident_id, ("principal.json",), json.dumps(described, indent=2, default=str)
                             .encode(), "principal-description", content_type="application/json", s3=s3)]
    if lookup:
        trail = {"account_id": incident.account_id, "region": incident.region, "lookup": lookup,
                 "window_hours": policy.activity_hours, "summary": summary, "events": records}
        stored.append(evidence.store(incident.incident_id, ("cloudtrail-activity.json",),
                                     json.dumps(trail, indent=2, default=str).encode(), "cloudtrail-activity",
                                     content_type="application/json", s3=s3))
    result = {
        "kind": principal.kind, "name": principal.name, "arn": facts.get("arn"), "tags": tags,
        "exempt": tags.get(EXEMPT_TAG, "").strip().lower() == "true",
        "access_keys": [{"id": k["id"], "status": k["status"], "last_used": k["last_used"]}
                        for k in facts.get("access_keys", [])],
        "active_keys": sum(1 for k in facts.get("access_keys", []) if k["status"] == "Active"),
        "attached_policies": facts["attached_policies"], "inline_policies": sorted(facts["inline_policies"]),
        "activity": summary, "evidence": [{"uri": e["uri"], "sha256": e["sha256"]} for e in stored], "notes": notes,
    }
    result["summary"] = describe(result)
    result["proposal"] = propose(result, principal.session_name)
    incidents.add_timeline(incident.incident_id, "enrich-principal", result["summary"],
                           detail={"notes": notes} if notes else None)
    return result


def describe(facts: dict[str, Any]) -> str:
    """One line for the timeline and the approval request."""
    parts = [f"{facts['kind']} {facts['name']}"]
    if facts["kind"] == "iam-user":
        parts.append(f"{facts['active_keys']} active access key(s) of {len(facts['access_keys'])}")
    parts.append(f"{len(facts['attached_policies'])} attached and {len(facts['inline_policies'])} inline policies")
    seen = facts["activity"]
    line = f"{seen['events']} API call(s) in the window"
    if seen["events"]:
        line += f" from {', '.join(seen['source_ips']) or 'unknown addresses'}"
        if seen["write_events"]:
            line += f", changes: {', '.join(seen['write_events'][:TOP])}"
    parts.append(line)
    if facts["exempt"]:
        parts.append(f"EXEMPT ({EXEMPT_TAG}=true)")
    return "; ".join(parts)


def propose(facts: dict[str, Any], session: str | None) -> str:
    """What contain-principal will do, in the words of the approval request."""
    if facts["kind"] == "iam-user":
        active = [k["id"] for k in facts["access_keys"] if k["status"] == "Active"]
        keys = f"deactivate its {len(active)} active access key(s) ({', '.join(active)})" if active else (
            "keep its access keys inactive")
        return (f"contain IAM user {facts['name']}: {keys}, attach AWSDenyAll, and revoke its sessions issued before "
                "the change (aws:TokenIssueTime); its original state is recorded first")
    held = f", the session {session} included" if session else ""
    return (f"revoke the sessions of IAM role {facts['name']} issued before the change (an inline deny on "
            f"aws:TokenIssueTime): every holder of its older credentials is cut off{held}, while the workload that "
            "uses the role gets fresh credentials")


def run(data: PrincipalInput) -> dict[str, Any]:
    return enrich(data)


handler = task_handler(TASK, PrincipalInput, run)
