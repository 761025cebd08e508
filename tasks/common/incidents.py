"""The incident record in the incidents table: opened once per finding, then appended to by every task.

Item layout (key `pk`/`sk`, see `config.py`): one `META` item per incident and, under the same
partition, one item per timeline entry, action, piece of evidence, approval and recorded
original state. Writing each as its own item keyed by what it is (the action's name and
target, the evidence's URI) makes a retried task overwrite its own entry instead of adding a
second one; `load_incident` assembles them in the shape `irflow simulate --json` reports.
"""

from __future__ import annotations

import itertools
import secrets
from decimal import Decimal
from typing import Any

from . import clock
from .aws import client, error_code
from .config import settings

INCIDENT_PREFIX = "INCIDENT#"
APPROVAL_PREFIX = "APPROVAL#"
REJECTED_PREFIX = "REJECTED#"
META = "META"
EVENT = "EVENT#"
ACTION = "ACTION#"
EVIDENCE = "EVIDENCE#"
ORIGINAL = "ORIGINAL#"
APPROVAL_REF = "APPROVAL#"
DECISIONS = {"approved", "rejected", "timed-out"}
# Orders entries written at the same (possibly simulated) millisecond in the order they were written.
_sequence = itertools.count()


def order_key(at: str) -> str:
    return f"{at}#{next(_sequence):010d}"


# --- DynamoDB values --------------------------------------------------------------------------------


def to_ddb(value: Any) -> Any:
    """Python -> DynamoDB JSON (floats become Decimal, as the serializer requires)."""
    from boto3.dynamodb.types import TypeSerializer

    return TypeSerializer().serialize(_decimals(value))


def item_to_ddb(item: dict[str, Any]) -> dict[str, Any]:
    return {k: to_ddb(v) for k, v in item.items() if v is not None}


