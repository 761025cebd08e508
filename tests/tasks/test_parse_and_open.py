"""parse-finding on real-format GuardDuty events, and open-incident's conditional write in the incidents table."""

from __future__ import annotations

import json

import pytest

from irflow.engine.resources import LocalFunction, invoke_local
from irflow.local.world import World
from tasks import open_incident, parse_finding
from tasks.common import incidents
from tasks.common.errors import InvalidFinding, InvalidInput
from tasks.common.models import OpenIncidentInput

from .conftest import EVENTS, CallLog, event

EXECUTION = "arn:aws:states:us-east-1:111111111111:execution:irflow-ec2-compromise:{}"


@pytest.mark.parametrize("name, finding_type, band, indicator", [
    ("guardduty-ssh-bruteforce-high", "UnauthorizedAccess:EC2/SSHBruteForce", "high", "198.51.100.23"),
    ("guardduty-ssh-bruteforce-low", "UnauthorizedAccess:EC2/SSHBruteForce", "low", "203.0.113.77"),
    ("guardduty-backdoor-cc-activity", "Backdoor:EC2/C&CActivity.B", "high", "192.0.2.145"),
    ("guardduty-bitcoin-tool-dns", "CryptoCurrency:EC2/BitcoinTool.B!DNS", "medium", "xmr.pool.minergate.com"),
    ("guardduty-rdp-bruteforce-windows", "UnauthorizedAccess:EC2/RDPBruteForce", "high", "198.51.100.23"),
])
def test_sample_findings_become_incidents(name: str, finding_type: str, band: str, indicator: str) -> None:
    parsed = parse_finding.parse(event(name), {})
    incident = parsed["incident"]
    assert incident["finding_type"] == finding_type
    assert incident["severity_band"] == band
    assert incident["instance_id"] == "i-0a1b2c3d4e5f60718" and incident["account_id"] == "222222222222"
    assert indicator in incident["remote_ips"] + incident["domains"]
    assert incident["incident_id"].startswith("inc-") and len(incident["incident_id"]) == 20
    # The same finding, re-sent with a higher count, is the same incident.
    again = parse_finding.parse(event(name, service={**event(name)["detail"]["service"], "count": 99}), {})
    assert again["incident"]["incident_id"] == incident["incident_id"] and again["incident"]["count"] == 99


def test_policy_strings_from_placeholders_become_numbers() -> None:
    policy = parse_finding.parse(event("guardduty-ssh-bruteforce-high"), {
        "approval_severity": "4.5", "isolate_severity": "7", "capture_memory": "true",
        "approval_timeout_seconds": "900", "on_approval_timeout": "escalate"})["policy"]
    assert policy == {"approval_severity": 4.5, "isolate_severity": 7.0, "capture_memory": True,
                      "approval_timeout_seconds": 900, "on_approval_timeout": "escalate"}
    with pytest.raises(InvalidInput, match="policy.isolate_severity"):
        parse_finding.parse(event("guardduty-ssh-bruteforce-high"), {"approval_severity": "8", "isolate_severity": "7"})


@pytest.mark.parametrize("name, field", [
    ("malformed-missing-instance-id", "detail.resource.instanceDetails.instanceId: Field required"),
    ("malformed-not-an-instance", "detail.resource.resourceType: Input should be 'Instance' (got 'AccessKey')"),
    ("malformed-severity", "detail.severity: Input should be a valid number"),
])
def test_malformed_events_fail_with_invalid_finding_naming_the_field(name: str, field: str) -> None:
    with pytest.raises(InvalidFinding) as raised:
        parse_finding.parse(json.loads((EVENTS / f"{name}.json").read_text()), {})
    assert field in str(raised.value)


def test_an_instance_id_that_could_be_a_command_is_refused() -> None:
    bad = event("guardduty-ssh-bruteforce-high")
    bad["detail"]["resource"]["instanceDetails"]["instanceId"] = "i-0123; rm -rf /"
    with pytest.raises(InvalidFinding, match="instanceId: String should match pattern"):
        parse_finding.parse(bad, {})


def test_lambda_reports_the_irflow_error_type_and_the_field() -> None:
    """As the Lambda Python runtime reports it: errorType is the class name Step Functions routes on."""
    bad = json.loads((EVENTS / "malformed-missing-instance-id.json").read_text())
    outcome = invoke_local(LocalFunction("irflow-parse-finding", "arn", parse_finding.handler),
                           {"event": bad, "policy": {}})
    payload = json.loads(outcome.payload)
    assert outcome.function_error == "Unhandled"
    assert payload["errorType"] == "irflow.InvalidFinding"
    assert payload["errorMessage"] == "detail.resource.instanceDetails.instanceId: Field required"


