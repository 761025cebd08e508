"""keep-event: keep the event that started a response (an alarm, a detection with its log records) as evidence.

The event is written as JSON under the incident's prefix in the evidence bucket, with its
SHA-256 recorded in the incident, before anything else is done: what irflow was told is kept
as it was told, whatever happens to the resources afterwards.

Example event:

    {"incident": {"incident_id": "inc-4268e8f0cb1e6e96", "finding_id": "arn:aws:cloudwatch:us-east-1:222222222222:alarm:shop-sqli-blocked#2025-01-01T09:00:00Z",
                  "finding_type": "CloudWatchAlarm:WAF/SQLInjection", "severity": 7.0, "severity_band": "high",
                  "account_id": "222222222222", "region": "us-east-1", "source": "CloudWatch alarm",
                  "resource_type": "waf-web-acl", "resource_id": "shop-acl"},
     "name": "alarm.json", "kind": "alarm",
     "content": {"alarmName": "shop-sqli-blocked", "state": {"value": "ALARM", "timestamp": "2025-01-01T09:00:00.000+0000"}}}
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field

from tasks.common import evidence
from tasks.common.handler import task_handler
from tasks.common.models import Incident, Strict
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="keep-event", member_permissions=(),
    central_permissions=("s3:PutObject", "dynamodb:PutItem"), destructive=False,
    model="tasks.keep_event.KeepEventInput", evidence=True, timeout_seconds=15)


class KeepEventInput(Strict):
    incident: Incident
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}\.json$")]
    kind: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,40}$")]
    content: Any


def keep(data: KeepEventInput, s3: Any = None, ddb: Any = None) -> dict[str, Any]:
    """Write the event; returns its evidence entry (uri, sha256)."""
    body = json.dumps(data.content, indent=2, sort_keys=True, default=str).encode()
    entry = evidence.store(data.incident.incident_id, (data.name,), body, data.kind,
                           content_type="application/json", s3=s3, ddb=ddb)
    return {"uri": entry["uri"], "sha256": entry["sha256"]}


def run(data: KeepEventInput) -> dict[str, Any]:
    return keep(data)


handler = task_handler(TASK, KeepEventInput, run)
