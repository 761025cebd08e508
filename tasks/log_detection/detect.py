"""Applying the rules to one decoded delivery: detections (for the bus) and metric counts (for EMF).

Each log event is read as a CloudTrail record or a VPC flow record and tested against the rules
of its source. Matches of a rule without a threshold are grouped by the resource they concern,
one detection each; a rule with a threshold detects when at least `count` matching records with
the same `group_by` values fall within `within_seconds` of each other (counted within the
delivery: CloudWatch Logs batches events, so a surge spread over several deliveries is counted
per delivery). A metric rule adds one per matching record to its count, per dimension values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .records import Batch, LogEvent, cloudtrail_record, flow_record
from .rules import Rule, fill

MAX_RECORDS = 10  # matched records carried in a detection event (the rest are counted)
MAX_EVENT_IDS = 50
MAX_DETAIL_BYTES = 200_000  # EventBridge takes 256 KB per entry


@dataclass
class Match:
    record: dict[str, Any]
    event: LogEvent
    at: int  # milliseconds: the record's own time when it has one, else the log event's


@dataclass
class Detection:
    rule: Rule
    account: str
    region: str
    resource_id: str
    matches: list[Match]
    group: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """Stable for the same log events (a redelivered batch), different for new ones."""
        ids = ",".join(sorted(m.event.id for m in self.matches))
        return hashlib.sha256(f"{self.rule.id}|{ids}".encode()).hexdigest()[:32]

    def detail(self, batch: Batch) -> dict[str, Any]:
        """The `irflow Detection` event's detail (format documented in CONTRIBUTING.md)."""
        first, last = min(m.at for m in self.matches), max(m.at for m in self.matches)
        context = _context(self.matches[0].record, self.account, self.region)
        detail: dict[str, Any] = {
            "id": self.id,
            "rule": {"id": self.rule.id, "description": self.rule.description, "source": self.rule.source,
                     "playbook": self.rule.playbook},
            "playbook": self.rule.playbook,
            "title": fill(self.rule.title, context),
            "severity": self.rule.severity,
            "accountId": self.account,
            "region": self.region,
            "resource": {"type": self.rule.resource_type, "id": self.resource_id},
            "count": len(self.matches),
            "group": self.group,
            "firstSeen": iso(first),
            "lastSeen": iso(last),
            "updatedAt": iso(last),
            "logGroup": batch.log_group,
            "logStream": batch.log_stream,
            "logEventIds": [m.event.id for m in self.matches][:MAX_EVENT_IDS],
            "records": [m.record for m in self.matches[:MAX_RECORDS]],
            "recordsTruncated": len(self.matches) > MAX_RECORDS,
        }
        while len(json.dumps(detail)) > MAX_DETAIL_BYTES and detail["records"]:
            detail["records"] = detail["records"][:-1]
            detail["recordsTruncated"] = True
        return detail


@dataclass
class Result:
    records: dict[str, int]  # per source, and "unreadable"
    detections: list[Detection]
    metrics: dict[tuple[str, str, tuple[tuple[str, str], ...]], int]  # (namespace, name, dimensions) -> count


