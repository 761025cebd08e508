"""CloudTrail event history: `LookupEvents` answered from events the scenario says happened.

moto gap filled: moto 5.2.5 has no `LookupEvents` (`NotImplementedError`), and it records no
CloudTrail events for the calls it answers (see `moto-notes.md`). irflow's IAM playbook reads a
principal's recent API activity through `LookupEvents`, so the local runtime keeps an event
history per account and region and answers the call from it, as the CloudTrail API documents:

- at most one lookup attribute (`EventId`, `EventName`, `ReadOnly`, `Username`, `ResourceType`,
  `ResourceName`, `EventSource`, `AccessKeyId`), else `InvalidLookupAttributesException`;
- `StartTime`/`EndTime` (default: the last 90 days up to now; events after now are not yet
  visible), `InvalidTimeRangeException` when the start is after the end;
- newest first, `MaxResults` 1-50 (default 50, else `InvalidMaxResultsException`), a
  `NextToken` for the rest (`InvalidNextTokenException` for one it did not issue);
- each event with `EventId`, `EventName`, `ReadOnly`, `AccessKeyId`, `EventTime`,
  `EventSource`, `Username`, `Resources` and the whole record as the `CloudTrailEvent` string;
- `EventCategory: insight` returns nothing (the embedded AWS has no Insights).

What is in the history: only the records put there with `record` (a scenario's `activity`
for an IAM user or role, written as CloudTrail records with the principal's identity). The
calls irflow itself makes are not recorded, and events are visible at once (CloudTrail takes
minutes). Nothing is invented: an account without recorded activity has an empty history.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from .patching import Patches

LOOKUP_KEYS = ("EventId", "EventName", "ReadOnly", "Username", "ResourceType", "ResourceName", "EventSource",
               "AccessKeyId")
MAX_RESULTS = 50
HISTORY_DAYS = 90
TOKEN_PREFIX = "irflow-lookup-"


class LookupError_(Exception):
    """A request CloudTrail refuses: (error code, message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _param_time(value: Any) -> datetime | None:
    """A request timestamp: epoch seconds as boto sends them (or ISO text)."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return _time(str(value))


def username(record: dict[str, Any]) -> str | None:
    """The user name CloudTrail's event history shows: the IAM user, the role session, or root."""
    identity = record.get("userIdentity") or {}
    kind = identity.get("type")
    if kind == "IAMUser":
        return identity.get("userName")
    if kind == "Root":
        return "root"
    if kind == "AssumedRole":
        return str(identity.get("arn", "")).rsplit("/", 1)[-1] or None
    return identity.get("userName")


def _resources(record: dict[str, Any]) -> list[dict[str, str]]:
    return [{"ResourceType": r.get("type", ""), "ResourceName": r.get("ARN", "")}
            for r in record.get("resources") or [] if isinstance(r, dict)]


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    """One event as LookupEvents returns it."""
    read_only = record.get("readOnly")
    return {
        "EventId": record["eventID"],
        "EventName": record["eventName"],
        "ReadOnly": str(read_only).lower() if read_only is not None else None,
        "AccessKeyId": (record.get("userIdentity") or {}).get("accessKeyId"),
        "EventTime": _time(record["eventTime"]).timestamp(),
        "EventSource": record["eventSource"],
        "Username": username(record),
        "Resources": _resources(record),
        "CloudTrailEvent": json.dumps(record, separators=(",", ":")),
    }


def _matches(record: dict[str, Any], key: str, value: str) -> bool:
    summary = _summary(record)
    if key in ("ResourceType", "ResourceName"):
        return any(r[key] == value for r in summary["Resources"])
    return summary.get(key) == value


class CloudTrailHistory:
    """The event history of every account and region in the embedded AWS."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self._events: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def now(self) -> datetime:
        when = self._now()
        return when if when.tzinfo else when.replace(tzinfo=UTC)

    def record(self, account: str, region: str, record: dict[str, Any]) -> None:
        """Add a CloudTrail record (eventID, eventTime, eventName, eventSource, userIdentity...)."""
        missing = [k for k in ("eventID", "eventTime", "eventName", "eventSource") if not record.get(k)]
        if missing:
            raise ValueError(f"a CloudTrail record needs {', '.join(missing)}")
        self._events.setdefault((account, region), []).append(record)

    def lookup(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        """LookupEvents for one account and region."""
        attributes = params.get("LookupAttributes") or []
        if len(attributes) > 1:
            raise LookupError_("InvalidLookupAttributesException",
                               "You cannot specify more than one lookup attribute.")
        for attribute in attributes:
            if attribute.get("AttributeKey") not in LOOKUP_KEYS:
                raise LookupError_("InvalidLookupAttributesException",
                                   f"Invalid attribute key: {attribute.get('AttributeKey')!r}.")
        now = self.now()
        end = _param_time(params.get("EndTime")) or now
        start = _param_time(params.get("StartTime")) or now - timedelta(days=HISTORY_DAYS)
        if start > end:
            raise LookupError_("InvalidTimeRangeException", "Start time must be earlier than end time.")
        limit = params.get("MaxResults", MAX_RESULTS)
        if not isinstance(limit, int) or not 1 <= limit <= MAX_RESULTS:
            raise LookupError_("InvalidMaxResultsException", "MaxResults must be between 1 and 50.")
        if params.get("EventCategory") == "insight":
            return {"Events": []}
        found = [r for r in self._events.get((account, region), [])
                 if start <= _time(r["eventTime"]) <= min(end, now)
                 and all(_matches(r, a["AttributeKey"], str(a.get("AttributeValue", ""))) for a in attributes)]
        found.sort(key=lambda r: (_time(r["eventTime"]), r["eventID"]), reverse=True)
        offset = 0
        token = params.get("NextToken")
        if token is not None:
            digits = str(token).removeprefix(TOKEN_PREFIX)
            if not str(token).startswith(TOKEN_PREFIX) or not digits.isdigit():
                raise LookupError_("InvalidNextTokenException", "Invalid NextToken.")
            offset = int(digits)
        page = found[offset:offset + limit]
        result: dict[str, Any] = {"Events": [_summary(r) for r in page]}
        if offset + limit < len(found):
            result["NextToken"] = f"{TOKEN_PREFIX}{offset + limit}"
        return result

    def install(self, patches: Patches) -> None:
        """Add `lookup_events` to moto's CloudTrail response class, answered from this history."""
        from moto.cloudtrail.responses import CloudTrailResponse
        from moto.core.exceptions import JsonRESTError

        history = self

        def lookup_events(self: Any) -> str:
            params = json.loads(self.body or "{}")
            try:
                return json.dumps(history.lookup(self.current_account, self.region, params))
            except LookupError_ as error:
                raise JsonRESTError(error.code, str(error)) from None

        patches.set(CloudTrailResponse, "lookup_events", lookup_events)
