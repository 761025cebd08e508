"""Execution history in the shape `GetExecutionHistory` returns it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .errors import RUNTIME, StatesError

MAX_HISTORY_EVENTS = 25_000


def details_key(event_type: str) -> str:
    """`TaskStateEntered` -> `stateEnteredEventDetails`, `TaskScheduled` -> `taskScheduledEventDetails`."""
    if event_type.endswith("StateEntered"):
        return "stateEnteredEventDetails"
    if event_type.endswith("StateExited"):
        return "stateExitedEventDetails"
    return event_type[0].lower() + event_type[1:] + "EventDetails"


class HistoryLimitExceeded(StatesError):
    def __init__(self) -> None:
        super().__init__(
            RUNTIME,
            f"The execution reached the maximum number of history events ({MAX_HISTORY_EVENTS}).",
        )


class History:
    """The events of one execution. Appending past 25,000 events fails the execution, as on AWS."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.listeners: list[Any] = []

    def append(self, when: datetime, event_type: str, previous: int, details: dict[str, Any] | None,
               final: bool = False) -> int:
        if len(self.events) >= MAX_HISTORY_EVENTS and not final:
            raise HistoryLimitExceeded()
        event_id = len(self.events) + 1
        event: dict[str, Any] = {"timestamp": when, "type": event_type, "id": event_id, "previousEventId": previous}
        if details is not None:
            event[details_key(event_type)] = details
        self.events.append(event)
        for listener in self.listeners:
            listener(event)
        return event_id
