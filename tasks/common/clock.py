"""The time tasks write into incidents: the wall clock, or whatever clock a local runtime installs.

Deployed, timestamps are the Lambda's wall clock. The local runtime runs playbooks on a virtual
clock and calls `use(engine_now)` so incident timelines, approval expiries and reports show the
simulated time the engine's history shows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

_source: Callable[[], datetime] | None = None


def use(source: Callable[[], datetime] | None) -> None:
    """Install a clock (None: back to the wall clock)."""
    global _source
    _source = source


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    when = _source() if _source is not None else datetime.now(UTC)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def iso(when: datetime | None = None) -> str:
    """ISO 8601 with milliseconds and a Z, as AWS writes times."""
    when = when or now()
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