def test_open_incident_once_then_join(world: World, calls: CallLog) -> None:
    parsed = parse_finding.parse(event("guardduty-ssh-bruteforce-high"), {})
    first = OpenIncidentInput.model_validate({**parsed, "execution_arn": EXECUTION.format("one")})
    with calls.checking("open-incident"):
        assert open_incident.open_incident(first) == {"joined": False, "status": "open", "count": 41}

    # The same execution retrying (Lambda retry after a timeout) is not a join.
    assert open_incident.open_incident(first)["joined"] is False

    repeat = parse_finding.parse(event("guardduty-ssh-bruteforce-high", service={
        **event("guardduty-ssh-bruteforce-high")["detail"]["service"], "count": 57}), {})
    second = OpenIncidentInput.model_validate({**repeat, "execution_arn": EXECUTION.format("two")})
    assert open_incident.open_incident(second) == {"joined": True, "status": "open", "count": 57}

    incident_id = parsed["incident"]["incident_id"]
    record = incidents.load_incident(incident_id)
    assert record["count"] == 57 and record["executions"] == [EXECUTION.format("one"), EXECUTION.format("two")]
    assert [t["step"] for t in record["timeline"]] == ["open-incident", "open-incident"]
    assert "joined the open incident" in record["timeline"][1]["message"]
    assert [i["id"] for i in incidents.list_incidents()] == [incident_id]
    items = world.client("dynamodb").scan(TableName=world.central.incidents_table)["Items"]
    assert sum(1 for i in items if i["sk"]["S"] == "META") == 1


def test_a_finding_resent_after_a_failed_response_responds_again(world: World) -> None:
    parsed = parse_finding.parse(event("guardduty-ssh-bruteforce-high"), {})
    incident_id = parsed["incident"]["incident_id"]
    incidents.open_incident(parsed["incident"], parsed["policy"], EXECUTION.format("one"))
    incidents.set_status(incident_id, "failed")
    assert incidents.open_incident(parsed["incident"], parsed["policy"], EXECUTION.format("two"))["joined"] is False
    assert incidents.get_meta(incident_id)["opened_by"] == EXECUTION.format("two")  # type: ignore[index]
    assert incidents.open_incident(parsed["incident"], parsed["policy"], EXECUTION.format("three"))["joined"] is True


def test_load_incident_is_shaped_like_simulate_json(world: World) -> None:
    parsed = parse_finding.parse(event("guardduty-ssh-bruteforce-high"), {})
    incident_id = parsed["incident"]["incident_id"]
    incidents.open_incident(parsed["incident"], parsed["policy"], None)
    incidents.add_action(incident_id, "tag-instance", "i-0a1b2c3d4e5f60718", "done")
    incidents.add_action(incident_id, "tag-instance", "i-0a1b2c3d4e5f60718", "unchanged", keep_existing=True)
    incidents.add_evidence(incident_id, "s3://b/k", "ab" * 32, "test")
    incidents.add_timeline(incident_id, "collect-volatile", "failed", failure={"Error": "SSM.Failed", "Cause": "x"})
    incidents.set_status(incident_id, "contained")
    record = incidents.load_incident(incident_id)
    assert record["id"] == incident_id and record["status"] == "contained"
    assert record["actions"] == [{"name": "tag-instance", "target": "i-0a1b2c3d4e5f60718", "result": "done"}]
    assert record["evidence"] == [{"uri": "s3://b/k", "sha256": "ab" * 32}]
    assert record["approvals"] == []
    assert record["failures"] == [{"at": record["failures"][0]["at"], "step": "collect-volatile",
                                   "Error": "SSM.Failed", "Cause": "x"}]
    with pytest.raises(KeyError):
        incidents.load_incident("inc-0000000000000000")


def test_original_state_first_record_wins(world: World) -> None:
    assert incidents.save_original_state("inc-0000000000000001", "i-0123456789abcdef0", {"groups": ["sg-1"]})
    assert not incidents.save_original_state("inc-0000000000000001", "i-0123456789abcdef0", {"groups": ["sg-iso"]})
    assert incidents.get_original_state("inc-0000000000000001", "i-0123456789abcdef0") == {"groups": ["sg-1"]}
