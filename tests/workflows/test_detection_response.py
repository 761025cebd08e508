"""Log detections end to end: CloudWatch Logs deliveries through log-detection and detection-response.

Each logs-*.yaml scenario runs as `irflow simulate` runs it: the delivery invokes the
log-detection function, its detections go through EventBridge to detection-response on the
engine, against the embedded AWS. The tests read back the evidence (the detections with their
records), the incident statuses, the security groups, the refused deliveries in the incidents
table, and the embedded-metric lines the function wrote.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from irflow.authoring.catalog import Catalog
from irflow.authoring.lint import lint_file
from irflow.local.scenario import Created

from .issue5_runs import REPO, SCENARIOS, Run, evidence_is_hashed

PLAYBOOK = REPO / "workflows" / "detection-response"


def _logs(runtime: Any, created: dict[str, Created]) -> dict[str, Any]:
    return {"logs": runtime.logs.getvalue()}


@cache
def ran(name: str) -> Run:
    return Run(name, inspect=_logs)


def detections(run: Run) -> dict[str, dict[str, Any]]:
    """Each incident's kept detection (detection.json), by rule."""
    found = {}
    for uri, body in run.seen["evidence"].items():
        if uri.endswith("/detection.json"):
            detail = json.loads(body)
            found[detail["rule"]["id"]] = detail
    return found


def statuses(run: Run) -> dict[str, str]:
    by_incident = {i["id"]: i["status"] for i in run.doc["incidents"]}
    return {rule: by_incident[uri.split("/")[-2]] for uri, body in run.seen["evidence"].items()
            if uri.endswith("/detection.json") for rule in [json.loads(body)["rule"]["id"]]}


def test_it_lints_clean() -> None:
    assert lint_file(PLAYBOOK / "definition.asl.json", Catalog.from_registry()) == []


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIOS.glob("logs-*.yaml")))
def test_every_scenario_meets_its_expectations(name: str) -> None:
    assert ran(name).unmet == []


def test_a_root_sign_in_is_kept_with_its_record_and_left_for_a_person() -> None:
    run = ran("logs-root-sign-in")
    evidence_is_hashed(run)
    kept = detections(run)["root-console-sign-in"]
    assert kept["records"][0]["userIdentity"]["type"] == "Root" and kept["logGroup"] == "/irflow/cloudtrail"
    assert run.subjects()[0].startswith("[irflow] REVIEW: Root user signed in to the console of 222222222222 from "
                                        "203.0.113.77")


def test_cloudtrail_detections_by_severity_and_the_users_created_metric() -> None:
    run = ran("logs-cloudtrail-detections")
    assert statuses(run) == {
        "iam-user-created": "closed", "iam-access-key-created": "closed", "cloudtrail-updated": "closed",
        "iam-administrator-attached-to-user": "awaiting-human", "cloudtrail-stopped-or-deleted": "awaiting-human",
        "guardduty-disabled": "awaiting-human", "macie-disabled": "awaiting-human"}
    trail = detections(run)["cloudtrail-stopped-or-deleted"]
    assert trail["count"] == 2 and [r["eventName"] for r in trail["records"]] == ["StopLogging", "DeleteTrail"]
    assert detections(run)["iam-user-created"]["resource"] == {"type": "iam-user", "id": "backup-svc"}
    emf = [json.loads(line) for line in run.seen["logs"].splitlines() if line.startswith('{"_aws"')]
    metrics = [m for m in emf if "IamUsersCreated" in m]  # the tasks' own Powertools metrics are there too
    assert [(m["AccountId"], m["IamUsersCreated"]) for m in metrics] == [("222222222222", 1)]
    assert metrics[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "irflow/detections"


def test_a_security_group_opened_to_the_world_is_revoked_through_config_remediations_tasks() -> None:
    run = ran("logs-security-group-open")
    evidence_is_hashed(run)
    group = json.loads(run.evidence_named("/security-group.json"))
    assert group["offending"] == [{"protocol": "tcp", "from_port": 22, "to_port": 22, "cidrs": ["0.0.0.0/0"]}]
    assert group["ports_from"] == "policy fallback_ports"  # no Config rule behind a log detection
    (request,) = [m for m in run.messages() if m.startswith("irflow asks for approval")]
    assert "tcp 22 from 0.0.0.0/0" in request
    assert run.doc["resources"]["web_sg"]["ingressRules"][0]["cidrs"] == ["10.40.0.0/16"]
    assert [d for d in detections(run)] == ["security-group-open-to-world"]  # HTTPS to the world is no detection


def test_vpc_flow_detections() -> None:
    run = ran("logs-vpc-flow-detections")
    found = detections(run)
    assert found["flow-rejected-surge"]["count"] == 25 and found["flow-rejected-surge"]["group"] == {"srcaddr": "203.0.113.9"}
    assert found["flow-rejected-surge"]["recordsTruncated"] is True
    assert found["flow-admin-port-accepted-from-internet"]["records"][0]["srcaddr"] == "198.51.100.77"
    assert found["flow-traffic-to-bad-address"]["records"][0]["dstaddr"] == "203.0.113.66"
    assert "log-detection: detected: flow-admin-port-accepted-from-internet, flow-rejected-surge, " \
           "flow-traffic-to-bad-address" in run.timeline.getvalue()


def test_unreadable_deliveries_are_recorded_and_start_nothing() -> None:
    run = ran("logs-bad-payloads")
    causes = sorted(r["cause"] for r in run.seen["rejected"])
    assert [r["error"] for r in run.seen["rejected"]] == ["irflow.InvalidLogPayload"] * 3
    assert causes == ["awslogs.data is not base64", "awslogs.data is not gzip (no gzip header after base64 decoding)",
                      "awslogs.data is truncated: the gzip stream ends early"]
    assert "log-detection: control-message: no detection" in run.timeline.getvalue()
    assert run.seen["evidence"] == {}


def test_a_redelivery_starts_nothing_and_a_repeat_joins_the_incident() -> None:
    run = ran("logs-repeated-detection")
    assert "Step Functions refuses a second execution" in run.timeline.getvalue()
    (incident,) = run.seen["incidents_full"]
    assert incident["count"] == 1 and len(incident["executions"]) == 2
    assert any("re-sent the finding" in t["message"] for t in incident["timeline"])


def test_malformed_detections_are_refused() -> None:
    run = ran("logs-malformed-detections")
    (refused,) = run.seen["rejected"]
    assert refused["error"] == "irflow.InvalidDetection" and "detail.rule.source" in refused["cause"]
    assert run.timeline.getvalue().count("matched no playbook trigger: nothing started") == 2
