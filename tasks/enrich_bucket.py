"""enrich-bucket: read the bucket's whole access configuration, keep it as evidence, and say what is public.

Read in the member account through IrflowMemberRole: the bucket policy and its policy status,
the bucket ACL, the bucket's and the account's public access block, default encryption, object
ownership, versioning, tags (the `irflow:exempt=true` exemption), and for a sensitive-data
finding the object named (size, encryption, version, its ACL and tags). The original
configuration is written to the evidence bucket (`bucket-configuration.json`, with its
SHA-256) before anything is proposed. The result says whether anyone can read the bucket now
(a public policy statement not neutralised by RestrictPublicBuckets, a public ACL grant on the
bucket or the object not neutralised by IgnorePublicAcls) and whether its guard rails are off
(Block Public Access not fully on, at the bucket or the account). A lookup AWS refuses is noted;
a bucket that no longer exists fails with `irflow.BucketNotFound`.

Example event:

    {"incident": {"incident_id": "inc-3e9d1c0b7a6f5e42", "finding_id": "9f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
                  "finding_type": "SensitiveData:S3Object/Personal", "severity": 5.0, "severity_band": "medium",
                  "account_id": "222222222222", "region": "us-east-1", "source": "Macie",
                  "resource_type": "s3-bucket", "resource_id": "exports-222222222222"},
     "bucket": {"name": "exports-222222222222", "key": "crm/customers-2025-04.csv",
                "sensitive_data": ["PERSONAL_INFORMATION: USA_SOCIAL_SECURITY_NUMBER x206"]},
     "policy": {"approval_severity": 4.0, "approval_timeout_seconds": 3600, "on_approval_timeout": "escalate",
                "restrict_object": true}}
"""

from __future__ import annotations

import json
from typing import Any

from tasks.common import evidence, incidents
from tasks.common.aws import member_session, session_client
from tasks.common.buckets import EXEMPT_TAG, BucketInput, configuration, exists_or_raise, exposure
from tasks.common.handler import task_handler
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="enrich-bucket",
    member_permissions=(
        "s3:ListBucket", "s3:GetBucketPolicy", "s3:GetBucketPolicyStatus", "s3:GetBucketAcl",
        "s3:GetBucketPublicAccessBlock", "s3:GetAccountPublicAccessBlock", "s3:GetEncryptionConfiguration",
        "s3:GetBucketOwnershipControls", "s3:GetBucketVersioning", "s3:GetBucketTagging", "s3:GetObject",
        "s3:GetObjectAcl", "s3:GetObjectTagging"),
    central_permissions=("sts:AssumeRole", "s3:PutObject", "dynamodb:PutItem"),
    destructive=False, model="tasks.common.buckets.BucketInput", evidence=True, timeout_seconds=60)

def enrich(data: BucketInput, session: Any = None, s3: Any = None) -> dict[str, Any]:
    """The bucket's configuration, kept as evidence; returns what the playbook routes on."""
    incident, ref = data.incident, data.bucket
    session = session or member_session(incident.account_id, incident.incident_id, incident.region)
    exists_or_raise(session_client(session, "s3"), ref.name)
    notes: list[str] = []
    config = configuration(session, incident.account_id, ref.name, ref.key, notes)
    found = exposure(config)
    stored = evidence.store(incident.incident_id, ("bucket-configuration.json",),
                            json.dumps({**config, "exposure": found, "sensitive_data": ref.sensitive_data,
                                        "notes": notes}, indent=2, default=str).encode(),
                            "bucket-configuration", content_type="application/json", s3=s3)
    obj = config["object"]
    result = {
        "bucket": ref.name, "key": ref.key, "object_exists": bool(obj and obj.get("exists")),
        "exempt": config["tags"].get(EXEMPT_TAG, "").strip().lower() == "true", **found,
        "policy_is_public": config["policy_is_public"], "tags": config["tags"],
        "evidence": {"uri": stored["uri"], "sha256": stored["sha256"]}, "notes": notes,
    }
    result["summary"] = describe(result, ref.sensitive_data)
    result["proposal"] = propose(result, data.policy.restrict_object)
    incidents.add_timeline(incident.incident_id, "enrich-bucket", result["summary"],
                           detail={"notes": notes} if notes else None)
    return result


def describe(facts: dict[str, Any], sensitive: list[str]) -> str:
    """One line for the timeline and the approval request."""
    parts = [f"bucket {facts['bucket']}"]
    parts.append("PUBLIC: " + "; ".join(facts["reasons"]) if facts["public"] else "not public")
    if facts["guardrails_off"]:
        parts.append("Block Public Access is not fully on")
    if facts["key"]:
        parts.append(f"object {facts['key']}" + ("" if facts["object_exists"] else " (gone)")
                     + (f" holds {', '.join(sensitive)}" if sensitive else ""))
    if facts["exempt"]:
        parts.append(f"EXEMPT ({EXEMPT_TAG}=true)")
    return "; ".join(parts)


def propose(facts: dict[str, Any], restrict: bool) -> str:
    """What remediate-bucket-exposure will do, in the words of the approval request."""
    steps = ["turn Block Public Access fully on"]
    if facts["public_statements"]:
        steps.append(f"remove the public policy statement(s) {', '.join(facts['public_statements'])}")
    if facts["public_acl_grants"]:
        steps.append(f"remove the bucket ACL grant(s) {', '.join(facts['public_acl_grants'])}")
    if facts["key"] and facts["object_exists"]:
        denied = ", and deny reading it to all but the responders' role" if restrict else ""
        steps.append(f"restrict object {facts['key']} (public grants removed, tagged irflow:status=restricted{denied})")
    return f"close bucket {facts['bucket']} to the public: " + "; ".join(steps) + (
        "; its configuration is recorded first")


def run(data: BucketInput) -> dict[str, Any]:
    return enrich(data)


handler = task_handler(TASK, BucketInput, run)
