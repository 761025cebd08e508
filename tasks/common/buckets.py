"""S3 buckets in findings: reading a bucket's access configuration, what makes it public, the shared models.

"Public" follows S3's own definition (the one `GetBucketPolicyStatus` and Block Public Access
use): a bucket policy statement is public when it allows a wildcard principal (`"*"` or
`{"AWS": "*"}`) without a condition that pins the caller to fixed values (a source address
range narrower than the internet, a VPC or VPC endpoint, an account, an organisation, a
principal ARN, a source ARN); an ACL grant is public when it names the AllUsers or
AuthenticatedUsers group (any AWS account's user is "authenticated"). `configuration` reads what
enrich-bucket keeps as evidence and remediate-bucket-exposure records before changing anything;
`exposure` says who can read the bucket now.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import Field

from .aws import error_code, session_client
from .errors import AccessDenied, IrflowError
from .lookups import noted
from .models import Decision, Incident, Severity, Strict

EVERYONE_GROUPS = {
    "http://acs.amazonaws.com/groups/global/AllUsers": "AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers": "AuthenticatedUsers",
}
# Condition keys that, with fixed values, confine a wildcard principal to known callers.
CONFINING_KEYS = {
    "aws:sourceip", "aws:sourcevpc", "aws:sourcevpce", "aws:sourceaccount", "aws:sourceowner", "aws:sourcearn",
    "aws:principalorgid", "aws:principalaccount", "aws:principalarn", "aws:userid", "aws:principalorgpaths",
    "s3:dataaccesspointaccount", "s3:dataaccesspointarn",
}
OPEN_NETWORKS = {"0.0.0.0/0", "::/0"}
BLOCK_ALL = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
             "RestrictPublicBuckets": True}
EXEMPT_TAG = "irflow:exempt"
RESTRICT_SID_PREFIX = "IrflowRestrict"


class BucketNotFound(IrflowError):
    """The bucket a finding names no longer exists."""


class BucketRef(Strict):
    """The bucket and (for a sensitive-data finding) the object a finding names."""

    name: Annotated[str, Field(min_length=3, max_length=63)]
    key: str | None = None
    sensitive_data: list[str] = []  # Macie's categories and types, e.g. "PERSONAL_INFORMATION: USA_SOCIAL_SECURITY_NUMBER"


class S3Policy(Strict):
    """s3-data-exposure's policy (playbook.yaml, through the definition's placeholders)."""

    approval_severity: Severity = 4.0
    approval_timeout_seconds: Annotated[int, Field(ge=60, le=7 * 24 * 3600)] = 3600
    on_approval_timeout: Literal["escalate"] = "escalate"
    restrict_object: bool = True  # also deny reads of the named object to everyone but the responders


class BucketInput(Strict):
    """Input of enrich-bucket."""

    incident: Incident
    bucket: BucketRef
    policy: S3Policy = S3Policy()


class RemediateBucketInput(Strict):
    """Input of remediate-bucket-exposure: what was approved, and who approved it."""

    incident: Incident
    bucket: BucketRef
    policy: S3Policy = S3Policy()
    approval: Decision


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _wildcard_principal(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return "*" in [str(p) for p in _as_list(principal.get("AWS"))]
    return False


def _confining(condition: Any) -> bool:
    """Whether a statement's condition pins the caller to fixed values (so the statement is not public)."""
    if not isinstance(condition, dict):
        return False
    for operator, tests in condition.items():
        if not isinstance(tests, dict) or "Not" in str(operator):  # a negated test admits everyone else
            continue
        for key, values in tests.items():
            fixed = [str(v) for v in _as_list(values)]
            if str(key).lower() not in CONFINING_KEYS or not fixed or any("*" in v or "?" in v for v in fixed):
                continue
            if str(key).lower() == "aws:sourceip" and any(v in OPEN_NETWORKS for v in fixed):
                continue
            return True
    return False


def public_statement(statement: dict[str, Any]) -> bool:
    """An Allow to everyone that no condition confines."""
    return (statement.get("Effect") == "Allow" and _wildcard_principal(statement.get("Principal"))
            and not _confining(statement.get("Condition")))


