"""Fixtures for the local runtime: an embedded AWS with a clock the test moves by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from irflow.local import speed
from irflow.local.world import World

speed.apply()

MEMBER = "222222222222"


class ManualClock:
    """A clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.current = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.current

    def tick(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def world(clock: ManualClock) -> Iterator[World]:
    with World(now=clock) as w:
        w.add_member(MEMBER)
        yield w
