"""Finding templates: the repository's samples and scenario events, made into fresh findings about a chosen instance."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from irflow.console.templates import Target, load_templates, prepare
from irflow.local.events import execution_name
from tasks.common.models import incident_id_for

from .conftest import REPO

NOW = datetime(2026, 5, 4, 3, 2, 1, 500000, tzinfo=UTC)
TARGET = Target("i-0123456789abcdef0", "333333333333", "eu-west-1", "db-1")


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_templates_come_from_samples_and_scenarios_without_repeats() -> None:
    templates = load_templates(REPO)
    keys = [t.key for t in templates]
    assert "guardduty-ssh-bruteforce-high" in keys and "malformed-severity" in keys
    assert "scenario-low-severity" in keys
    assert "scenario-duplicate-finding-1" in keys  # a scenario with several events gives one template each
    assert len(keys) == len(set(keys))
    canonical = [json.dumps(t.event, sort_keys=True) for t in templates]
    assert len(canonical) == len(set(canonical))
    high = next(t for t in templates if t.key == "guardduty-ssh-bruteforce-high")
    assert high.title.endswith("UnauthorizedAccess:EC2/SSHBruteForce, severity 8")
    assert high.source == "tests/events/guardduty-ssh-bruteforce-high.json"


def test_prepare_makes_a_new_finding_about_the_target() -> None:
    template = next(t for t in load_templates(REPO) if t.key == "guardduty-ssh-bruteforce-high")
    old = template.event
    old_instance = old["detail"]["resource"]["instanceDetails"]["instanceId"]
    event = prepare(old, TARGET, NOW)
    detail = event["detail"]
    assert detail["resource"]["instanceDetails"]["instanceId"] == TARGET.id
    assert (detail["accountId"], detail["region"], event["account"], event["region"]) == \
           (TARGET.account, TARGET.region, TARGET.account, TARGET.region)
    text = _strings(event)
    assert not any(old_instance in s or old["detail"]["id"] in s or "222222222222" in s for s in text)
    assert detail["id"] != old["detail"]["id"] and detail["id"] in detail["arn"]
    assert detail["arn"].startswith(f"arn:aws:guardduty:{TARGET.region}:{TARGET.account}:")
    assert TARGET.id in detail["title"]
    assert event["time"] == "2026-05-04T03:02:01Z" and detail["updatedAt"] == "2026-05-04T03:02:01.500Z"
    assert event["id"] != old["id"]
    assert old["detail"]["resource"]["instanceDetails"]["instanceId"] == old_instance  # the template is untouched
    # A new finding: its own incident and its own execution name, never joining the template's.
    assert incident_id_for(TARGET.account, TARGET.region, detail["id"]) != \
        incident_id_for(old["detail"]["accountId"], old["detail"]["region"], old["detail"]["id"])
    assert execution_name(event) != execution_name(old)


def test_prepare_fills_a_scenarios_references() -> None:
    template = next(t for t in load_templates(REPO) if t.key == "scenario-low-severity")
    assert any("${web.id}" in s for s in _strings(template.event))
    event = prepare(template.event, TARGET, NOW)
    assert not any("${" in s for s in _strings(event))
    assert event["detail"]["resource"]["instanceDetails"]["instanceId"] == TARGET.id


def test_prepare_without_a_target_keeps_the_instance() -> None:
    template = next(t for t in load_templates(REPO) if t.key == "guardduty-ssh-bruteforce-low")
    event = prepare(template.event, None, NOW)
    assert event["detail"]["resource"]["instanceDetails"]["instanceId"] == \
        template.event["detail"]["resource"]["instanceDetails"]["instanceId"]
    assert event["detail"]["id"] != template.event["detail"]["id"]


def test_prepare_leaves_a_malformed_event_malformed() -> None:
    assert prepare({"detail": "not an object"}, TARGET, NOW) == {"detail": "not an object"}
    template = next(t for t in load_templates(REPO) if t.key == "malformed-not-an-instance")
    event = prepare(template.event, TARGET, NOW)
    assert "instanceDetails" not in (event["detail"].get("resource") or {})