def iso(milliseconds: int) -> str:
    when = datetime.fromtimestamp(milliseconds / 1000, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(record: dict[str, Any], source: str, event: LogEvent) -> int:
    if source == "vpc-flow-logs" and isinstance(record.get("start"), int):
        return int(record["start"]) * 1000
    stamp = record.get("eventTime")
    if source == "cloudtrail" and isinstance(stamp, str):
        try:
            return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            pass
    return event.timestamp


def _account(record: dict[str, Any], source: str, owner: str) -> str:
    """The account the activity happened in (a CloudTrail record says; a flow record carries its own)."""
    value = record.get("recipientAccountId") if source == "cloudtrail" else record.get("account_id")
    return str(value) if isinstance(value, str) and value.isdigit() and len(value) == 12 else owner


def _context(record: dict[str, Any], account: str, region: str) -> dict[str, Any]:
    """What templates may name: the record's fields, and `account` / `region`."""
    return {"account": account, "region": region, **record}


def read(batch: Batch) -> tuple[dict[str, list[tuple[dict[str, Any], LogEvent]]], int]:
    """The batch's records by source, and how many log events were neither."""
    by_source: dict[str, list[tuple[dict[str, Any], LogEvent]]] = {"cloudtrail": [], "vpc-flow-logs": []}
    unreadable = 0
    for event in batch.events:
        if event.message.lstrip().startswith("{"):
            record = cloudtrail_record(event)
            source = "cloudtrail"
        else:
            record = flow_record(event)
            source = "vpc-flow-logs"
        if record is None:
            unreadable += 1
        else:
            by_source[source].append((record, event))
    return by_source, unreadable


def evaluate(batch: Batch, rules: Iterable[Rule], region: str) -> Result:
    """Apply every rule to every record of the batch."""
    by_source, unreadable = read(batch)
    detections: list[Detection] = []
    metrics: dict[tuple[str, str, tuple[tuple[str, str], ...]], int] = {}
    for rule in rules:
        matched: list[tuple[Match, str, str]] = []  # match, account, region
        for record, event in by_source.get(rule.source, []):
            if not rule.matches(record):
                continue
            account = _account(record, rule.source, batch.owner)
            where = str(record.get("awsRegion") or region)
            matched.append((Match(record, event, _time(record, rule.source, event)), account, where))
            if rule.metric is not None:
                context = _context(record, account, where)
                dims = tuple((name, fill(template, context)) for name, template in rule.metric.dimensions)
                key = (rule.metric.namespace, rule.metric.name, dims)
                metrics[key] = metrics.get(key, 0) + 1
        if rule.playbook is not None and matched:
            detections.extend(_detections(rule, matched))
    counts = {source: len(items) for source, items in by_source.items()}
    counts["unreadable"] = unreadable
    return Result(counts, detections, metrics)


def _detections(rule: Rule, matched: list[tuple[Match, str, str]]) -> list[Detection]:
    groups: dict[tuple[str, ...], list[tuple[Match, str, str]]] = {}
    for item in matched:
        match, account, where = item
        context = _context(match.record, account, where)
        if rule.threshold is not None:
            key = (account, *(fill("{" + path + "}", context) for path in rule.threshold.group_by))
        else:
            key = (account, fill(rule.resource_id, context))
        groups.setdefault(key, []).append(item)
    found: list[Detection] = []
    for key, items in groups.items():
        items.sort(key=lambda i: i[0].at)
        if rule.threshold is not None:
            items = densest(items, rule.threshold.within_seconds * 1000)
            if len(items) < rule.threshold.count:
                continue
        first, account, where = items[0]
        resource = fill(rule.resource_id, _context(first.record, account, where))
        group = dict(zip(rule.threshold.group_by, key[1:], strict=True)) if rule.threshold else {}
        found.append(Detection(rule, account, where, resource, [i[0] for i in items], group))
    return found


def densest(items: list[tuple[Match, str, str]], window_ms: int) -> list[tuple[Match, str, str]]:
    """The largest run of (time-sorted) items that fits in the window."""
    best = (0, 0)
    start = 0
    for end in range(len(items)):
        while items[end][0].at - items[start][0].at > window_ms:
            start += 1
        if end + 1 - start > best[1] - best[0]:
            best = (start, end + 1)
    return items[best[0]:best[1]]


def emf(metrics: dict[tuple[str, str, tuple[tuple[str, str], ...]], int], timestamp_ms: int) -> list[str]:
    """CloudWatch embedded-metric-format lines, one per (namespace, metric, dimension values)."""
    lines = []
    for (namespace, name, dims), count in sorted(metrics.items()):
        document: dict[str, Any] = {
            "_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": [{
                "Namespace": namespace, "Dimensions": [[d for d, _ in dims]],
                "Metrics": [{"Name": name, "Unit": "Count"}]}]},
            **dict(dims), name: count,
        }
        lines.append(json.dumps(document, separators=(",", ":")))
    return lines
