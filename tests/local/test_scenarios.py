"""Every shipped scenario, end to end through the engine, the tasks and the embedded AWS.

Each test runs the scenario as `irflow simulate` does and asserts on the world afterwards (read
back from moto: the instance's network-interface security groups, snapshots, state, Auto Scaling
group and target groups, the evidence objects and their digests) and on the incident record.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from irflow.local.scenario import Created, load
from irflow.local.simulate import Outcome, run_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


class Run:
    """A finished scenario: its report, plus what was read from the world before it closed."""

    def __init__(self, name: str, inspect: Callable[[Any, dict[str, Created]], dict[str, Any]] | None = None,
                 timeline: bool = False) -> None:
        self.seen: dict[str, Any] = {}

        def then(runtime: Any, created: dict[str, Created]) -> None:
            runtime.aws.drain_notifications()
            self.seen["notifications"] = runtime.aws.notified
            self.seen["evidence"] = _evidence(runtime)
            self.seen["incidents_full"] = runtime.incidents()
            if inspect is not None:
                self.seen.update(inspect(runtime, created))

        self.timeline = io.StringIO()
        self.outcome: Outcome = run_scenario(load(SCENARIOS / f"{name}.yaml"), out=self.timeline if timeline else None,
                                             then=then)
        self.doc = self.outcome.document
        _check_shape(self.doc)

    @property
    def incident(self) -> dict[str, Any]:
        (incident,) = self.doc["incidents"]
        return incident

    def actions(self, name: str) -> list[dict[str, str]]:
        return [a for a in self.incident["actions"] if a["name"] == name]

    def subjects(self) -> list[str]:
        return [str(n["subject"]) for n in self.seen["notifications"]]


def _check_shape(doc: dict[str, Any]) -> None:
    """The JSON document `irflow simulate --json` prints, exactly as issue 3 documents it."""
    assert set(doc) == {"scenario", "executions", "incidents", "resources"}
    for execution in doc["executions"]:
        assert set(execution) == {"playbook", "executionArn", "status", "error", "cause", "states"}
        assert all(set(s) == {"name", "type", "status"} for s in execution["states"])
    for incident in doc["incidents"]:
        assert set(incident) == {"id", "status", "actions", "evidence", "approvals"}
    json.dumps(doc)


def _evidence(runtime: Any) -> dict[str, bytes]:
    """Every object in the evidence bucket, by s3:// URI."""
    world = runtime.aws
    s3 = world.client("s3")
    bucket = world.central.evidence_bucket
    found = {}
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        found[f"s3://{bucket}/{item['Key']}"] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return found


def _role_policies(runtime: Any, created: dict[str, Created]) -> dict[str, Any]:
    iam = runtime.aws.client("iam", "222222222222")
    return {"role_policies": iam.list_role_policies(RoleName="web-role")["PolicyNames"],
            "policy": [iam.get_role_policy(RoleName="web-role", PolicyName=n)["PolicyDocument"]
                       for n in iam.list_role_policies(RoleName="web-role")["PolicyNames"]]}


def _untouched(state: dict[str, Any], group: str) -> None:
    assert state["state"] == "running"
    assert [g["name"] for g in state["securityGroups"]] == [group]
    assert state["snapshots"] == [] and not state["terminationProtection"]
    assert "irflow:status" not in state["tags"]


def _isolated(state: dict[str, Any]) -> None:
    (group,) = state["securityGroups"]
    assert group["name"].startswith("irflow-isolation") and (group["ingressRules"], group["egressRules"]) == (0, 0)
    assert state["terminationProtection"] is True
    assert state["autoScalingGroup"] is None and state["targetGroups"] == []


def _evidence_is_hashed(run: Run) -> None:
    assert run.incident["evidence"], "no evidence recorded"
    for item in run.incident["evidence"]:
        assert hashlib.sha256(run.seen["evidence"][item["uri"]]).hexdigest() == item["sha256"], item["uri"]


