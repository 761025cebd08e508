"""`irflow release`: the scenario's isolation undone by the release-instance task, read back from the world."""

from __future__ import annotations

import io
import json
from pathlib import Path

from irflow.local.release import main

TIMEOUT = str(Path(__file__).resolve().parents[2] / "scenarios" / "approval-timeout.yaml")
INCIDENT = "inc-575e7b83f3fa7ff6"  # derived from the scenario's finding id, the same on every run


def test_release_restores_what_isolation_changed() -> None:
    out = io.StringIO()
    assert main(TIMEOUT, INCIDENT, json_output=True, stdout=out) == 0
    report = json.loads(out.getvalue())
    assert report["error"] is None
    before, after = report["resources"]["web"]["before"], report["resources"]["web"]["after"]
    assert before["securityGroups"][0]["name"].startswith("irflow-isolation") and before["autoScalingGroup"] is None
    assert [g["name"] for g in after["securityGroups"]] == ["web-sg"]
    assert after["autoScalingGroup"] == "web-asg" and after["terminationProtection"] is False
    assert after["tags"]["irflow:status"] == "released" and after["state"] == "running"


def test_unknown_incident_is_one_line_and_exit_2() -> None:
    err = io.StringIO()
    assert main(TIMEOUT, "inc-0000000000000000", stdout=io.StringIO(), stderr=err) == 2
    assert err.getvalue().count("\n") == 1 and INCIDENT in err.getvalue()
