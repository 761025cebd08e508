"""log-detection: read CloudTrail and VPC Flow Logs records as CloudWatch Logs delivers them, and raise detections.

Subscribed to log groups (the trail's and the flow logs'), this function decodes each delivery
(base64, gzip, JSON: `records.py`), applies the detection rules written as data in `rules/*.yaml`
(`rules.py`, `detect.py`) and puts one `irflow Detection` event per detection on irflow's bus,
where the playbook the rule names starts on it. It also writes embedded-metric (EMF) lines for
rules that count, such as IAM users created per account, for a dashboard. A delivery it cannot
read (not base64, not gzip, truncated, not the subscription JSON) is recorded as a refused event
in the incidents table and the function returns normally: Lambda's retries of an asynchronous
invocation could not make it readable. CloudWatch Logs' control message (a destination check)
is acknowledged and ignored.

Example event:

    {"awslogs": {"data": "H4sIAAAAAAACA31S72vbMBD9V4I+bRC7ln/H/WTatIQtXWmyDbaUokiKEchSJsnL0pL/fWc5ybIPmxDY3D29e3f33lDLrSUNX+63HFXotl7WL/PpYlHfT9EY6Z3iBsL44kBY6ube6G4LmSthNlLvrqjUHXOGCDnkF85w0gIgvjgvNz1q2aNeOhtwYl3Q89lubakRWye0uhPScWNR9R0N1AGwBYw7Tvs0evb0059cuR70hgSDKkmZpFGWT4oEw1+R4Qku8jKJJ0WKyzSPC1wkkzxNijJOcJqXOM4KnKclFHcCRuBIC90AKCviOPJnfBoN0L+tEO8rfgFlIGKFqhXCYTRZofEKdZabGYOscHvIANbBMD3mSWvnMVsjFBVbImfMJy6n4gHEDKzwrcjOVoK0VXWJqsyJi1CqO+X+yUQp6P7A90fACh3GR/lLaHV4FMVZEGG4y2hSRRHcb/6xhy10Z+gAtKJRQoWkJa9aga6Q6vYP8IEc+W60slryj7oRahCxs0+8OY3qvGufs55+9lgzZkDpUVASRiHGSVgU56HWDdTw6bl+FVKSqyyMRu++CsX0zo4eliMchdH1CAJ5ej36lafv/VvDf3Sw0kdiQF9vJuBQnZQ+ZbeglU8lb3sHDfv6Wz7UW3R+iMPoCGOitx6R3nW3xJHh2VyvheSXnnjQXsD8rv5sOTuHzguY3fpYsqGbdUFxUGxiHqSbhAYTFpEgwzTmJSvWOUmPnRD2ScneVhsiLT8v8mSwemeP4hewqdkw/JYosG3fnxcMQGc67unAgwJC9f8t5GvcEMcbbfbDAs6U0A06PB9+A3j028s5BAAA"}}
"""

from __future__ import annotations

import hashlib
import json
import sys
from functools import cache
from typing import Any

from tasks.common import clock, incidents
from tasks.common.aws import client
from tasks.common.config import settings
from tasks.common.handler import task_handler
from tasks.common.models import Strict
from tasks.registry import TaskSpec

from .detect import Detection, emf, evaluate
from .records import Batch, PayloadError, decode
from .rules import Rule, load_rules

TASK = TaskSpec.declare(
    __name__, __doc__, name="log-detection", member_permissions=(),
    central_permissions=("events:PutEvents", "dynamodb:PutItem"), destructive=False,
    model="tasks.log_detection.LogsEvent", timeout_seconds=60)

SOURCE = "irflow.detections"
DETAIL_TYPE = "irflow Detection"
PUT_EVENTS_BATCH = 10  # PutEvents takes at most 10 entries
REFUSED_ERROR = "irflow.InvalidLogPayload"


class AwsLogs(Strict):
    data: str


class LogsEvent(Strict):
    """What CloudWatch Logs sends a subscribed function."""

    awslogs: AwsLogs


@cache
def rules() -> tuple[Rule, ...]:
    """The shipped rules, read once per Lambda container (on the first delivery, not at import)."""
    return load_rules()


def entry(detection: Detection, batch: Batch, bus: str) -> dict[str, Any]:
    """The PutEvents entry for a detection."""
    detail = detection.detail(batch)
    resource = detail["resource"]["id"]
    return {"Source": SOURCE, "DetailType": DETAIL_TYPE, "Detail": json.dumps(detail), "EventBusName": bus,
            "Resources": [resource] if resource.startswith("arn:") else []}


def publish(entries: list[dict[str, Any]], events: Any) -> None:
    """Put the detection events, ten at a time; a refused entry fails the invocation (Lambda retries it)."""
    for start in range(0, len(entries), PUT_EVENTS_BATCH):
        chunk = entries[start:start + PUT_EVENTS_BATCH]
        response = events.put_events(Entries=chunk)
        if response.get("FailedEntryCount"):
            failed = [e for e in response.get("Entries", []) if e.get("ErrorCode")]
            problem = failed[0] if failed else {}
            raise RuntimeError(f"PutEvents refused {response['FailedEntryCount']} detection event(s): "
                               f"{problem.get('ErrorCode')}: {problem.get('ErrorMessage')}")


def process(data: str, events: Any = None, ddb: Any = None, rule_set: tuple[Rule, ...] | None = None) -> dict[str, Any]:
    """Decode one delivery, detect, write the metrics and put the detections; returns what happened."""
    try:
        batch = decode(data)
    except PayloadError as error:
        event_id = "logs-" + hashlib.sha256(data.encode()).hexdigest()[:24]
        incidents.record_rejected_event(event_id, {"Error": REFUSED_ERROR, "Cause": str(error)}, ddb=ddb)
        return {"status": "refused", "reason": str(error), "event_id": event_id}
    if batch.message_type == "CONTROL_MESSAGE":
        return {"status": "control-message", "log_group": batch.log_group}
    result = evaluate(batch, rule_set if rule_set is not None else rules(), settings().region)
    for line in emf(result.metrics, int(clock.now().timestamp() * 1000)):
        sys.stdout.write(line + "\n")
    bus = settings().event_bus
    entries = [entry(d, batch, bus) for d in result.detections]
    if entries:
        publish(entries, events or client("events"))
    return {
        "status": "detected" if entries else "clean",
        "log_group": batch.log_group,
        "records": result.records,
        "detections": [{"rule": d.rule.id, "id": d.id, "count": len(d.matches), "playbook": d.rule.playbook,
                        "resource": d.resource_id} for d in result.detections],
        "metrics": [{"name": name, "dimensions": dict(dims), "value": value}
                    for (_, name, dims), value in sorted(result.metrics.items())],
    }


def run(data: LogsEvent) -> dict[str, Any]:
    return process(data.awslogs.data)


handler = task_handler(TASK, LogsEvent, run)