def test_headline_ssh_brute_force_is_contained_then_stopped_on_approval() -> None:
    run = Run("ssh-brute-force", inspect=_role_policies, timeline=True)
    assert run.outcome.exit_code == 0
    (execution,) = run.doc["executions"]
    assert execution["status"] == "SUCCEEDED"
    web = run.doc["resources"]["web"]
    _isolated(web)
    assert web["state"] == "stopped" and len(web["snapshots"]) == 1
    assert web["tags"]["irflow:incident"] == run.incident["id"]
    assert run.incident["status"] == "remediated"
    assert run.incident["approvals"] == [{"id": run.incident["approvals"][0]["id"], "decision": "approved",
                                          "by": "irflow-simulate"}]
    assert run.actions("detach-from-auto-scaling-group")[0]["result"].startswith("done")
    assert run.actions("deregister-from-target-group")[0]["result"] == "done"
    assert run.actions("revoke-role-sessions")[0]["result"].startswith("done")
    _evidence_is_hashed(run)
    ssm = [uri for uri in run.seen["evidence"] if "/ssm/" in uri]
    assert len(ssm) == 1 and ssm[0].endswith("/awsrunShellScript/0.awsrunShellScript/stdout")
    assert b"=== processes ===" in run.seen["evidence"][ssm[0]]
    denies = [st for doc in run.seen["policy"] for st in doc["Statement"] if st["Effect"] == "Deny"]
    assert len(denies) == 1 and "aws:TokenIssueTime" in json.dumps(denies[0]["Condition"])
    assert any("Approval needed" in s for s in run.subjects()) and any("Remediated" in s for s in run.subjects())
    # contained before anyone was asked: isolation lands within a minute of the finding
    (seconds,) = run.outcome.containment.values()
    assert 5 < seconds < 60
    text = run.timeline.getvalue()
    for expected in ("event 1: GuardDuty Finding", "IsolateInstance", "security groups [web-sg] -> [irflow-isolation",
                     "autoScalingGroup web-asg -> none", "waiting for a person", "approved by irflow-simulate",
                     "state running -> stopped", f"finding -> containment: {seconds:.1f}s (simulated)"):
        assert expected in text, expected


def test_low_severity_is_recorded_and_notified_only() -> None:
    run = Run("low-severity")
    assert run.outcome.exit_code == 0
    _untouched(run.doc["resources"]["web"], "web-sg")
    assert run.incident["status"] == "closed" and run.incident["actions"] == []
    assert run.seen["notifications"], "nobody was told"
    assert run.outcome.containment == {}


def test_exempt_instance_is_notified_only() -> None:
    run = Run("exempt-instance")
    _untouched(run.doc["resources"]["scanner"], "scanner-sg")
    assert run.incident["actions"] == [] and run.seen["notifications"]


def test_unmanaged_instance_is_contained_without_volatile_evidence() -> None:
    run = Run("unmanaged-instance")
    legacy = run.doc["resources"]["legacy"]
    _isolated(legacy)
    assert legacy["state"] == "stopped" and len(legacy["snapshots"]) == 1
    (volatile,) = run.actions("collect-volatile")
    assert volatile["result"] == "skipped: the instance is not SSM-managed"
    assert not [uri for uri in run.seen["evidence"] if "/ssm/" in uri]


def test_windows_instance_collects_with_powershell() -> None:
    run = Run("windows-instance")
    winweb = run.doc["resources"]["winweb"]
    _isolated(winweb)
    assert winweb["state"] == "stopped"
    (ssm,) = [uri for uri in run.seen["evidence"] if "/ssm/" in uri]
    assert ssm.endswith("/awsrunPowerShellScript/0.awsrunPowerShellScript/stdout")
    assert b"4625" in run.seen["evidence"][ssm]
    _evidence_is_hashed(run)


