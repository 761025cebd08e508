"""contain-principal: after approval, cut off a compromised IAM user or role (destructive).

The principal's state is recorded first (in the incidents table, once: a rerun never overwrites
it), so a person can undo everything from the record. Then, each step skipped when already done
so that a second run changes nothing:
- an IAM user: every active access key deactivated (not deleted: the key id stays in the record
  and in CloudTrail); the AWS-managed `AWSDenyAll` attached; its sessions issued before now
  denied (an inline deny on `aws:TokenIssueTime`: temporary credentials it obtained with
  GetSessionToken or GetFederationToken stop working);
- an IAM role: its sessions issued before now denied, which cuts off every holder of its older
  credentials (stolen instance credentials included), while the workload that uses the role
  gets fresh credentials and carries on; nothing else changes on a role;
- tags `irflow:incident` and `irflow:status=contained` on the principal.
The approval (id and who) is recorded with each action.

Example event:

    {"incident": {"incident_id": "inc-5b0c3f0e2d1a9c87", "finding_id": "4ac6d2a1b9e34c7f8a0b1c2d3e4f5a6b",
                  "finding_type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller", "severity": 5.0,
                  "severity_band": "medium", "account_id": "222222222222", "region": "us-east-1",
                  "source": "GuardDuty", "resource_type": "iam-user", "resource_id": "deploy-bot"},
     "principal": {"kind": "iam-user", "name": "deploy-bot", "user_type": "IAMUser",
                   "access_key_id": "AKIA2EXAMPLE4DEPLOY1", "principal_id": "AIDA2EXAMPLE5DEPLOY1"},
     "approval": {"approval_id": "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "decision": "approved",
                  "by": "alice@example.com", "at": "2025-02-03T14:31:02.000Z"}}
"""

from __future__ import annotations

from typing import Any

from tasks.common import clock, incidents
from tasks.common.aws import member_session, session_client
from tasks.common.errors import InvalidInput
from tasks.common.handler import task_handler
from tasks.common.models import CONTAINED
from tasks.common.principals import (
    INCIDENT_TAG,
    STATUS_TAG,
    ContainPrincipalInput,
    Principal,
    cutoff_now,
    deny_all_arn,
    exists_or_raise,
    missing,
    revoke_document,
    revoke_policy_name,
    tags_of,
)
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="contain-principal",
    member_permissions=(
        "iam:GetUser", "iam:ListUserTags", "iam:ListAccessKeys", "iam:UpdateAccessKey", "iam:ListAttachedUserPolicies",
        "iam:AttachUserPolicy", "iam:ListUserPolicies", "iam:GetUserPolicy", "iam:PutUserPolicy", "iam:TagUser",
        "iam:GetRole", "iam:ListRoleTags", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies",
        "iam:GetRolePolicy", "iam:PutRolePolicy", "iam:TagRole"),
    central_permissions=("sts:AssumeRole", "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"),
    destructive=True, model="tasks.common.principals.ContainPrincipalInput", timeout_seconds=60)

DONE, UNCHANGED = "done", "unchanged"


def original_key(principal: Principal) -> str:
    """Where the principal's pre-containment state is kept in the incident (`ORIGINAL#<key>`)."""
    return f"{principal.kind}/{principal.name}"


def capture(iam: Any, principal: Principal) -> dict[str, Any]:
    """Everything containment changes, as it is now."""
    name = principal.name
    if principal.kind == "iam-user":
        keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
        attached = iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
        inline = iam.list_user_policies(UserName=name)["PolicyNames"]
    else:
        keys = []
        attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        inline = iam.list_role_policies(RoleName=name)["PolicyNames"]
    tags = tags_of(iam, principal)
    return {"kind": principal.kind, "name": name, "captured_at": clock.iso(),
            "access_keys": [{"id": k["AccessKeyId"], "status": k["Status"]} for k in keys],
            "attached_policies": [p["PolicyArn"] for p in attached], "inline_policies": sorted(inline),
            "tags": {k: tags.get(k) for k in (INCIDENT_TAG, STATUS_TAG)}}


