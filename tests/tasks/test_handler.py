"""The Lambda glue every task shares: validation errors, AWS error names, Powertools logs and metrics, tracing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from irflow.engine.resources import LocalFunction, invoke_local
from tasks.common.errors import InvalidInput
from tasks.common.handler import task_handler
from tasks.common.models import IncidentInput
from tasks.registry import get

REPO = Path(__file__).resolve().parents[2]
SPEC = get("verify-access")
EXAMPLE = SPEC.example


def raising(code: str) -> Any:
    def run(data: IncidentInput) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": code, "Message": f"{code} happened"}}, "DescribeInstances")
    return task_handler(SPEC, IncidentInput, run)


@pytest.mark.parametrize("code, error_type", [
    ("RequestLimitExceeded", "irflow.Throttled"),
    ("ThrottlingException", "irflow.Throttled"),
    ("UnauthorizedOperation", "irflow.AccessDenied"),
    ("InvalidParameterValue", "ClientError"),
])
def test_aws_errors_get_the_names_the_playbook_routes_on(code: str, error_type: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    outcome = invoke_local(LocalFunction("irflow-verify-access", "arn", raising(code)), EXAMPLE)
    payload = json.loads(outcome.payload)
    assert payload["errorType"] == error_type
    assert code in payload["errorMessage"]


def test_a_wiring_mistake_fails_before_anything_is_touched(capsys: pytest.CaptureFixture[str]) -> None:
    touched = []
    handler = task_handler(SPEC, IncidentInput, lambda data: touched.append(data) or {})
    with pytest.raises(InvalidInput) as raised:
        handler({"incident": {**EXAMPLE["incident"], "instance_id": "web-1"}, "extra": 1}, None)
    assert "incident.instance_id: String should match pattern" in str(raised.value)
    assert "extra: Extra inputs are not permitted" in str(raised.value)
    assert touched == []


def test_logs_carry_the_incident_id_and_metrics_are_emitted(capsys: pytest.CaptureFixture[str]) -> None:
    handler = task_handler(SPEC, IncidentInput, lambda data: {"ok": True})
    handler(EXAMPLE, None)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    log = next(line for line in lines if line.get("message") == "task finished")
    assert log["correlation_id"] == log["incident_id"] == EXAMPLE["incident"]["incident_id"]
    assert log["task"] == "verify-access"
    metrics = next(line for line in lines if "_aws" in line)
    assert metrics["TaskSucceeded"] == [1.0] and metrics["task"] == "verify-access"


def test_in_lambda_with_tracing_on_the_task_runs_in_an_xray_subsegment() -> None:
    env = {**os.environ, "AWS_LAMBDA_FUNCTION_NAME": "irflow-parse-finding", "LAMBDA_TASK_ROOT": "/tmp",
           "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"}
    env.pop("POWERTOOLS_TRACE_DISABLED", None)
    code = ("import tasks.parse_finding as p, tasks.common.handler as h; p.handler(p.TASK.example, None); "
            "print('tracer:', type(h.tools().tracer).__name__)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert "tracer: Tracer" in result.stdout
    assert '"xray_trace_id":"1-5759e988-bd862e3fe1be46a994272793"' in result.stdout
