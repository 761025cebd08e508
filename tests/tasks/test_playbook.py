"""The ec2-compromise definition on irflow's engine with the real tasks: its policy, gates and failure paths.

The scenarios (`scenarios/`) run the headline cases end to end; these tests pin down what the
definition itself promises: what runs in which order for each severity band, that nothing
destructive runs without an approval, that a timeout is safe, that a failing forensic step is
recorded and the response goes on, and that SSM polling is bounded.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from irflow.local.runtime import Runtime
from tasks.common import incidents
from tasks.registry import load_handler

from .conftest import MEMBER, OTHER_MEMBER, Estate, event

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


def start(tmp_path: Path, policy: dict[str, Any] | None = None,
          handlers: dict[str, Callable[[Any, Any], Any]] | None = None) -> Runtime:
    """A runtime over a copy of the playbook (with `policy` overrides) and optional stand-in handlers."""
    workflows = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS / "ec2-compromise", workflows / "ec2-compromise")
    if policy:
        path = workflows / "ec2-compromise" / "playbook.yaml"
        meta = yaml.safe_load(path.read_text())
        meta["policy"].update(policy)
        path.write_text(yaml.safe_dump(meta))
    stand_ins = handlers or {}
    runtime = Runtime(workflows_dir=workflows,
                      load_handler=lambda spec: stand_ins.get(spec.name) or load_handler(spec)).start()
    runtime.aws.add_member(MEMBER)
    return runtime


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    r = start(tmp_path)
    yield r
    r.close()


def run(runtime: Runtime, finding: dict[str, Any]) -> dict[str, Any]:
    [delivery] = runtime.put_event(finding)
    runtime.run_until_idle()
    assert delivery.execution_arn
    described: dict[str, Any] = runtime.engine.describe_execution(executionArn=delivery.execution_arn)
    return described


def entered(runtime: Runtime, execution: dict[str, Any]) -> list[str]:
    history = runtime.engine.get_execution_history(executionArn=execution["executionArn"],
                                                   maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]


def only_incident(runtime: Runtime) -> dict[str, Any]:
    [incident] = runtime.incidents()
    return incident


def test_high_severity_isolates_at_once_and_asks_before_stopping(runtime: Runtime) -> None:
    estate = Estate(runtime.aws)
    web = estate.instance(role="web-role", asg="web-asg", target_group="web-tg")
    execution = run(runtime, event("guardduty-ssh-bruteforce-high", web.id))
    assert execution["status"] == "RUNNING"  # waiting for a person
    states = entered(runtime, execution)
    assert states.index("SnapshotVolumes") < states.index("IsolateInstance")
    assert states.index("PollVolatile") < states.index("IsolateInstance")
    assert states[-1] == "RequestRemediationApproval" and "RemediateInstance" not in states
    assert estate.interface_groups(web.interface_id) != [web.group_id]  # isolated already
    assert estate.described(web.id)["State"]["Name"] == "running"  # not stopped without approval

    [pending] = runtime.pending_approvals()
    assert pending["action"] == "remediate-instance" and pending["target"] == web.id
    runtime.decide(pending["approval_id"], "approve", "alice@example.com")
    runtime.run_until_idle()
    execution = runtime.engine.describe_execution(executionArn=execution["executionArn"])
    assert execution["status"] == "SUCCEEDED"
    assert estate.described(web.id)["State"]["Name"] in ("stopping", "stopped")
    incident = only_incident(runtime)
    assert incident["status"] == "remediated"
    assert incident["approvals"] == [{"id": pending["approval_id"], "decision": "approved", "by": "alice@example.com"}]
    assert any(e["uri"].endswith("/report.md") for e in incident["evidence"])


def test_medium_severity_asks_before_isolating_and_a_timeout_is_safe(runtime: Runtime) -> None:
    estate = Estate(runtime.aws)
    web = estate.instance(asg="web-asg")
    execution = run(runtime, event("guardduty-bitcoin-tool-dns", web.id))
    states = entered(runtime, execution)
    assert states[-1] == "RequestIsolationApproval" and "IsolateInstance" not in states
    assert "PollVolatile" in states  # evidence first
    [pending] = runtime.pending_approvals()
    assert pending["action"] == "isolate-instance"
    runtime.aws.drain_notifications()

    runtime.advance(3600)
    runtime.run_until_idle()
    execution = runtime.engine.describe_execution(executionArn=execution["executionArn"])
    assert execution["status"] == "SUCCEEDED"
    assert entered(runtime, execution)[-3:] == ["RecordIsolationTimeout", "NotifyEscalation", "Done"]
    # Nothing was done to the instance.
    assert estate.interface_groups(web.interface_id) == [web.group_id]
    assert web.id in estate.asg_members("web-asg")
    incident = only_incident(runtime)
    assert incident["status"] == "awaiting-human"
    assert incident["approvals"] == [{"id": pending["approval_id"], "decision": "timed-out", "by": None}]
    subjects = [n["subject"] for n in runtime.aws.drain_notifications()]
    assert any(s.startswith("[irflow] ESCALATION") for s in subjects)


def test_a_rejected_isolation_does_nothing_more(runtime: Runtime) -> None:
    estate = Estate(runtime.aws)
    web = estate.instance()
    execution = run(runtime, event("guardduty-bitcoin-tool-dns", web.id))
    [pending] = runtime.pending_approvals()
    runtime.decide(pending["approval_id"], "reject", "bob", reason="known miner on a research box")
    runtime.run_until_idle()
    execution = runtime.engine.describe_execution(executionArn=execution["executionArn"])
    assert execution["status"] == "SUCCEEDED"
    assert "IsolateApproved" not in entered(runtime, execution)
    assert estate.interface_groups(web.interface_id) == [web.group_id]
    assert only_incident(runtime)["status"] == "closed"


@pytest.mark.parametrize("tags, finding, severity, outcome, status", [
    ({}, "guardduty-ssh-bruteforce-low", 2, "RecordLowSeverity", "closed"),
    ({"irflow:exempt": "true"}, "guardduty-ssh-bruteforce-high", 8, "RecordExempt", "closed"),
])
def test_low_severity_and_exempt_instances_are_notified_only(runtime: Runtime, tags: dict[str, str], finding: str,
                                                             severity: float, outcome: str, status: str) -> None:
    estate = Estate(runtime.aws)
    web = estate.instance(tags=tags)
    execution = run(runtime, event(finding, web.id))
    assert execution["status"] == "SUCCEEDED"
    states = entered(runtime, execution)
    assert outcome in states and "CollectEvidence" not in states and "IsolateInstance" not in states
    incident = only_incident(runtime)
    assert incident["status"] == status and incident["actions"] == []
    assert estate.interface_groups(web.interface_id) == [web.group_id]


def test_a_missing_member_role_fails_with_access_denied_and_a_notification(runtime: Runtime) -> None:
    runtime.aws.add_member(OTHER_MEMBER, role=False)
    finding = event("guardduty-ssh-bruteforce-high", "i-0123456789abcdef0")
    finding["account"] = OTHER_MEMBER
    finding["detail"]["accountId"] = OTHER_MEMBER
    execution = run(runtime, finding)
    assert execution["status"] == "FAILED" and execution["error"] == "irflow.AccessDenied"
    assert "cannot assume arn:aws:iam::333333333333:role/IrflowMemberRole" in execution["cause"]
    assert only_incident(runtime)["status"] == "awaiting-human"
    subjects = [n["subject"] for n in runtime.aws.drain_notifications()]
    assert any(s.startswith("[irflow] ACTION NEEDED: cannot act in account 333333333333") for s in subjects)


def test_a_malformed_event_fails_parse_finding_and_opens_nothing(runtime: Runtime) -> None:
    finding = event("guardduty-ssh-bruteforce-high")
    finding["detail"]["severity"] = "very high"
    execution = run(runtime, finding)
    assert execution["status"] == "FAILED" and execution["error"] == "irflow.InvalidFinding"
    assert '"errorMessage": "detail.severity: Input should be a valid number' in execution["cause"].replace('":"', '": "')
    assert incidents.list_incidents() == []


def test_a_repeated_finding_joins_the_open_incident(runtime: Runtime) -> None:
    estate = Estate(runtime.aws)
    web = estate.instance()
    first = run(runtime, event("guardduty-ssh-bruteforce-high", web.id))
    repeat = event("guardduty-ssh-bruteforce-high", web.id)
    repeat["id"] = "d9d4ebb8-b31d-3f14-1181-c8404ee653be"  # a new event for the same finding
    repeat["detail"]["service"]["count"] = 60
    repeat["detail"]["updatedAt"] = "2024-05-14T10:11:58.104Z"
    deliveries = runtime.put_event(repeat)
    runtime.run_until_idle()
    executions = runtime.executions()
    assert executions[0]["executionArn"] == first["executionArn"]
    if len(executions) > 1:  # a new execution (deployed EventBridge cannot name it) joins and ends
        assert entered(runtime, executions[1])[-1] == "JoinedOpenIncident"
    else:
        assert deliveries[0].outcome in ("joined", "duplicate")
    assert len(runtime.incidents()) == 1


def failing(name: str) -> Callable[[Any, Any], Any]:
    def handler(event: Any, context: Any) -> Any:
        raise RuntimeError(f"{name} is broken in this test")
    return handler


def test_a_failing_forensic_step_is_recorded_and_containment_goes_on(tmp_path: Path) -> None:
    runtime = start(tmp_path, handlers={"snapshot-volumes": failing("snapshot-volumes")})
    try:
        estate = Estate(runtime.aws)
        web = estate.instance()
        execution = run(runtime, event("guardduty-ssh-bruteforce-high", web.id))
        states = entered(runtime, execution)
        assert "RecordSnapshotError" in states and "IsolateInstance" in states
        failures = only_incident(runtime)["failures"]
        assert failures[0]["step"] == "snapshot-volumes" and failures[0]["Error"] == "RuntimeError"
        assert "snapshot-volumes is broken in this test" in failures[0]["Cause"]
    finally:
        runtime.close()


def test_polling_is_bounded_when_a_command_never_finishes(tmp_path: Path) -> None:
    def still_running(event: Any, context: Any) -> Any:
        return {**event["command"], "status": "InProgress", "polls": event["command"]["polls"] + 1}

    runtime = start(tmp_path, handlers={"poll-command": still_running})
    try:
        web = Estate(runtime.aws).instance()
        execution = run(runtime, event("guardduty-ssh-bruteforce-high", web.id))
        states = entered(runtime, execution)
        assert states.count("PollVolatile") == 36
        assert "RecordVolatileGaveUp" in states and "IsolateInstance" in states
        [failure] = only_incident(runtime)["failures"]
        assert failure["Error"] == "irflow.CommandStillRunning"
    finally:
        runtime.close()


def test_memory_capture_by_policy_fails_visibly_without_holding_up_containment(tmp_path: Path) -> None:
    runtime = start(tmp_path, policy={"capture_memory": True})
    try:
        web = Estate(runtime.aws).instance()
        execution = run(runtime, event("guardduty-ssh-bruteforce-high", web.id))
        states = entered(runtime, execution)
        assert "RecordMemoryError" in states and "IsolateInstance" in states  # no tool staged: ToolUnavailable
        incident = only_incident(runtime)
        assert any(f["step"] == "capture-memory" and f["Error"] == "irflow.ToolUnavailable"
                   for f in incident["failures"])
    finally:
        runtime.close()
