"""JSON text as Step Functions writes it, and its size limit."""

from __future__ import annotations

import json
from typing import Any

from .errors import DATA_LIMIT_EXCEEDED, StatesError

MAX_PAYLOAD_BYTES = 256 * 1024


_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def to_json(value: Any) -> str:
    """Compact JSON, the way Step Functions serialises state data."""
    return _encode(value)


def check_size(value: Any, state_name: str) -> str:
    """Serialise `value`; a result over 256 KiB fails the state with States.DataLimitExceeded."""
    text = to_json(value)
    if len(text) > MAX_PAYLOAD_BYTES // 4 and len(text.encode("utf-8")) > MAX_PAYLOAD_BYTES:
        error = StatesError(
            DATA_LIMIT_EXCEEDED,
            f"The state/task '{state_name}' returned a result with a size exceeding the maximum number of bytes service limit.",
        )
        error.terminal = True  # type: ignore[attr-defined]
        raise error
    return text


def parse_json(text: str) -> Any:
    return json.loads(text)


def json_or_text(value: Any) -> Any:
    """A history detail as data: JSON text parsed, anything else (or text that is not JSON) as it is."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value
