"""remediate-bucket-exposure: after approval, close an exposed bucket to the public (destructive).

The bucket's access configuration is recorded first (in the incidents table, once: a rerun never
overwrites it), so a person can restore it from the record. Then, each step skipped when already
done so that a second run changes nothing:
- Block Public Access turned fully on for the bucket;
- the public statements removed from the bucket policy (the others kept; the policy deleted if
  nothing is left). S3 stores a public access block without always enforcing it (the embedded
  AWS never does), and a later change to the block would expose the bucket again, so the
  public grants themselves are removed too;
- the public grants (AllUsers, AuthenticatedUsers) removed from the bucket ACL;
- for a sensitive-data finding, the object restricted: its public grants removed, tagged
  `irflow:incident` and `irflow:status=restricted`, and (by policy) a bucket policy statement
  denying reads of that object to everyone but IrflowMemberRole, the responders' way in.
Then it reads back the policy status (`GetBucketPolicyStatus`) and the exposure, and records
both. The approval (id and who) is recorded with each action.

Example event:

    {"incident": {"incident_id": "inc-3e9d1c0b7a6f5e42", "finding_id": "9f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
                  "finding_type": "SensitiveData:S3Object/Personal", "severity": 5.0, "severity_band": "medium",
                  "account_id": "222222222222", "region": "us-east-1", "source": "Macie",
                  "resource_type": "s3-bucket", "resource_id": "exports-222222222222"},
     "bucket": {"name": "exports-222222222222", "key": "crm/customers-2025-04.csv"},
     "policy": {"approval_severity": 4.0, "approval_timeout_seconds": 3600, "on_approval_timeout": "escalate",
                "restrict_object": true},
     "approval": {"approval_id": "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "decision": "approved",
                  "by": "alice@example.com", "at": "2025-04-08T10:31:02.000Z"}}
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tasks.common import clock, incidents
from tasks.common.aws import error_code, member_session, session_client
from tasks.common.buckets import (
    BLOCK_ALL,
    RemediateBucketInput,
    configuration,
    exists_or_raise,
    exposure,
    object_arn,
    public_grants,
    public_statement,
    restrict_sid,
    statement_name,
)
from tasks.common.config import settings
from tasks.common.handler import task_handler
from tasks.common.models import REMEDIATED
from tasks.common.principals import partition
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="remediate-bucket-exposure",
    member_permissions=(
        "s3:ListBucket", "s3:GetBucketPolicy", "s3:GetBucketPolicyStatus", "s3:GetBucketAcl",
        "s3:GetBucketPublicAccessBlock", "s3:GetAccountPublicAccessBlock", "s3:GetEncryptionConfiguration",
        "s3:GetBucketOwnershipControls", "s3:GetBucketVersioning", "s3:GetBucketTagging", "s3:GetObject",
        "s3:GetObjectAcl", "s3:GetObjectTagging", "s3:PutBucketPublicAccessBlock", "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy", "s3:PutBucketAcl", "s3:PutObjectAcl", "s3:PutObjectTagging"),
    central_permissions=("sts:AssumeRole", "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"),
    destructive=True, model="tasks.common.buckets.RemediateBucketInput", timeout_seconds=60)

DONE, UNCHANGED = "done", "unchanged"
STATUS_TAG, INCIDENT_TAG = "irflow:status", "irflow:incident"


def restrict_statement(bucket: str, key: str, account_id: str, region: str) -> dict[str, Any]:
    """Deny reading one object to everyone but the responders' role in the account."""
    member_role = f"arn:{partition(region)}:iam::{account_id}:role/{settings().member_role_name}"
    return {"Sid": restrict_sid(key), "Effect": "Deny", "Principal": "*",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"], "Resource": object_arn(bucket, key, partition(region)),
            "Condition": {"ArnNotEquals": {"aws:PrincipalArn": member_role}}}


