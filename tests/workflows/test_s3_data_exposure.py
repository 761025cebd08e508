"""s3-data-exposure end to end: lint, every scenario's expect: block, and the buckets afterwards."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from irflow.authoring.catalog import Catalog
from irflow.authoring.lint import lint_file
from irflow.local.scenario import Created

from .issue5_runs import MEMBER, REPO, SCENARIOS, Run, evidence_is_hashed

PLAYBOOK = REPO / "workflows" / "s3-data-exposure"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
EXPORT = "exports/customers-2025-04.csv"


def test_it_lints_clean() -> None:
    assert lint_file(PLAYBOOK / "definition.asl.json", Catalog.from_registry()) == []


@cache
def ran(name: str) -> Run:
    """Each scenario runs once per test session, whichever tests read it."""
    return Run(name, inspect=_bucket)


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIOS.glob("s3-*.yaml")))
def test_every_scenario_meets_its_expectations(name: str) -> None:
    assert ran(name).unmet == []


def _bucket(runtime: Any, created: dict[str, Created]) -> dict[str, Any]:
    """What the issue-3 after-state does not show: policy statements, ACL grants, the export's ACL and tags."""
    from botocore.exceptions import ClientError

    if "crm-exports" not in created:
        return {}
    s3 = runtime.aws.client("s3", MEMBER)
    name = created["crm-exports"].name
    try:
        statements = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])["Statement"]
    except ClientError:
        statements = []
    return {"statements": statements, "bucket_grants": s3.get_bucket_acl(Bucket=name)["Grants"],
            "object_grants": s3.get_object_acl(Bucket=name, Key=EXPORT)["Grants"],
            "object_tags": {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=name, Key=EXPORT)["TagSet"]},
            "bucket": name}


def _public(grants: list[dict[str, Any]]) -> bool:
    return any(g["Grantee"].get("URI") == ALL_USERS for g in grants)


def test_sensitive_data_in_a_public_bucket_is_closed_and_the_object_restricted() -> None:
    run = ran("s3-macie-sensitive-data-public")
    assert run.unmet == [] and run.outcome.exit_code == 0
    evidence_is_hashed(run)
    original = json.loads(run.evidence_named("/bucket-configuration.json"))
    assert original["exposure"]["public"] is True and original["exposure"]["public_statements"] == ["PublicRead"]
    assert original["sensitive_data"][0] == "PERSONAL_INFORMATION: USA_SOCIAL_SECURITY_NUMBER x206"
    assert _public(original["acl"]["grants"]) and _public(original["object"]["acl"]["grants"])
    # afterwards: no public statement or grant anywhere, and the export readable only by the responders
    assert not _public(run.seen["bucket_grants"]) and not _public(run.seen["object_grants"])
    (restriction,) = run.seen["statements"]
    assert restriction["Effect"] == "Deny" and restriction["Resource"].endswith(f"/{EXPORT}")
    assert restriction["Condition"]["ArnNotEquals"]["aws:PrincipalArn"].endswith(":role/IrflowMemberRole")
    assert run.seen["object_tags"] == {"irflow:incident": run.incident["id"], "irflow:status": "restricted"}
    (request,) = [n["message"] for n in run.seen["notifications"] if "Approval needed" in str(n["subject"])]
    assert "remove the public policy statement(s) PublicRead" in request and f"restrict object {EXPORT}" in request
    assert any(s.startswith("[irflow] Remediated: bucket crm-exports-222222222222 closed") for s in run.subjects())
    assert "crm-exports: public access block off -> on; crm-exports: policyIsPublic on -> off" in run.timeline.getvalue()


def test_rejection_and_timeout_leave_the_bucket_as_it_was() -> None:
    for name in ("s3-remediation-rejected", "s3-approval-timeout"):
        run = ran(name)
        assert run.unmet == []
        assert [s["Sid"] for s in run.seen["statements"]] == ["PublicRead"]
        assert _public(run.seen["bucket_grants"]) and _public(run.seen["object_grants"])
        assert "irflow:status" not in run.seen["object_tags"]


def test_bad_input_is_refused_and_kept_and_the_bucket_is_not_touched() -> None:
    run = ran("s3-malformed-events")
    assert run.unmet == [] and run.outcome.exit_code == 1
    causes = sorted(str(r["cause"]) for r in run.seen["rejected"])
    assert any("S3BucketEncryptionDisabled" in c and "not a data-exposure finding" in c for c in causes)
    assert any("a sensitive-data finding names its object" in c for c in causes)
    assert "event 3: Inspector2 Finding from aws.inspector2" in run.timeline.getvalue()
    assert "matched no playbook trigger: nothing started" in run.timeline.getvalue()
    assert [s["Sid"] for s in run.seen["statements"]] == ["PublicRead"] and _public(run.seen["object_grants"])


def test_a_bucket_that_no_longer_exists_is_recorded_not_chased() -> None:
    run = ran("s3-bucket-gone")
    assert run.unmet == []
    assert run.full["failures"][0]["Error"] == "irflow.BucketNotFound"
    assert any("old-exports-222222222222 no longer exists" in s for s in run.subjects())
