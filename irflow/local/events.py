"""EventBridge to Step Functions: playbook triggers matched by moto, executions started locally.

moto gap filled: moto matches event patterns faithfully (numeric, prefix, anything-but, exists,
`$or`, ...) but cannot deliver to a Step Functions target (`put_events` raises
NotImplementedError); its SQS targets work. So each playbook trigger becomes a real rule on the
central account's default bus, as the deploy template makes it, whose target is a queue standing
in for the state machine. `put` sends the event with `PutEvents`, drains the queues, and starts
one execution per delivery in the engine, which is what EventBridge's Step Functions target
does.

Two more distortions are corrected on the way: moto's delivered event has no `account` field
and a fresh `id` and `time`. The delivered event takes them from the event as given (a
GuardDuty event forwarded from a member account keeps its id, account and time), falling back
to what EventBridge would have set.

The execution name is derived from the finding: its id and the time GuardDuty last updated it
(`detail.id` + `detail.updatedAt`; a digest of `detail` when they are missing). A redelivered
event therefore cannot run twice: the same name with the same input returns the existing
execution (`duplicate`), the same name with a different envelope is refused by Step Functions
(`ExecutionAlreadyExists`, reported as `exists`). A finding GuardDuty re-sends with new
content (a higher count, a later `updatedAt`) is a new execution, whose first steps join the
open incident for that finding instead of starting a second response.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .world import World

NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
ENVELOPE = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail")


@dataclass(frozen=True)
class Delivery:
    """One event delivered to one playbook, and what the engine did with it."""

    playbook: str
    event: dict[str, Any]
    execution_name: str
    execution_arn: str | None
    outcome: str  # started | duplicate | exists


class EventError(Exception):
    """EventBridge refused the event (PutEvents failed for it)."""


def execution_name(event: dict[str, Any]) -> str:
    """A Step Functions execution name from the finding's id and update time, stable across redeliveries."""
    detail = event.get("detail")
    finding_id = detail.get("id") if isinstance(detail, dict) else None
    updated = detail.get("updatedAt") if isinstance(detail, dict) else None
    if isinstance(finding_id, str) and finding_id and isinstance(updated, str) and updated:
        stamp = re.sub(r"\.\d+", "", updated).replace("-", "").replace(":", "")
        name = NAME_UNSAFE.sub("-", f"{finding_id}-{stamp}")
        if len(name) <= 80:
            return name
    canonical = json.dumps(detail if detail is not None else event, sort_keys=True, separators=(",", ":"))
    return "evt-" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


Starter = Callable[[str, str, str], tuple[str, str]]  # (playbook, name, input) -> (arn, outcome)


class EventRouter:
    """Rules per playbook trigger on the central bus, a queue per playbook, executions in the engine."""

    def __init__(self, world: World, start: Starter) -> None:
        self._world = world
        self._start = start
        self._queues: dict[str, str] = {}

    def add_playbook(self, playbook: str, patterns: list[dict[str, Any]]) -> None:
        """One rule per trigger pattern, all targeting the playbook's queue."""
        sqs = self._world.client("sqs")
        url = sqs.create_queue(QueueName=f"irflow-playbook-{playbook}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events = self._world.client("events")
        for index, pattern in enumerate(patterns):
            rule = f"irflow-{playbook}-{index}"
            events.put_rule(Name=rule, EventPattern=json.dumps(pattern), State="ENABLED",
                            Description=f"Starts the {playbook} playbook")
            events.put_targets(Rule=rule, Targets=[{"Id": "playbook", "Arn": arn}])
        self._queues[playbook] = url

    def put(self, event: dict[str, Any]) -> list[Delivery]:
        """Send `event` to the central bus; start an execution for every playbook it matches."""
        entry: dict[str, Any] = {
            "Source": event.get("source"),
            "DetailType": event.get("detail-type"),
            "Detail": json.dumps(event.get("detail")),
            "Resources": event.get("resources") or [],
        }
        if isinstance(event.get("time"), str):
            try:
                entry["Time"] = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
            except ValueError as bad:
                raise EventError(f"event time {event['time']!r} is not an ISO 8601 timestamp") from bad
        missing = [name for name, key in (("source", "Source"), ("detail-type", "DetailType")) if not entry[key]]
        if missing or not isinstance(event.get("detail"), dict):
            raise EventError("EventBridge requires source, detail-type and a detail object; this event lacks "
                             + ", ".join(missing or ["a detail object"]))
        result = self._world.client("events").put_events(Entries=[entry])
        if result.get("FailedEntryCount"):
            failed = result["Entries"][0]
            raise EventError(f"PutEvents refused the event: {failed.get('ErrorCode')}: {failed.get('ErrorMessage')}")
        return self.deliver_pending(event)

    def deliver_pending(self, given: dict[str, Any] | None = None) -> list[Delivery]:
        """Start an execution for every event waiting in the playbooks' queues.

        `given` is the event as it was put (its id, account and time are kept); without it the
        events were put by a task (log-detection's detections), in the security account, at the
        world's time (moto stamps its own wall clock).
        """
        deliveries = []
        for playbook, url in self._queues.items():
            for delivered in self._drain(url):
                for key in ("id", "account", "time"):
                    if given is not None and key in given:
                        delivered[key] = given[key]
                if given is None:
                    delivered["time"] = self._world.now().strftime("%Y-%m-%dT%H:%M:%SZ")
                delivered.setdefault("account", self._world.security_account)
                delivered = {key: delivered[key] for key in ENVELOPE if key in delivered} | {
                    key: value for key, value in delivered.items() if key not in ENVELOPE}
                name = execution_name(delivered)
                arn, outcome = self._start(playbook, name, json.dumps(delivered))
                deliveries.append(Delivery(playbook, delivered, name, arn, outcome))
        return deliveries

    def _drain(self, url: str) -> list[dict[str, Any]]:
        sqs = self._world.client("sqs")
        out: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return out
            for message in messages:
                out.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