def remediate(data: RemediateBucketInput, session: Any = None) -> dict[str, Any]:
    """Close the bucket (idempotently); returns what was done and the exposure read back afterwards."""
    incident, ref, approval = data.incident, data.bucket, data.approval
    session = session or member_session(incident.account_id, incident.incident_id, incident.region)
    s3 = session_client(session, "s3")
    bucket = ref.name
    exists_or_raise(s3, bucket)
    notes: list[str] = []
    before = configuration(session, incident.account_id, bucket, ref.key, notes)
    incidents.save_original_state(incident.incident_id, f"s3-bucket/{bucket}",
                                  {**before, "captured_at": clock.iso(), "notes": notes})
    approved = {"approval_id": approval.approval_id, "by": approval.by}
    steps: list[dict[str, str]] = []

    def step(name: str, target: str, result: str) -> None:
        steps.append(incidents.add_action(incident.incident_id, name, target, result, approved,
                                          keep_existing=result.startswith(UNCHANGED)))

    # 1. The guard rails: Block Public Access, all four settings.
    if all((before["public_access_block"] or {}).get(k) for k in BLOCK_ALL):
        step("block-public-access", bucket, f"{UNCHANGED}: already fully on")
    else:
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=dict(BLOCK_ALL))
        step("block-public-access", bucket, f"{DONE}: all four settings on")

    # 2. The bucket policy: public statements out, the object's restriction in.
    statements = (before["policy"] or {}).get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    removed = [statement_name(s, i) for i, s in enumerate(statements) if public_statement(s)]
    kept = [s for s in statements if not public_statement(s)]
    restrict = bool(data.policy.restrict_object and ref.key and (before["object"] or {}).get("exists"))
    if restrict and ref.key:
        sid = restrict_sid(ref.key)
        if not any(s.get("Sid") == sid for s in kept):
            kept.append(restrict_statement(bucket, ref.key, incident.account_id, incident.region))
    if kept != statements:
        if kept:
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
                "Version": (before["policy"] or {}).get("Version", "2012-10-17"), "Statement": kept}))
        else:
            s3.delete_bucket_policy(Bucket=bucket)
    step("remove-public-policy-statements", bucket,
         f"{DONE}: removed {', '.join(removed)}" if removed else f"{UNCHANGED}: no public statement")

    # 3. The bucket ACL: grants to everyone out.
    grants = before["acl"]["grants"]
    if public_grants(grants):
        s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={
            "Owner": before["acl"]["owner"], "Grants": [g for g in grants if g not in public_grants(grants)]})
        step("remove-public-acl-grants", bucket, f"{DONE}: removed {len(public_grants(grants))} grant(s)")
    else:
        step("remove-public-acl-grants", bucket, f"{UNCHANGED}: no public grant")

    # 4. The sensitive object.
    obj = before["object"] or {}
    if ref.key and obj.get("exists"):
        _restrict_object(s3, bucket, ref.key, obj, incident.incident_id, restrict, step)
    elif ref.key:
        step("restrict-object", f"s3://{bucket}/{ref.key}", f"{UNCHANGED}: the object no longer exists")

    after = exposure(configuration(session, incident.account_id, bucket, ref.key, []))
    status = s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"] if kept else {"IsPublic": False}
    verified = not after["public"] and not after["guardrails_off"] and not status.get("IsPublic")
    incidents.set_status(incident.incident_id, REMEDIATED)
    changed = [s for s in steps if not s["result"].startswith(UNCHANGED)]
    incidents.add_timeline(
        incident.incident_id, "remediate-bucket-exposure",
        f"bucket {bucket}: {len(changed)} change(s), approved by {approval.by} ({approval.approval_id}); read back: "
        + ("not public, Block Public Access fully on" if verified else "STILL EXPOSED: " + "; ".join(after["reasons"])),
        failure=None if verified else {"Error": "irflow.StillExposed", "Cause": "; ".join(after["reasons"])})
    return {"remediated": True, "changed": bool(changed), "verified": verified, "policy_is_public":
            bool(status.get("IsPublic")), "actions": steps}


def _restrict_object(s3: Any, bucket: str, key: str, obj: dict[str, Any], incident_id: str, denied: bool,
                     step: Callable[[str, str, str], None]) -> None:
    grants = (obj.get("acl") or {}).get("grants", [])
    target = f"s3://{bucket}/{key}"
    if public_grants(grants):
        try:
            s3.put_object_acl(Bucket=bucket, Key=key, AccessControlPolicy={
                "Owner": obj["acl"]["owner"], "Grants": [g for g in grants if g not in public_grants(grants)]})
        except Exception as error:
            if error_code(error) != "AccessControlListNotSupported":  # ACLs disabled: no grant can apply
                raise
        step("remove-public-object-grants", target, f"{DONE}: removed {len(public_grants(grants))} grant(s)")
    wanted = {INCIDENT_TAG: incident_id, STATUS_TAG: "restricted"}
    tags = obj.get("tags") or {}
    if any(tags.get(k) != v for k, v in wanted.items()):
        merged = {**tags, **wanted}
        s3.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": [
            {"Key": k, "Value": v} for k, v in merged.items()]})
        result = f"{DONE}: tagged" + ("; reads denied to all but the responders' role" if denied else "")
        step("restrict-object", target, result)
    else:
        step("restrict-object", target, f"{UNCHANGED}: already restricted")


def run(data: RemediateBucketInput) -> dict[str, Any]:
    return remediate(data)


handler = task_handler(TASK, RemediateBucketInput, run)
