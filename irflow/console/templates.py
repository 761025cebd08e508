"""Finding templates for a manual run: sample GuardDuty events, made into a fresh finding about a chosen instance.

A responder who starts a playbook by hand (as from the Step Functions console) pastes an event;
the console offers the repository's samples (`tests/events/*.json`) and every scenario's events
(`scenarios/*.yaml`, their `${NAME.attr}` references left for `prepare` to fill). `prepare`
turns a template into the input of a new run: the chosen instance, its account and region put
wherever the template named its own (ids inside titles and ARNs too), a new finding id (a manual
run is new work, not a redelivery that would join another incident), and the current time.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

REFERENCE = re.compile(r"\$\{[A-Za-z][A-Za-z0-9_-]*\.(id|arn|name|account|region)\}")
ACCOUNT = re.compile(r"^\d{12}$")


@dataclass(frozen=True)
class Template:
    """One sample event; `key` is stable across restarts (used in URLs)."""

    key: str
    title: str
    source: str  # where it comes from, relative to the repository
    event: dict[str, Any]


@dataclass(frozen=True)
class Target:
    """An instance a manual run can be about."""

    id: str
    account: str
    region: str
    name: str

    @property
    def arn(self) -> str:
        return f"arn:aws:ec2:{self.region}:{self.account}:instance/{self.id}"

    @property
    def label(self) -> str:
        return f"{self.name} ({self.id}, {self.account} {self.region})" if self.name != self.id else \
            f"{self.id} ({self.account} {self.region})"


def _describe(event: dict[str, Any]) -> str:
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
    assert isinstance(detail, dict)
    kind = detail.get("type") or event.get("detail-type") or "event"
    severity = detail.get("severity")
    return f"{kind}, severity {severity}" if severity is not None else str(kind)


def load_templates(root: Path) -> list[Template]:
    """The samples in `tests/events/` and the events of `scenarios/*.yaml` under `root`, without repeats."""
    from irflow.local.scenario import ScenarioError, load

    found: list[Template] = []
    seen: set[str] = set()

    def add(key: str, title: str, source: str, event: Any) -> None:
        canonical = json.dumps(event, sort_keys=True)
        if isinstance(event, dict) and canonical not in seen:
            seen.add(canonical)
            found.append(Template(key, f"{title}: {_describe(event)}", source, event))

    for path in sorted((root / "tests" / "events").glob("*.json")):
        try:
            add(path.stem, path.stem, str(path.relative_to(root)), json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    for path in sorted((root / "scenarios").glob("*.yaml")):
        try:
            scenario = load(path)
        except ScenarioError:
            continue
        for index, event in enumerate(scenario.events, start=1):
            suffix = f"-{index}" if len(scenario.events) > 1 else ""
            add(f"scenario-{path.stem}{suffix}", f"scenario {path.stem}{suffix}", str(path.relative_to(root)), event)
    return found


def _replace(value: Any, mapping: dict[str, str]) -> Any:
    """Every string with each `mapping` key replaced by its value (keys of dicts too)."""
    if isinstance(value, str):
        for old, new in mapping.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {_replace(k, mapping): _replace(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, mapping) for v in value]
    return value


def _resolve(value: Any, target: Target) -> Any:
    """`${ANY.attr}` -> the target's attribute (a scenario's references all name its one instance)."""
    if isinstance(value, str):
        return REFERENCE.sub(lambda m: str(getattr(target, m.group(1))), value)
    if isinstance(value, dict):
        return {_resolve(k, target): _resolve(v, target) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, target) for v in value]
    return value


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def prepare(event: dict[str, Any], target: Target | None, now: datetime) -> dict[str, Any]:
    """A new finding from a template: about `target` (when given), with a new id, updated now."""
    event = copy.deepcopy(event)
    detail = event.get("detail")
    if not isinstance(detail, dict):
        return event
    mapping: dict[str, str] = {}
    if target is not None:
        event = _resolve(event, target)
        detail = event["detail"]
        instance = (detail.get("resource") or {}).get("instanceDetails") if isinstance(detail.get("resource"), dict) \
            else None
        if isinstance(instance, dict):
            old = instance.get("instanceId")
            if isinstance(old, str) and old and old != target.id:
                mapping[old] = target.id
            instance["instanceId"] = target.id
        old_account = detail.get("accountId")
        if isinstance(old_account, str) and ACCOUNT.match(old_account) and old_account != target.account:
            mapping[old_account] = target.account
        old_region = detail.get("region")
        if isinstance(old_region, str) and old_region and old_region != target.region:
            mapping[old_region] = target.region
    finding_id = detail.get("id")
    if isinstance(finding_id, str) and finding_id:
        mapping[finding_id] = uuid.uuid4().hex
    event = _replace(event, mapping)
    detail = event["detail"]
    if target is not None:
        detail["accountId"], detail["region"] = target.account, target.region
        event["account"], event["region"] = target.account, target.region
    event["id"] = str(uuid.uuid4())
    event["time"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    if "updatedAt" in detail:
        detail["updatedAt"] = _stamp(now)
    return event
