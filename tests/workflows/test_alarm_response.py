"""alarm-response end to end: lint, every alarm scenario's expect: block, and the member account afterwards.

Each scenario runs as `irflow simulate` runs it (engine, tasks, embedded AWS, virtual clock);
the tests read the world back before it closes: irflow's IP sets and the web ACL's rules, the
claims and rollback data in the incidents table, the evidence objects, the notifications, the
refused events, and which AWS calls were made in the member account.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from irflow.authoring.catalog import Catalog
from irflow.authoring.lint import lint_file
from irflow.local.scenario import Created

from .issue5_runs import MEMBER, REPO, SCENARIOS, Run, evidence_is_hashed

PLAYBOOK = REPO / "workflows" / "alarm-response"


def _member_world(runtime: Any, created: dict[str, Created]) -> dict[str, Any]:
    """irflow's IP sets in the member account, the table's claims and rollback data, the WAF calls its tasks made."""
    world = runtime.aws
    waf = world.client("wafv2", MEMBER)
    sets = {s["Name"]: sorted(waf.get_ip_set(Name=s["Name"], Scope="REGIONAL", Id=s["Id"])["IPSet"]["Addresses"])
            for s in waf.list_ip_sets(Scope="REGIONAL", Limit=100)["IPSets"]}
    items = world.client("dynamodb").scan(TableName=world.central.incidents_table)["Items"]
    return {"ip_sets": sets,
            "claims": [i for i in items if i["pk"]["S"].startswith("WAFBLOCK#")],
            "originals": sorted(i["sk"]["S"].split(":", 1)[0] for i in items if i["sk"]["S"].startswith("ORIGINAL#")),
            "waf_calls": sorted({op for i in runtime.invocations for service, op in i.calls if service == "wafv2"}),
            "logs": runtime.logs.getvalue()}


@cache
def ran(name: str) -> Run:
    return Run(name, inspect=_member_world)


def test_it_lints_clean() -> None:
    assert lint_file(PLAYBOOK / "definition.asl.json", Catalog.from_registry()) == []


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIOS.glob("alarm-*.yaml")))
def test_every_scenario_meets_its_expectations(name: str) -> None:
    assert ran(name).unmet == []


def test_sql_injection_sources_are_blocked_after_approval_and_released_at_expiry() -> None:
    run = ran("alarm-waf-sqli")
    assert run.outcome.exit_code == 0
    evidence_is_hashed(run)
    kept = json.loads(run.evidence_named("/waf/sampled-requests-SQLiRuleSet.json"))
    assert len(kept["response"]["SampledRequests"]) == 6 and kept["response"]["PopulationSize"] == 41
    (request,) = [m for m in run.messages() if m.startswith("irflow asks for approval")]
    assert "198.51.100.7 (21 requests), 203.0.113.45 (8 requests), 2001:db8:4:7::21 (5 requests)" in request
    assert "for 24 hours" in request and "10.20.3.7" not in request
    timeline = run.timeline.getvalue()
    assert "blockedAddresses [] -> [198.51.100.7/32, 2001:db8:4:7::21/128, 203.0.113.45/32]" in timeline
    assert "blockedAddresses [198.51.100.7/32, 2001:db8:4:7::21/128, 203.0.113.45/32] -> []" in timeline
    assert run.seen["ip_sets"] == {"irflow-blocked-ipv4": [], "irflow-blocked-ipv6": []}
    assert run.seen["claims"] == []  # every claim expired with the block
    # rollback data, recorded before the first change: each IP set's addresses, the web ACL's rules (once)
    assert run.seen["originals"] == ["ORIGINAL#waf-ip-set", "ORIGINAL#waf-ip-set", "ORIGINAL#waf-web-acl"]
    assert "finding -> containment: 3m" in timeline  # approval after 3 minutes, then the block


def test_the_sns_path_starts_the_same_response_and_the_eventbridge_copy_joins_it() -> None:
    run = ran("alarm-waf-sqli-sns")
    timeline = run.timeline.getvalue()
    assert "alarm-router: started" in timeline
    assert "alarm-router: ignored (shop-sqli-blocked changed to OK" in timeline
    first, second = run.doc["executions"]
    assert first["executionArn"].endswith(":irflow-alarm-response:sns-aed590cd003d42375a2aa2a6b06c70133df7e9ea")
    assert [s["name"] for s in second["states"]][-1] == "JoinedOpenIncident"
    assert run.incident["actions"][0]["name"] == "block-ip-addresses"


@pytest.mark.parametrize("name", ["alarm-waf-sqli-rejected", "alarm-waf-sqli-timeout", "alarm-waf-sqli-nothing-to-block"])
def test_without_an_approved_block_nothing_is_created_in_the_member_account(name: str) -> None:
    run = ran(name)
    assert run.seen["ip_sets"] == {} and run.seen["claims"] == [] and run.seen["originals"] == []
    assert "UpdateWebACL" not in run.seen["waf_calls"] and "CreateIPSet" not in run.seen["waf_calls"]
    evidence_is_hashed(run)


def test_a_timed_out_approval_escalates() -> None:
    run = ran("alarm-waf-sqli-timeout")
    assert any(s.startswith("[irflow] ESCALATION: nobody approved action on shop-acl") for s in run.subjects())


def test_alarms_without_dimensions_read_nothing_and_say_why() -> None:
    run = ran("alarm-no-dimensions")
    assert run.seen["waf_calls"] == []
    notes = [m.splitlines()[0] for m in run.messages()]
    assert notes == ["the WAF alarm has no dimensions: it names no web ACL or rule",
                     "the DDoSDetected alarm has no ResourceArn dimension: irflow cannot tell which protected "
                     "resource it is about, so it only records and notifies"]


def test_alarms_about_deleted_resources_are_closed_without_changes() -> None:
    run = ran("alarm-resources-gone")
    errors = sorted(f["Error"] for i in run.seen["incidents_full"] for f in i["failures"])
    assert errors == ["irflow.ResourceGone", "irflow.WebAclNotFound"]
    assert run.seen["ip_sets"] == {} and "UpdateWebACL" not in run.seen["waf_calls"]


def test_a_ddos_pages_with_the_protected_resource() -> None:
    run = ran("alarm-shield-ddos")
    kept = json.loads(run.evidence_named("/shield/protected-resource.json"))
    assert kept["resource"]["kind"] == "load-balancer" and kept["protection"]["name"] == "shop-alb-protection"
    assert "[irflow] DDoS detected on shop-alb in 222222222222 us-east-1" in run.subjects()[0]
    assert run.seen["waf_calls"] == []


def test_bad_alarm_input_is_refused_and_kept() -> None:
    run = ran("alarm-malformed-and-unknown")
    assert run.outcome.exit_code == 1
    refused = sorted((r["error"], r["cause"]) for r in run.seen["rejected"])
    assert [e for e, _ in refused] == ["irflow.InvalidAlarm", "irflow.InvalidAlarm"]
    assert any("detail.state.timestamp" in c for _, c in refused)
    assert any("not a CloudWatch alarm notification" in c for _, c in refused)
    assert run.timeline.getvalue().count("matched no playbook trigger: nothing started") == 3
    assert run.seen["ip_sets"] == {} and run.seen["waf_calls"] == []


def test_no_member_role_means_nothing_read_and_a_person_told() -> None:
    run = ran("alarm-member-role-missing")
    assert run.outcome.exit_code == 1 and run.seen["waf_calls"] == []
    assert any(s.startswith("[irflow] ACTION NEEDED: cannot act in account 222222222222") for s in run.subjects())