def from_ddb(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB JSON -> Python (Decimal back to int or float)."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {k: _numbers(deserializer.deserialize(v)) for k, v in item.items()}


def _decimals(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_decimals(v) for v in value]
    return value


def _numbers(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    if isinstance(value, set):
        return sorted(_numbers(v) for v in value)
    return value


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def incident_pk(incident_id: str) -> str:
    return INCIDENT_PREFIX + incident_id


def _table() -> str:
    name = settings().incidents_table
    if not name:
        raise RuntimeError("IRFLOW_INCIDENTS_TABLE is not set")
    return name


def _ddb(ddb: Any) -> Any:
    return ddb or client("dynamodb")


# --- writing ----------------------------------------------------------------------------------------


def open_incident(incident: dict[str, Any], policy: dict[str, Any], execution_arn: str | None,
                  ddb: Any = None) -> dict[str, Any]:
    """Create the incident, or join the open one for the same finding; returns {joined, status, count}.

    The write is conditional on the incident not existing, so two deliveries of one finding
    cannot both open it. A retry by the execution that opened it is not a join, and a finding
    re-sent after a response that failed (status `failed`) starts the response again.
    """
    ddb = _ddb(ddb)
    incident_id = incident["incident_id"]
    now = clock.iso()
    meta = {
        "pk": incident_pk(incident_id), "sk": META, "id": incident_id, "status": "open",
        "finding_id": incident["finding_id"], "finding_arn": incident.get("finding_arn"),
        "finding_type": incident["finding_type"], "title": incident.get("title"),
        "severity": incident["severity"], "severity_band": incident["severity_band"],
        "account_id": incident["account_id"], "region": incident["region"],
        "resource": {"type": incident.get("resource_type") or "ec2-instance",
                     "id": incident.get("resource_id") or incident["instance_id"]},
        "source": incident.get("source") or "GuardDuty",
        "count": incident.get("count", 1), "remote_ips": incident.get("remote_ips") or None,
        "policy": policy, "opened_by": execution_arn, "executions": [execution_arn] if execution_arn else None,
        "created_at": now, "updated_at": now,
    }
    try:
        ddb.put_item(TableName=_table(), Item=item_to_ddb(meta), ConditionExpression="attribute_not_exists(pk)")
    except Exception as error:
        if error_code(error) != "ConditionalCheckFailedException":
            raise
        existing = get_meta(incident_id, ddb) or {}
        if execution_arn and existing.get("opened_by") == execution_arn:
            return {"joined": False, "status": existing.get("status", "open"), "count": existing.get("count", 1)}
        if existing.get("status") == "failed" and _take_over(incident, execution_arn, ddb):
            return {"joined": False, "status": "open", "count": incident.get("count", 1)}
        return _join(incident, execution_arn, ddb)
    add_timeline(incident_id, "open-incident",
                 f"Incident opened from {meta['source']} finding {incident['finding_type']} "
                 f"(severity {incident['severity']}) on {meta['resource']['id']} in {incident['account_id']}",
                 ddb=ddb)
    return {"joined": False, "status": "open", "count": incident.get("count", 1)}


def _take_over(incident: dict[str, Any], execution_arn: str | None, ddb: Any) -> bool:
    """A finding re-sent after a failed response starts the response again (once: conditional on `failed`)."""
    incident_id = incident["incident_id"]
    try:
        ddb.update_item(
            TableName=_table(), Key=key(incident_pk(incident_id), META),
            UpdateExpression="SET #status = :open, opened_by = :arn, #count = :count, updated_at = :now",
            ConditionExpression="#status = :failed",
            ExpressionAttributeNames={"#status": "status", "#count": "count"},
            ExpressionAttributeValues={":open": {"S": "open"}, ":failed": {"S": "failed"},
                                       ":arn": to_ddb(execution_arn), ":count": to_ddb(incident.get("count", 1)),
                                       ":now": to_ddb(clock.iso())})
    except Exception as error:
        if error_code(error) == "ConditionalCheckFailedException":
            return False
        raise
    add_timeline(incident_id, "open-incident",
                 f"{incident.get('source') or 'GuardDuty'} re-sent the finding after a failed response: responding again",
                 ddb=ddb)
    return True


def _join(incident: dict[str, Any], execution_arn: str | None, ddb: Any) -> dict[str, Any]:
    incident_id = incident["incident_id"]
    names = {"#count": "count"}
    values: dict[str, Any] = {":count": to_ddb(incident.get("count", 1)), ":now": to_ddb(clock.iso()),
                              ":one": to_ddb(1), ":severity": to_ddb(float(incident["severity"]))}
    update = "SET #count = :count, updated_at = :now, severity = :severity ADD repeats :one"
    if execution_arn:
        update = ("SET #count = :count, updated_at = :now, severity = :severity, "
                  "executions = list_append(if_not_exists(executions, :empty), :arn) ADD repeats :one")
        values[":empty"] = {"L": []}
        values[":arn"] = {"L": [to_ddb(execution_arn)]}
    result = ddb.update_item(TableName=_table(), Key=key(incident_pk(incident_id), META), UpdateExpression=update,
                             ExpressionAttributeNames=names, ExpressionAttributeValues=values,
                             ReturnValues="ALL_NEW")
    item = from_ddb(result["Attributes"])
    add_timeline(incident_id, "open-incident",
                 f"{incident.get('source') or 'GuardDuty'} re-sent the finding (count {incident.get('count', 1)}); "
                 "joined the open incident",
                 ddb=ddb)
    return {"joined": True, "status": item.get("status", "open"), "count": item.get("count", 1)}


def set_status(incident_id: str, status: str, ddb: Any = None) -> None:
    """Move the incident to `status` (and stamp the update time)."""
    _ddb(ddb).update_item(
        TableName=_table(), Key=key(incident_pk(incident_id), META),
        UpdateExpression="SET #status = :status, updated_at = :now",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":status": to_ddb(status), ":now": to_ddb(clock.iso())},
    )


def add_timeline(incident_id: str, step: str, message: str, detail: dict[str, Any] | None = None,
                 failure: dict[str, Any] | None = None, ddb: Any = None) -> None:
    """Append a line to the incident's timeline (a failure is a timeline line with its error)."""
    at = clock.iso()
    order = order_key(at)
    item = {"pk": incident_pk(incident_id), "sk": f"{EVENT}{order}#{secrets.token_hex(2)}", "at": at, "order": order,
            "step": step,
            "message": message, "detail": detail or None, "failure": failure or None}
    _ddb(ddb).put_item(TableName=_table(), Item=item_to_ddb(item))


def add_action(incident_id: str, name: str, target: str, result: str, detail: dict[str, Any] | None = None,
               keep_existing: bool = False, ddb: Any = None) -> dict[str, str]:
    """Record what a task did to what; the same action on the same target is one entry.

    `keep_existing`: only record if there is no entry yet (a rerun that found the work done
    must not overwrite what the first run did).
    """
    at = clock.iso()
    item = {"pk": incident_pk(incident_id), "sk": f"{ACTION}{name}#{target}", "name": name, "target": target,
            "result": result, "at": at, "order": order_key(at), "detail": detail or None}
    try:
        _ddb(ddb).put_item(TableName=_table(), Item=item_to_ddb(item),
                           **({"ConditionExpression": "attribute_not_exists(pk)"} if keep_existing else {}))
    except Exception as error:
        if error_code(error) != "ConditionalCheckFailedException":
            raise
    return {"name": name, "target": target, "result": result}


def add_evidence(incident_id: str, uri: str, sha256: str, kind: str, size: int | None = None,
                 version_id: str | None = None, ddb: Any = None) -> dict[str, str]:
    """Record a piece of evidence with its SHA-256 (one entry per URI)."""
    at = clock.iso()
    item = {"pk": incident_pk(incident_id), "sk": f"{EVIDENCE}{uri}", "uri": uri, "sha256": sha256, "kind": kind,
            "size": size, "version_id": version_id, "at": at, "order": order_key(at)}
    _ddb(ddb).put_item(TableName=_table(), Item=item_to_ddb(item))
    return {"uri": uri, "sha256": sha256}


def save_original_state(incident_id: str, instance_id: str, state: dict[str, Any], ddb: Any = None) -> bool:
    """Keep the instance's pre-isolation state; the first record wins (a rerun must not overwrite it)."""
    item = {"pk": incident_pk(incident_id), "sk": ORIGINAL + instance_id, "instance_id": instance_id,
            "state": state, "at": clock.iso()}
    try:
        _ddb(ddb).put_item(TableName=_table(), Item=item_to_ddb(item), ConditionExpression="attribute_not_exists(pk)")
    except Exception as error:
        if error_code(error) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def get_original_state(incident_id: str, instance_id: str, ddb: Any = None) -> dict[str, Any] | None:
    found = _ddb(ddb).get_item(TableName=_table(), Key=key(incident_pk(incident_id), ORIGINAL + instance_id),
                               ConsistentRead=True).get("Item")
    return from_ddb(found)["state"] if found else None


def record_rejected_event(event_id: str, failure: dict[str, Any], ddb: Any = None) -> None:
    """Keep a refused event (no incident is opened for it): what was wrong, and when."""
    item = {"pk": REJECTED_PREFIX + event_id, "sk": META, "event_id": event_id, "error": failure.get("Error"),
            "cause": failure.get("Cause"), "at": clock.iso()}
    _ddb(ddb).put_item(TableName=_table(), Item=item_to_ddb(item))


# --- reading ----------------------------------------------------------------------------------------


def get_meta(incident_id: str, ddb: Any = None) -> dict[str, Any] | None:
    found = _ddb(ddb).get_item(TableName=_table(), Key=key(incident_pk(incident_id), META),
                               ConsistentRead=True).get("Item")
    return from_ddb(found) if found else None


def _items(incident_id: str, ddb: Any) -> list[dict[str, Any]]:
    paginator = _ddb(ddb).get_paginator("query")
    items: list[dict[str, Any]] = []
    for page in paginator.paginate(TableName=_table(), KeyConditionExpression="pk = :pk",
                                   ExpressionAttributeValues={":pk": {"S": incident_pk(incident_id)}},
                                   ConsistentRead=True):
        items.extend(from_ddb(item) for item in page.get("Items", []))
    return items


def load_incident(incident_id: str, ddb: Any = None) -> dict[str, Any]:
    """The whole incident, shaped as `irflow simulate --json` reports it; KeyError if there is none."""
    items = _items(incident_id, ddb)
    meta = next((i for i in items if i["sk"] == META), None)
    if meta is None:
        raise KeyError(f"no incident {incident_id}")

    def kind(prefix: str) -> list[dict[str, Any]]:
        return sorted((i for i in items if i["sk"].startswith(prefix)), key=lambda i: (i.get("order", ""), i["sk"]))

    approvals = kind(APPROVAL_REF)
    timeline = kind(EVENT)
    return {
        "id": incident_id,
        "status": meta.get("status"),
        "actions": [{"name": a["name"], "target": a["target"], "result": a["result"]} for a in kind(ACTION)],
        "evidence": [{"uri": e["uri"], "sha256": e["sha256"]} for e in kind(EVIDENCE)],
        "approvals": [{"id": a["approval_id"], "decision": a["decision"], "by": a.get("by")}
                      for a in approvals if a.get("decision") in DECISIONS],
        "pending_approvals": [{"id": a["approval_id"], "action": a["action"], "target": a["target"],
                               "expires_at": a.get("expires_at")} for a in approvals if a.get("decision") == "pending"],
        "severity": meta.get("severity"),
        "severity_band": meta.get("severity_band"),
        "title": meta.get("title"),
        "finding_id": meta.get("finding_id"),
        "finding_type": meta.get("finding_type"),
        "account_id": meta.get("account_id"),
        "region": meta.get("region"),
        "resource": meta.get("resource"),
        "source": meta.get("source", "GuardDuty"),
        "count": meta.get("count", 1),
        "created_at": meta.get("created_at"),
        "updated_at": meta.get("updated_at"),
        "executions": meta.get("executions", []),
        "timeline": [{"at": t["at"], "step": t["step"], "message": t["message"],
                      **({"failure": t["failure"]} if t.get("failure") else {})} for t in timeline],
        "failures": [{"at": t["at"], "step": t["step"], **t["failure"]} for t in timeline if t.get("failure")],
        "evidence_detail": [{"uri": e["uri"], "sha256": e["sha256"], "kind": e.get("kind"), "size": e.get("size"),
                             "version_id": e.get("version_id"), "at": e.get("at")} for e in kind(EVIDENCE)],
        "action_detail": [{"name": a["name"], "target": a["target"], "result": a["result"], "at": a.get("at"),
                           **({"detail": a["detail"]} if a.get("detail") else {})} for a in kind(ACTION)],
        "approval_detail": [{k: a.get(k) for k in ("approval_id", "action", "target", "decision", "by", "reason",
                                                  "requested_at", "expires_at", "decided_at", "decided_from",
                                                  "approvers", "first_approval")} for a in approvals],
    }


def _scan(filter_expression: str, names: dict[str, str], values: dict[str, Any], ddb: Any) -> list[dict[str, Any]]:
    paginator = _ddb(ddb).get_paginator("scan")
    items: list[dict[str, Any]] = []
    for page in paginator.paginate(TableName=_table(), FilterExpression=filter_expression,
                                   ExpressionAttributeNames=names, ExpressionAttributeValues=values):
        items.extend(from_ddb(item) for item in page.get("Items", []))
    return items


def list_incidents(ddb: Any = None) -> list[dict[str, Any]]:
    """Every incident's summary, newest first."""
    items = _scan("#sk = :meta AND begins_with(pk, :prefix)", {"#sk": "sk"},
                  {":meta": {"S": META}, ":prefix": {"S": INCIDENT_PREFIX}}, ddb)
    summaries = [{"id": i["id"], "status": i.get("status"), "severity": i.get("severity"),
                  "severity_band": i.get("severity_band"), "title": i.get("title"),
                  "finding_type": i.get("finding_type"), "account_id": i.get("account_id"),
                  "region": i.get("region"), "resource": i.get("resource"), "created_at": i.get("created_at"),
                  "updated_at": i.get("updated_at")} for i in items]
    return sorted(summaries, key=lambda s: s.get("created_at") or "", reverse=True)


def list_pending_approvals(ddb: Any = None) -> list[dict[str, Any]]:
    """Approvals still waiting for a person, oldest first (never with their task token)."""
    items = _scan("#sk = :meta AND begins_with(pk, :prefix) AND #status = :pending",
                  {"#sk": "sk", "#status": "status"},
                  {":meta": {"S": META}, ":prefix": {"S": APPROVAL_PREFIX}, ":pending": {"S": "pending"}}, ddb)
    rows = [{"approval_id": i["approval_id"], "incident_id": i["incident_id"], "action": i["action"],
             "target": i["target"], "requested_at": i.get("requested_at"), "expires_at": i.get("expires_at")}
            for i in items]
    return sorted(rows, key=lambda r: r.get("requested_at") or "")
