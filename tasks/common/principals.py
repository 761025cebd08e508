"""IAM principals named by findings: who they are, and the two IAM changes that contain them.

A GuardDuty IAM finding names an access key and its principal (`resource.accessKeyDetails`):
an IAM user, a role session (`AssumedRole`, e.g. an instance role whose credentials left the
instance), the account's root user, or a federated or service principal. `Principal` carries
that through the playbook. Containment uses IAM only (no service-specific changes): sessions
issued before now are denied with an inline policy conditioned on `aws:TokenIssueTime` (what
the IAM console's "Revoke active sessions" writes), and a user also gets the AWS-managed
`AWSDenyAll` attached and its access keys deactivated.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import Field

from . import clock
from .aws import error_code
from .errors import IrflowError
from .models import Decision, Incident, Severity, Strict

PrincipalKind = Literal["iam-user", "iam-role", "root", "other"]
EXEMPT_TAG = "irflow:exempt"
INCIDENT_TAG, STATUS_TAG = "irflow:incident", "irflow:status"
DENY_ALL_POLICY = "AWSDenyAll"


class PrincipalNotFound(IrflowError):
    """The user or role a finding names no longer exists in the member account."""


class Principal(Strict):
    """The principal a finding names, as GuardDuty reported it."""

    kind: PrincipalKind
    name: str  # the user or role name; "root" for the root user
    user_type: str  # GuardDuty's userType: IAMUser, AssumedRole, Root, Federated, ...
    access_key_id: str | None = None
    principal_id: str | None = None
    session_name: str | None = None  # for a role session: who or what held it (an instance id for an instance role)


class IamPolicy(Strict):
    """iam-credential-compromise's policy (playbook.yaml, through the definition's placeholders)."""

    approval_severity: Severity = 4.0
    approval_timeout_seconds: Annotated[int, Field(ge=60, le=7 * 24 * 3600)] = 3600
    on_approval_timeout: Literal["escalate"] = "escalate"
    activity_hours: Annotated[int, Field(ge=1, le=90 * 24)] = 24  # CloudTrail keeps 90 days of history
    activity_max_events: Annotated[int, Field(ge=1, le=1000)] = 200


class PrincipalInput(Strict):
    """Input of enrich-principal."""

    incident: Incident
    principal: Principal
    policy: IamPolicy = IamPolicy()


class ContainPrincipalInput(Strict):
    """Input of contain-principal: what was approved, and who approved it."""

    incident: Incident
    principal: Principal
    approval: Decision


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def deny_all_arn(region: str) -> str:
    return f"arn:{partition(region)}:iam::aws:policy/{DENY_ALL_POLICY}"


def revoke_policy_name(incident_id: str) -> str:
    """The inline policy that revokes sessions (the same name isolate-instance gives an instance role's)."""
    return f"irflow-revoke-sessions-{incident_id}"


def revoke_document(cutoff: str) -> str:
    """Deny everything to sessions issued before `cutoff` (ISO 8601, seconds, Z)."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "IrflowRevokeOlderSessions", "Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": cutoff}}}]})


def cutoff_now() -> str:
    return clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")


def missing(error: BaseException) -> bool:
    return error_code(error) == "NoSuchEntity"


def tags_of(iam: Any, principal: Principal) -> dict[str, str]:
    """The user's or role's tags."""
    if principal.kind == "iam-user":
        tags = iam.list_user_tags(UserName=principal.name)["Tags"]
    else:
        tags = iam.list_role_tags(RoleName=principal.name)["Tags"]
    return {t["Key"]: t["Value"] for t in tags}


def exists_or_raise(iam: Any, principal: Principal) -> dict[str, Any]:
    """GetUser/GetRole, or `irflow.PrincipalNotFound` when it is gone."""
    try:
        if principal.kind == "iam-user":
            found: dict[str, Any] = iam.get_user(UserName=principal.name)["User"]
        else:
            found = iam.get_role(RoleName=principal.name)["Role"]
    except Exception as error:
        if missing(error):
            raise PrincipalNotFound(f"{principal.kind} {principal.name} no longer exists") from None
        raise
    return found
