"""config-remediation end to end: lint, every scenario's expect: block, and the security groups afterwards."""

from __future__ import annotations

import json
from functools import cache

import pytest

from irflow.authoring.catalog import Catalog
from irflow.authoring.lint import lint_file

from .issue5_runs import REPO, SCENARIOS, Run, evidence_is_hashed

PLAYBOOK = REPO / "workflows" / "config-remediation"


def test_it_lints_clean() -> None:
    assert lint_file(PLAYBOOK / "definition.asl.json", Catalog.from_registry()) == []


@cache
def ran(name: str) -> Run:
    """Each scenario runs once per test session, whichever tests read it."""
    return Run(name)


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIOS.glob("config-*.yaml")))
def test_every_scenario_meets_its_expectations(name: str) -> None:
    assert ran(name).unmet == []


def test_a_world_open_ssh_rule_is_revoked_after_approval_and_the_rest_stays() -> None:
    run = ran("config-restricted-ssh")
    assert run.unmet == [] and run.outcome.exit_code == 0
    evidence_is_hashed(run)
    kept = json.loads(run.evidence_named("/security-group.json"))
    assert kept["config_rule"]["identifier"] == "INCOMING_SSH_DISABLED"
    assert kept["offending"] == [{"protocol": "tcp", "from_port": 22, "to_port": 22, "cidrs": ["0.0.0.0/0", "::/0"]}]
    (request,) = [n["message"] for n in run.seen["notifications"] if "Approval needed" in str(n["subject"])]
    assert "tcp 22 from 0.0.0.0/0, ::/0" in request and "other sources stay" in request
    group = run.doc["resources"]["bastion"]
    assert group["ingressRules"][0]["cidrs"] == ["198.51.100.0/24"]  # the office keeps SSH
    assert run.full["action_detail"][0]["detail"]["by"] == "irflow-simulate"
    assert ("bastion: ingress [tcp 22 from 0.0.0.0/0, 198.51.100.0/24, ::/0; tcp 443 from 0.0.0.0/0] -> "
            "[tcp 22 from 198.51.100.0/24; tcp 443 from 0.0.0.0/0]") in run.timeline.getvalue()


def test_the_rule_decides_which_ports_offend() -> None:
    run = ran("config-restricted-common-ports")
    assert run.unmet == []
    kept = json.loads(run.evidence_named("/security-group.json"))
    assert kept["ports_from"] == "Config rule RESTRICTED_INCOMING_TRAFFIC"
    assert [r["from_port"] for r in kept["offending"]] == [3306]


def test_bad_input_is_refused_and_kept_and_the_group_is_not_touched() -> None:
    run = ran("config-malformed-events")
    assert run.unmet == [] and run.outcome.exit_code == 1
    (refused,) = run.seen["rejected"]
    assert refused["error"] == "irflow.InvalidFinding" and "detail.awsAccountId" in refused["cause"]
    text = run.timeline.getvalue()
    assert text.count("matched no playbook trigger: nothing started") == 2


def test_a_group_that_no_longer_exists_is_recorded_not_chased() -> None:
    run = ran("config-group-gone")
    assert run.unmet == []
    assert run.full["failures"][0]["Error"] == "irflow.GroupNotFound"
    assert any("sg-0deadbeef0000f00d no longer exists" in s for s in run.subjects())
