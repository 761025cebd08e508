"""CloudWatch Logs subscription payloads: decoded, and their log events read as CloudTrail or VPC Flow Logs records.

CloudWatch Logs invokes a subscribed Lambda function with `{"awslogs": {"data": ...}}`, the data
being base64 of a gzip of JSON: `messageType` (DATA_MESSAGE, or CONTROL_MESSAGE when it checks
the destination), `owner` (the account), `logGroup`, `logStream`, `subscriptionFilters`,
`logEvents` (`id`, `timestamp` in ms, `message`). A CloudTrail trail delivering to CloudWatch
Logs writes one event record (JSON) per log event; VPC Flow Logs write one flow record per log
event, space-separated fields in the default (version 2) format. A payload that is not base64,
not gzip, truncated, or not that JSON is refused with `PayloadError` saying which.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import json
import zlib
from dataclasses import dataclass
from typing import Any

MAX_DECODED_BYTES = 16 * 1024 * 1024  # far above what CloudWatch Logs sends in one invocation (1 MB of events)
# VPC Flow Logs version 2, the default format, in order.
FLOW_FIELDS = ("version", "account_id", "interface_id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol",
               "packets", "bytes", "start", "end", "action", "log_status")
FLOW_NUMBERS = {"version", "srcport", "dstport", "protocol", "packets", "bytes", "start", "end"}


class PayloadError(ValueError):
    """The subscription payload cannot be read; the message says what is wrong with it."""


@dataclass(frozen=True)
class LogEvent:
    id: str
    timestamp: int  # milliseconds since the epoch
    message: str


@dataclass(frozen=True)
class Batch:
    """One decoded delivery."""

    message_type: str
    owner: str
    log_group: str
    log_stream: str
    filters: tuple[str, ...]
    events: tuple[LogEvent, ...]


def decode(data: str) -> Batch:
    """The delivery inside `awslogs.data`; PayloadError if it is not base64 + gzip + the documented JSON."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise PayloadError("awslogs.data is not base64") from None
    if raw[:2] != b"\x1f\x8b":
        raise PayloadError("awslogs.data is not gzip (no gzip header after base64 decoding)")
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            text = stream.read(MAX_DECODED_BYTES + 1)
    except EOFError:
        raise PayloadError("awslogs.data is truncated: the gzip stream ends early") from None
    except (OSError, zlib.error) as error:
        raise PayloadError(f"awslogs.data is corrupt gzip: {error}") from None
    if len(text) > MAX_DECODED_BYTES:
        raise PayloadError(f"awslogs.data decompresses to more than {MAX_DECODED_BYTES} bytes")
    try:
        body = json.loads(text)
    except ValueError as error:
        raise PayloadError(f"awslogs.data is not JSON after decompression: {error}") from None
    if not isinstance(body, dict) or body.get("messageType") not in ("DATA_MESSAGE", "CONTROL_MESSAGE"):
        raise PayloadError("awslogs.data is not a CloudWatch Logs subscription message (messageType)")
    events = body.get("logEvents")
    if not isinstance(events, list):
        raise PayloadError("the subscription message has no logEvents list")
    parsed = []
    for index, item in enumerate(events):
        if not isinstance(item, dict) or not isinstance(item.get("message"), str):
            raise PayloadError(f"logEvents[{index}] has no message")
        stamp = item.get("timestamp")
        parsed.append(LogEvent(str(item.get("id", "")), int(stamp) if isinstance(stamp, int | float) else 0,
                               item["message"]))
    filters = body.get("subscriptionFilters") or []
    return Batch(str(body["messageType"]), str(body.get("owner", "")), str(body.get("logGroup", "")),
                 str(body.get("logStream", "")), tuple(str(f) for f in filters), tuple(parsed))


def encode(batch: dict[str, Any]) -> str:
    """`awslogs.data` for a subscription message (what CloudWatch Logs does; for tests and scenario authors)."""
    return base64.b64encode(gzip.compress(json.dumps(batch, separators=(",", ":")).encode(), mtime=0)).decode()


def cloudtrail_record(event: LogEvent) -> dict[str, Any] | None:
    """The CloudTrail event in a log event, or None if the message is not one."""
    try:
        record = json.loads(event.message)
    except ValueError:
        return None
    if not isinstance(record, dict) or "eventName" not in record or "eventSource" not in record:
        return None
    return record


def flow_record(event: LogEvent) -> dict[str, Any] | None:
    """A default-format (version 2) flow record as a mapping, numbers as numbers; None if it is not one.

    NODATA and SKIPDATA records carry `-` for the addresses and ports: those fields are left out.
    """
    fields = event.message.split()
    if len(fields) != len(FLOW_FIELDS) or fields[0] != "2":
        return None
    record: dict[str, Any] = {}
    for name, value in zip(FLOW_FIELDS, fields, strict=True):
        if value == "-":
            continue
        if name in FLOW_NUMBERS:
            try:
                record[name] = int(value)
            except ValueError:
                return None
        else:
            record[name] = value
    return record