def test_missing_member_role_fails_fast_with_access_denied() -> None:
    run = Run("member-role-missing")
    assert run.outcome.exit_code == 1
    (execution,) = run.doc["executions"]
    assert (execution["status"], execution["error"]) == ("FAILED", "irflow.AccessDenied")
    assert "333333333333:role/IrflowMemberRole" in execution["cause"]
    _untouched(run.doc["resources"]["orphan"], "orphan-sg")
    assert any("cannot act in account 333333333333" in s for s in run.subjects())


def test_rejected_isolation_leaves_the_instance_in_service() -> None:
    run = Run("approval-rejected")
    assert run.outcome.exit_code == 0
    api = run.doc["resources"]["api"]
    assert [g["name"] for g in api["securityGroups"]] == ["api-sg"] and api["targetGroups"] == ["api-tg"]
    assert api["state"] == "running" and len(api["snapshots"]) == 1  # evidence was still collected
    assert run.incident["approvals"][0]["decision"] == "rejected"
    assert not run.actions("isolate-network-interface")


def test_approval_nobody_answers_does_nothing_destructive_and_escalates() -> None:
    run = Run("approval-timeout")
    assert run.outcome.exit_code == 0
    web = run.doc["resources"]["web"]
    _isolated(web)
    assert web["state"] == "running"
    assert run.incident["status"] == "awaiting-human"
    assert run.incident["approvals"][0]["decision"] == "timed-out"
    assert not run.actions("stop-instance")
    assert len(run.seen["notifications"]) > 2 and any("scalat" in s.lower() for s in run.subjects())


def test_terminated_instance_is_recorded_not_contained() -> None:
    run = Run("instance-terminated")
    assert run.outcome.exit_code == 0
    assert run.doc["resources"]["gone"]["state"] == "terminated"
    assert run.incident["status"] == "closed" and not run.actions("isolate-network-interface")
    assert run.outcome.containment == {}


def test_same_finding_twice_then_updated_is_one_response() -> None:
    run = Run("duplicate-finding")
    assert run.outcome.exit_code == 0
    names = [e["executionArn"].split(":")[-1] for e in run.doc["executions"]]
    assert names == ["b8e7d0f2a4c61e9f5d3c1b9e7f8a0dcc-20250314T092140Z",
                     "b8e7d0f2a4c61e9f5d3c1b9e7f8a0dcc-20250314T095112Z"]
    full = run.seen["incidents_full"][0]
    assert full["count"] == 61 and len(full["executions"]) == 2
    web = run.doc["resources"]["web"]
    assert len(web["snapshots"]) == 1 and web["state"] == "stopped"
    assert len(run.actions("isolate-network-interface")) == 1
    assert len(run.incident["approvals"]) == 1


def test_malformed_findings_fail_with_invalid_finding_and_touch_nothing() -> None:
    run = Run("malformed-events")
    assert run.outcome.exit_code == 1
    assert [(e["status"], e["error"]) for e in run.doc["executions"]] == [("FAILED", "irflow.InvalidFinding")] * 3
    causes = [json.loads(e["cause"])["errorMessage"] for e in run.doc["executions"]]
    assert "detail.severity" in causes[0] and "detail.resource" in causes[1]
    assert "instanceId" in causes[2]
    assert run.doc["incidents"] == []
    _untouched(run.doc["resources"]["web"], "web-sg")


def test_medium_severity_is_isolated_only_after_approval() -> None:
    run = Run("medium-severity-approved")
    api = run.doc["resources"]["api"]
    _isolated(api)
    assert api["state"] == "running" and run.incident["status"] == "contained"
    (seconds,) = run.outcome.containment.values()
    assert seconds > 180  # a person's decision sits between the finding and the isolation


def test_rejected_stop_leaves_the_instance_isolated_and_running() -> None:
    run = Run("remediation-rejected")
    web = run.doc["resources"]["web"]
    _isolated(web)
    assert web["state"] == "running" and not run.actions("stop-instance")
    assert run.incident["approvals"][0]["decision"] == "rejected"
