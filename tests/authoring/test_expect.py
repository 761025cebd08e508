"""`expect:` blocks against a simulate --json document: what matches, and how a mismatch reads."""

from __future__ import annotations

from typing import Any

from irflow.authoring.expect import check

DOCUMENT: dict[str, Any] = {
    "scenario": "ssh brute force",
    "executions": [{
        "playbook": "ec2-compromise", "executionArn": "arn:...:x", "status": "SUCCEEDED", "error": None,
        "cause": None,
        "states": [{"name": n, "type": "Task", "status": "SUCCEEDED"}
                   for n in ("ParseFinding", "Enrich", "Snapshot", "Isolate", "AskApproval", "Remediate")],
    }],
    "incidents": [{
        "id": "inc-0123456789abcdef", "status": "remediated",
        "actions": [{"name": "isolate-instance", "target": "i-0abc", "result": "isolated"},
                    {"name": "remediate-instance", "target": "i-0abc", "result": "stopped"}],
        "evidence": [], "approvals": [{"id": "apr-1", "decision": "approved", "by": "alice"}],
    }],
    "resources": {"web": {
        "id": "i-0abc", "state": "stopped", "tags": {"Name": "web-1", "irflow:status": "isolated"},
        "terminationProtection": True,
        "securityGroups": [{"id": "sg-1", "name": "irflow-isolation", "ingressRules": 0, "egressRules": 0}],
    }},
}


def test_a_matching_block_has_no_failures() -> None:
    assert check({
        "status": "SUCCEEDED",
        "executions": [{"playbook": "ec2-compromise", "status": "SUCCEEDED"}],
        "visited": ["ParseFinding", "Isolate", "Remediate"],
        "not_visited": ["Escalate"],
        "incident": {"status": "remediated", "actions": ["isolate-instance", {"name": "remediate-instance",
                                                                             "result": "stopped"}],
                     "approvals": [{"decision": "approved"}]},
        "resources": {"web": {"state": "stopped", "terminationProtection": True,
                              "tags": {"irflow:status": "isolated"}, "securityGroups": ["irflow-isolation"]}},
    }, DOCUMENT) == []


def test_each_mismatch_is_one_line_saying_where() -> None:
    failures = check({
        "status": "FAILED",
        "visited": ["Isolate", "Snapshot"],
        "not_visited": ["Remediate"],
        "incident": {"status": "awaiting-human", "actions": ["isolate-instance"]},
        "resources": {"web": {"state": "running", "securityGroups": [{"ingressRules": 1}]}, "db": {}},
        "approvals": "approve",
    }, DOCUMENT)
    assert failures == [
        "expect: unknown key 'approvals' (allowed: error, executions, incident, incidents, not_visited, "
        "playbook, resources, status, visited)",
        "status: expected 'FAILED', ec2-compromise execution ended with 'SUCCEEDED'",
        "visited: 'Snapshot' was not entered in that order (entered: ParseFinding, Enrich, Snapshot, Isolate, "
        "AskApproval, Remediate)",
        "not_visited: 'Remediate' was entered",
        "incident.status: expected 'awaiting-human', got 'remediated'",
        "incident.actions: expected 1 item(s), got 2: isolate-instance, remediate-instance",
        "resources.web.state: expected 'running', got 'stopped'",
        "resources.web.securityGroups[0].ingressRules: expected 1, got 0",
        "resources.db: no such scenario resource",
    ]


def test_no_execution_or_incident_is_a_failure_not_a_pass() -> None:
    empty = {"executions": [], "incidents": [], "resources": {}}
    assert check({"status": "SUCCEEDED", "incident": {"status": "open"}}, empty) == [
        "status: expected 'SUCCEEDED', but no execution ran",
        "incident: expected one, but no incident was recorded",
    ]


def test_playbook_narrows_the_execution_checks() -> None:
    assert check({"playbook": "ec2-compromise", "status": "SUCCEEDED", "visited": ["Isolate"]}, DOCUMENT) == []
    assert check({"playbook": "s3-data-exposure", "status": "SUCCEEDED"}, DOCUMENT) == [
        "status: expected 'SUCCEEDED', but no execution ran of s3-data-exposure"]