def public_grants(grants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ACL grants to everyone (AllUsers) or to every AWS user (AuthenticatedUsers)."""
    return [g for g in grants if (g.get("Grantee") or {}).get("URI") in EVERYONE_GROUPS]


def grant_names(grants: list[dict[str, Any]]) -> list[str]:
    """`AllUsers:READ` for each public grant."""
    return sorted(f"{EVERYONE_GROUPS[g['Grantee']['URI']]}:{g['Permission']}" for g in public_grants(grants))


def statement_name(statement: dict[str, Any], index: int) -> str:
    return str(statement.get("Sid") or f"statement {index + 1}")


def restrict_sid(key: str) -> str:
    """The Sid of the statement that restricts one object (stable per key, within Sid's character set)."""
    return RESTRICT_SID_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:16]


def object_arn(bucket: str, key: str, partition: str = "aws") -> str:
    return f"arn:{partition}:s3:::{bucket}/{key}"


# --- reading a bucket's access configuration ------------------------------------------------------

ABSENT = {"NoSuchBucketPolicy", "NoSuchPublicAccessBlockConfiguration", "ServerSideEncryptionConfigurationNotFoundError",
          "OwnershipControlsNotFoundError", "NoSuchTagSet", "NoSuchTagSetError"}


def _optional(read: Any) -> Any:
    """A configuration S3 reports as absent (no policy, no tags...) is None, not an error."""
    try:
        return read()
    except Exception as error:
        if error_code(error) in ABSENT:
            return None
        raise


def exists_or_raise(s3: Any, bucket: str) -> None:
    """HeadBucket; `irflow.BucketNotFound` when it is gone, `irflow.AccessDenied` when it is not ours to read."""
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception as error:
        code = error_code(error)
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise BucketNotFound(f"bucket {bucket} no longer exists") from None
        if code in ("403", "AccessDenied"):
            raise AccessDenied(f"HeadBucket on {bucket} was refused: it is not in this account or not readable by "
                               "IrflowMemberRole") from None
        raise


def _object(s3: Any, bucket: str, key: str, notes: list[str]) -> dict[str, Any]:
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except Exception as error:
        if error_code(error) in ("404", "NoSuchKey", "NotFound"):
            notes.append(f"object {key} no longer exists")
            return {"key": key, "exists": False}
        raise
    acl = noted(notes, f"ACL of {key}", lambda: s3.get_object_acl(Bucket=bucket, Key=key), {})
    tags = noted(notes, f"tags of {key}", lambda: s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"], [])
    return {"key": key, "exists": True, "size": head.get("ContentLength"), "etag": head.get("ETag"),
            "version_id": head.get("VersionId"), "encryption": head.get("ServerSideEncryption"),
            "last_modified": str(head.get("LastModified", "")), "acl": {"owner": acl.get("Owner"),
                                                                        "grants": acl.get("Grants", [])},
            "tags": {t["Key"]: t["Value"] for t in tags}}


def configuration(session: Any, account_id: str, bucket: str, key: str | None, notes: list[str]) -> dict[str, Any]:
    """The bucket's access configuration as S3 reports it (absent settings as None)."""
    s3 = session_client(session, "s3")
    policy_text = noted(notes, "bucket policy", lambda: _optional(lambda: s3.get_bucket_policy(Bucket=bucket)["Policy"]),
                        None)
    status = noted(notes, "policy status", lambda: _optional(
        lambda: s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]), None)
    acl = noted(notes, "bucket ACL", lambda: s3.get_bucket_acl(Bucket=bucket), {})
    block = noted(notes, "public access block", lambda: _optional(
        lambda: s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]), None)
    account_block = noted(notes, "account public access block", lambda: _optional(
        lambda: session_client(session, "s3control").get_public_access_block(AccountId=account_id)[
            "PublicAccessBlockConfiguration"]), None)
    encryption = noted(notes, "default encryption", lambda: _optional(
        lambda: s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]), None)
    ownership = noted(notes, "object ownership", lambda: _optional(
        lambda: s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]), None)
    versioning = noted(notes, "versioning", lambda: s3.get_bucket_versioning(Bucket=bucket).get("Status"), None)
    tags = noted(notes, "tags", lambda: _optional(lambda: s3.get_bucket_tagging(Bucket=bucket)["TagSet"]), None)
    return {
        "bucket": bucket, "account_id": account_id,
        "policy": json.loads(policy_text) if policy_text else None,
        "policy_is_public": bool(status and status.get("IsPublic")),
        "acl": {"owner": acl.get("Owner"), "grants": acl.get("Grants", [])},
        "public_access_block": block, "account_public_access_block": account_block,
        "encryption": encryption, "ownership": ownership, "versioning": versioning,
        "tags": {t["Key"]: t["Value"] for t in tags or []},
        "object": _object(s3, bucket, key, notes) if key else None,
    }


def exposure(config: dict[str, Any]) -> dict[str, Any]:
    """Who can read the bucket now, and whether its guard rails are off."""
    block = config["public_access_block"] or {}
    account = config["account_public_access_block"] or {}

    def on(setting: str) -> bool:
        return bool(block.get(setting) or account.get(setting))

    statements = (config["policy"] or {}).get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    public_statements = [statement_name(s, i) for i, s in enumerate(statements) if public_statement(s)]
    bucket_grants = grant_names(config["acl"]["grants"])
    obj = config["object"] or {}
    object_grants = grant_names((obj.get("acl") or {}).get("grants", []))
    reasons = []
    if (public_statements or config["policy_is_public"]) and not on("RestrictPublicBuckets"):
        reasons.append("bucket policy allows everyone: " + (", ".join(public_statements) or "(S3 reports it public)"))
    if bucket_grants and not on("IgnorePublicAcls"):
        reasons.append("bucket ACL grants " + ", ".join(bucket_grants))
    if object_grants and not on("IgnorePublicAcls"):
        reasons.append(f"object {obj['key']} ACL grants " + ", ".join(object_grants))
    guardrails_off = not all(on(setting) for setting in BLOCK_ALL)
    return {"public": bool(reasons), "reasons": reasons, "guardrails_off": guardrails_off,
            "public_statements": public_statements, "public_acl_grants": bucket_grants,
            "object_public_grants": object_grants}
