"""Approval gates: a pending approval per `.waitForTaskToken` state, decided once, by a named person.

The playbook makes the approval id (`States.UUID()`); the Step Functions task token is stored
beside it in the incidents table and nowhere else: notifications, logs and the incident record
carry only the approval id. `decide` takes the decision with a conditional update (pending ->
approved/rejected), so a second decision, a replay or a race loses and changes nothing; only
then does it resume the execution with `SendTaskSuccess` / `SendTaskFailure`. The token is
removed from the table once used. The local runtime passes its Engine as `sfn_client`;
deployed, it is a boto3 `stepfunctions` client.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from . import clock, incidents
from .aws import client, error_code, error_message
from .errors import ApprovalAlreadyDecided, ApprovalExpired, ApprovalNotFound, ApprovalRejected

PENDING = "pending"
RESUME_GONE = {"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"}
PUBLIC_FIELDS = ("approval_id", "incident_id", "action", "target", "what", "reason", "status", "requested_at",
                 "expires_at",
                 "decided_by", "decided_at", "decision_reason", "decided_from", "approvers", "first_approval")


def _pk(approval_id: str) -> str:
    return incidents.APPROVAL_PREFIX + approval_id


def public(item: dict[str, Any]) -> dict[str, Any]:
    """An approval as people and tools may see it: never the task token."""
    return {k: item.get(k) for k in PUBLIC_FIELDS}


def create(incident_id: str, approval_id: str, action: str, target: str, reason: str, task_token: str,
           timeout_seconds: int, ddb: Any = None, what: str | None = None) -> dict[str, Any]:
    """Store a pending approval and its token; a retried request (same id, still pending) refreshes the token.

    `what` is the sentence people are asked to approve (the notification's words), shown again on
    the approval page so the decision is made on exactly what will be done."""
    ddb = ddb or client("dynamodb")
    requested = clock.now()
    expires = requested + timedelta(seconds=timeout_seconds)
    item = {"pk": _pk(approval_id), "sk": incidents.META, "approval_id": approval_id, "incident_id": incident_id,
            "action": action, "target": target, "reason": reason, "status": PENDING, "task_token": task_token,
            **({"what": what} if what else {}),
            "requested_at": clock.iso(requested), "expires_at": clock.iso(expires)}
    try:
        ddb.put_item(TableName=incidents._table(), Item=incidents.item_to_ddb(item),
                     ConditionExpression="attribute_not_exists(pk) OR #status = :pending",
                     ExpressionAttributeNames={"#status": "status"},
                     ExpressionAttributeValues={":pending": {"S": PENDING}})
    except Exception as error:
        if error_code(error) == "ConditionalCheckFailedException":
            raise ApprovalAlreadyDecided(f"approval {approval_id} was already decided") from None
        raise
    _write_incident_copy(incident_id, approval_id, {"action": action, "target": target, "reason": reason,
                                                    "decision": PENDING, "requested_at": item["requested_at"],
                                                    "expires_at": item["expires_at"],
                                                    "order": incidents.order_key(item["requested_at"])}, ddb)
    return public(item)


def _write_incident_copy(incident_id: str, approval_id: str, fields: dict[str, Any], ddb: Any) -> None:
    """The approval as the incident record shows it (decision, who, when), without the token."""
    sets = ", ".join(f"#{name} = :{name}" for name in fields)
    ddb.update_item(TableName=incidents._table(),
                    Key=incidents.key(incidents.incident_pk(incident_id), incidents.APPROVAL_REF + approval_id),
                    UpdateExpression=f"SET approval_id = :approval_id, {sets}",
                    ExpressionAttributeNames={f"#{name}": name for name in fields},
                    ExpressionAttributeValues={":approval_id": incidents.to_ddb(approval_id),
                                               **{f":{name}": incidents.to_ddb(value) for name, value in fields.items()}})


def get(approval_id: str, ddb: Any = None) -> dict[str, Any]:
    """The approval's public view; `irflow.ApprovalNotFound` if there is none."""
    return public(_get(approval_id, ddb or client("dynamodb")))


def _get(approval_id: str, ddb: Any) -> dict[str, Any]:
    found = ddb.get_item(TableName=incidents._table(), Key=incidents.key(_pk(approval_id), incidents.META),
                         ConsistentRead=True).get("Item")
    if not found:
        raise ApprovalNotFound(f"no approval {approval_id}")
    return incidents.from_ddb(found)


def decide(approval_id: str, decision: str, by: str, sfn_client: Any, reason: str | None = None,
           ddb: Any = None, context: dict[str, Any] | None = None) -> dict[str, Any]:
    """Approve or reject once, record who and when in the incident, then resume the execution.

    `context` is recorded with the decision, on the approval and in the incident (where it came
    from: `decided_from` = channel, source IP, user agent; `approvers` under the two-person rule;
    see `approval_gate.decide_as`, which every channel goes through).
    Raises `irflow.ApprovalNotFound`, `irflow.ApprovalAlreadyDecided` (a second decision, which
    changes nothing) or `irflow.ApprovalExpired` (its time ran out; nothing is resumed).
    """
    if decision not in ("approve", "reject"):
        raise ValueError("decision must be 'approve' or 'reject'")
    if not by or not by.strip():
        raise ValueError("a decision needs the name of who made it")
    ddb = ddb or client("dynamodb")
    item = _get(approval_id, ddb)
    if item.get("status") != PENDING:
        raise ApprovalAlreadyDecided(f"approval {approval_id} is already {item.get('status')}"
                                     + (f" (by {item['decided_by']} at {item.get('decided_at')})"
                                        if item.get("decided_by") else ""))
    now = clock.now()
    if now >= _parse(item["expires_at"]):
        raise ApprovalExpired(f"approval {approval_id} expired at {item['expires_at']}")
    status = "approved" if decision == "approve" else "rejected"
    decided_at = clock.iso(now)
    extra = {k: v for k, v in (context or {}).items() if v is not None}
    try:
        ddb.update_item(
            TableName=incidents._table(), Key=incidents.key(_pk(approval_id), incidents.META),
            UpdateExpression="SET #status = :status, decided_by = :by, decided_at = :at, decision_reason = :reason"
                             + "".join(f", #x_{k} = :x_{k}" for k in extra) + " REMOVE task_token",
            ConditionExpression="#status = :pending AND task_token = :token",
            ExpressionAttributeNames={"#status": "status", **{f"#x_{k}": k for k in extra}},
            ExpressionAttributeValues={":status": {"S": status}, ":by": {"S": by}, ":at": {"S": decided_at},
                                       ":reason": incidents.to_ddb(reason), ":pending": {"S": PENDING},
                                       ":token": {"S": item["task_token"]},
                                       **{f":x_{k}": incidents.to_ddb(v) for k, v in extra.items()}})
    except Exception as error:
        if error_code(error) == "ConditionalCheckFailedException":
            raise ApprovalAlreadyDecided(f"approval {approval_id} was decided by someone else just now") from None
        raise
    incident_id = item["incident_id"]
    _write_incident_copy(incident_id, approval_id, {"decision": status, "by": by, "decided_at": decided_at,
                                                    "reason": reason or item.get("reason"), **extra}, ddb)
    incidents.add_timeline(incident_id, "approval",
                           f"{by} {status} {item['action']} of {item['target']}" + (f": {reason}" if reason else ""),
                           ddb=ddb)
    _resume(item, status, by, decided_at, reason, sfn_client, ddb)
    return public({**item, **extra, "status": status, "decided_by": by, "decided_at": decided_at,
                   "decision_reason": reason})


def _resume(item: dict[str, Any], status: str, by: str, at: str, reason: str | None, sfn: Any, ddb: Any) -> None:
    token = item["task_token"]
    try:
        if status == "approved":
            sfn.send_task_success(taskToken=token, output=json.dumps(
                {"approval_id": item["approval_id"], "decision": "approved", "by": by, "at": at}))
        else:
            sfn.send_task_failure(taskToken=token, error=ApprovalRejected.error_name, cause=json.dumps(
                {"approval_id": item["approval_id"], "decision": "rejected", "by": by, "at": at, "reason": reason}))
    except Exception as error:
        code = error_code(error) or type(error).__name__
        if code not in RESUME_GONE:
            raise
        incidents.add_timeline(item["incident_id"], "approval",
                               f"the decision on {item['approval_id']} came after the playbook stopped waiting "
                               f"({code}); nothing was resumed", ddb=ddb)
        raise ApprovalExpired(f"approval {item['approval_id']}: the execution no longer waits "
                              f"({code}: {error_message(error)})") from None


def record_timeout(approval_id: str, ddb: Any = None) -> dict[str, Any]:
    """Mark a pending approval timed out (once; later calls return it unchanged)."""
    ddb = ddb or client("dynamodb")
    at = clock.iso()
    try:
        result = ddb.update_item(
            TableName=incidents._table(), Key=incidents.key(_pk(approval_id), incidents.META),
            UpdateExpression="SET #status = :status, decided_at = :at REMOVE task_token",
            ConditionExpression="#status = :pending",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":status": {"S": "timed-out"}, ":at": {"S": at}, ":pending": {"S": PENDING}},
            ReturnValues="ALL_NEW")
    except Exception as error:
        if error_code(error) == "ConditionalCheckFailedException":
            return get(approval_id, ddb)
        raise
    item = incidents.from_ddb(result["Attributes"])
    _write_incident_copy(item["incident_id"], approval_id, {"decision": "timed-out", "by": None, "decided_at": at},
                         ddb)
    incidents.add_timeline(item["incident_id"], "approval",
                           f"nobody decided on {item['action']} of {item['target']} before {item['expires_at']}: "
                           "nothing destructive was done", ddb=ddb)
    return public(item)


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