def _revoke(iam: Any, principal: Principal, incident_id: str) -> str:
    """Deny the principal's sessions issued before now (once per incident)."""
    name = revoke_policy_name(incident_id)
    try:
        if principal.kind == "iam-user":
            iam.get_user_policy(UserName=principal.name, PolicyName=name)
        else:
            iam.get_role_policy(RoleName=principal.name, PolicyName=name)
        return UNCHANGED
    except Exception as error:
        if not missing(error):
            raise
    cutoff = cutoff_now()
    if principal.kind == "iam-user":
        iam.put_user_policy(UserName=principal.name, PolicyName=name, PolicyDocument=revoke_document(cutoff))
    else:
        iam.put_role_policy(RoleName=principal.name, PolicyName=name, PolicyDocument=revoke_document(cutoff))
    return f"{DONE}: sessions issued before {cutoff} denied"


def contain(data: ContainPrincipalInput, session: Any = None) -> dict[str, Any]:
    """Contain the principal (idempotently); returns what was done, step by step."""
    incident, principal, approval = data.incident, data.principal, data.approval
    if principal.kind not in ("iam-user", "iam-role"):
        raise InvalidInput(f"contain-principal acts on IAM users and roles, not {principal.kind} {principal.name}")
    session = session or member_session(incident.account_id, incident.incident_id, incident.region)
    iam = session_client(session, "iam")
    exists_or_raise(iam, principal)
    incidents.save_original_state(incident.incident_id, original_key(principal), capture(iam, principal))
    approved = {"approval_id": approval.approval_id, "by": approval.by}
    steps: list[dict[str, str]] = []

    def step(name: str, target: str, result: str) -> None:
        steps.append(incidents.add_action(incident.incident_id, name, target, result, approved,
                                          keep_existing=result.startswith(UNCHANGED)))

    if principal.kind == "iam-user":
        for key in iam.list_access_keys(UserName=principal.name)["AccessKeyMetadata"]:
            if key["Status"] == "Active":
                iam.update_access_key(UserName=principal.name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
                step("deactivate-access-key", key["AccessKeyId"], f"{DONE}: approved by {approval.by}")
            else:
                step("deactivate-access-key", key["AccessKeyId"], f"{UNCHANGED}: already {key['Status']}")
        deny_all = deny_all_arn(incident.region)
        attached = {p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=principal.name)["AttachedPolicies"]}
        if deny_all in attached:
            step("attach-deny-all-policy", principal.name, f"{UNCHANGED}: AWSDenyAll already attached")
        else:
            iam.attach_user_policy(UserName=principal.name, PolicyArn=deny_all)
            step("attach-deny-all-policy", principal.name, f"{DONE}: AWSDenyAll attached")
    step("revoke-sessions", principal.name, _revoke(iam, principal, incident.incident_id))

    wanted = {INCIDENT_TAG: incident.incident_id, STATUS_TAG: "contained"}
    if any(tags_of(iam, principal).get(k) != v for k, v in wanted.items()):
        tags = [{"Key": k, "Value": v} for k, v in wanted.items()]
        if principal.kind == "iam-user":
            iam.tag_user(UserName=principal.name, Tags=tags)
        else:
            iam.tag_role(RoleName=principal.name, Tags=tags)
        step("tag-principal", principal.name, DONE)
    else:
        step("tag-principal", principal.name, UNCHANGED)

    incidents.set_status(incident.incident_id, CONTAINED)
    changed = [s for s in steps if not s["result"].startswith(UNCHANGED)]
    incidents.add_timeline(incident.incident_id, "contain-principal",
                           f"{principal.kind} {principal.name} contained ({len(changed)} change(s)), approved by "
                           f"{approval.by} ({approval.approval_id})" if changed
                           else f"{principal.kind} {principal.name} was already contained: nothing changed")
    return {"contained": True, "changed": bool(changed), "actions": steps}


def run(data: ContainPrincipalInput) -> dict[str, Any]:
    return contain(data)


handler = task_handler(TASK, ContainPrincipalInput, run)
