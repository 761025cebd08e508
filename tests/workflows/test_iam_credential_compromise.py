"""iam-credential-compromise end to end: lint, every scenario's expect: block, and the world afterwards."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from irflow.authoring.catalog import Catalog
from irflow.authoring.lint import lint_file
from irflow.local.scenario import Created

from .issue5_runs import MEMBER, REPO, SCENARIOS, Run, evidence_is_hashed

PLAYBOOK = REPO / "workflows" / "iam-credential-compromise"


def test_it_lints_clean() -> None:
    assert lint_file(PLAYBOOK / "definition.asl.json", Catalog.from_registry()) == []


@cache
def ran(name: str) -> Run:
    """Each scenario runs once per test session, whichever tests read it."""
    return Run(name, inspect=_user)


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIOS.glob("iam-*.yaml")))
def test_every_scenario_meets_its_expectations(name: str) -> None:
    assert ran(name).unmet == []


def _user(runtime: Any, created: dict[str, Created]) -> dict[str, Any]:
    if "deploy-bot" not in created or runtime.aws.members.get(MEMBER) is False:
        return {}
    iam = runtime.aws.client("iam", MEMBER)
    name = created["deploy-bot"].name
    policies = {p: iam.get_user_policy(UserName=name, PolicyName=p)["PolicyDocument"]
                for p in iam.list_user_policies(UserName=name)["PolicyNames"]}
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=name)["Tags"]}
    return {"user_policies": policies, "user_tags": tags, "keys": created["deploy-bot"].extra["access_keys"]}


def test_a_user_key_from_a_malicious_address_is_cut_off_after_approval() -> None:
    run = ran("iam-user-malicious-ip")
    assert run.unmet == [] and run.outcome.exit_code == 0
    evidence_is_hashed(run)
    # the stolen key's own trail, from CloudTrail's event history, kept before anyone was asked
    trail = json.loads(run.evidence_named("/cloudtrail-activity.json"))
    assert trail["lookup"] == {"AttributeKey": "AccessKeyId", "AttributeValue": run.seen["keys"][0]}
    names = [e["eventName"] for e in trail["events"]]
    assert names == ["CreateAccessKey", "CreateUser", "ListUsers", "ListBuckets", "GetCallerIdentity", "PutObject"]
    assert trail["summary"]["source_ips"] == {"198.51.100.77": 5, "10.20.1.14": 1} and trail["summary"]["errors"] == 2
    principal = json.loads(run.evidence_named("/principal.json"))
    assert [k["id"] for k in principal["access_keys"]] == run.seen["keys"]
    assert principal["inline_policies"]["deploy-artifacts"]["Statement"][0]["Resource"].startswith("arn:aws:s3:::")
    # the approval said what would be done, to what
    (request,) = [n for n in run.seen["notifications"] if "Approval needed" in str(n["subject"])]
    assert "deactivate its 2 active access key(s)" in request["message"] and "AWSDenyAll" in request["message"]
    # sessions issued before containment are denied; the user is tagged
    revoke = run.seen["user_policies"][f"irflow-revoke-sessions-{run.incident['id']}"]
    revoke = revoke if isinstance(revoke, dict) else json.loads(revoke)
    assert revoke["Statement"][0]["Effect"] == "Deny" and "aws:TokenIssueTime" in json.dumps(revoke)
    assert run.seen["user_tags"]["irflow:status"] == "contained"
    assert any(s.startswith("[irflow] Contained: iam-user deploy-bot") for s in run.subjects())
    approval = run.full["approval_detail"][0]
    assert approval["action"] == "contain-principal" and approval["by"] == "irflow-simulate"
    # contained once a person approved (three simulated minutes after the request), not before
    (seconds,) = run.outcome.containment.values()
    assert 180 < seconds < 240


def test_stolen_instance_credentials_revoke_the_role_sessions_only() -> None:
    def role(runtime: Any, created: dict[str, Created]) -> dict[str, Any]:
        iam = runtime.aws.client("iam", MEMBER)
        names = iam.list_role_policies(RoleName="app-server")["PolicyNames"]
        (revoke,) = [n for n in names if n.startswith("irflow-revoke-sessions-")]
        return {"session_key": created["app-server"].extra["access_key_id"],
                "revoke": iam.get_role_policy(RoleName="app-server", PolicyName=revoke)["PolicyDocument"]}

    run = Run("iam-instance-credential-exfiltration", inspect=role)
    assert run.unmet == []
    trail = json.loads(run.evidence_named("/cloudtrail-activity.json"))
    assert trail["lookup"]["AttributeValue"] == run.seen["session_key"]
    assert {e["sourceIPAddress"] for e in trail["events"]} == {"203.0.113.45"}
    assert trail["events"][0]["userIdentity"]["arn"].endswith("assumed-role/app-server/i-0123456789abcdef0")
    assert "aws:TokenIssueTime" in json.dumps(run.seen["revoke"])
    assert json.loads(run.evidence_named("/principal.json"))["trust_policy"]["Statement"][0]["Principal"] == {
        "Service": "ec2.amazonaws.com"}
    (request,) = [n["message"] for n in run.seen["notifications"] if "Approval needed" in str(n["subject"])]
    assert "revoke the sessions of IAM role app-server" in request
    assert "the session i-0123456789abcdef0 included" in request


def test_rejection_and_timeout_change_nothing() -> None:
    rejected = ran("iam-approval-rejected")
    assert rejected.unmet == [] and "irflow:status" not in rejected.seen["user_tags"]
    assert any("Approval rejected" in s for s in rejected.subjects())
    timeout = ran("iam-approval-timeout")
    assert timeout.unmet == [] and list(timeout.seen["user_policies"]) == ["deploy-artifacts"]
    assert any("ESCALATION" in s for s in timeout.subjects())


def test_the_root_user_goes_to_a_person_and_nothing_is_read() -> None:
    run = ran("iam-root-credential-usage")
    assert run.unmet == []
    assert any(s.startswith("[irflow] ACTION NEEDED: Policy:IAMUser/RootCredentialUsage names Root root") for s in
               run.subjects())
    assert [u for u in run.seen["evidence"] if u.endswith(".json")] == []  # only the report, nothing was read


def test_a_principal_that_no_longer_exists_is_recorded_not_chased() -> None:
    run = ran("iam-principal-gone")
    assert run.unmet == []
    assert run.full["failures"][0]["Error"] == "irflow.PrincipalNotFound"
    assert any("contractor-2023 no longer exists" in s for s in run.subjects())


def test_bad_input_is_refused_and_kept_and_nothing_is_touched() -> None:
    run = ran("iam-malformed-events")
    assert run.unmet == [] and run.outcome.exit_code == 1
    causes = sorted(r["cause"] for r in run.seen["rejected"])
    assert len(causes) == 2
    assert "userType: Field required" in causes[0] or "userType: Field required" in causes[1]
    assert any("resourceType" in c for c in causes)
    assert "event 3: Vulnerability Scan Result from com.example.scanner" in run.timeline.getvalue()
    assert "matched no playbook trigger: nothing started" in run.timeline.getvalue()
    assert run.seen["user_tags"] == {"team": "platform", "Owner": "ci@example.com"}
