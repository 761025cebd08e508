"""The console's clock: real time, optionally faster, and standing still while the engine computes."""

from __future__ import annotations

import json
import time

import pytest

from irflow.engine import Engine
from irflow.engine.scheduler import RealClock


def test_a_faster_clock_runs_simulated_time_faster() -> None:
    clock = RealClock(speed=20)
    start = clock.seconds()
    time.sleep(0.1)
    assert 1.6 <= clock.seconds() - start <= 4.0
    assert clock.wall_seconds(10) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        RealClock(speed=0)


def test_it_stands_still_while_the_engine_computes() -> None:
    clock = RealClock(speed=20)
    with clock.computing():
        before = clock.seconds()
        time.sleep(0.1)
        assert clock.seconds() == before
    time.sleep(0.05)
    assert 0.5 <= clock.seconds() - before <= 2.0  # only the 0.05 s outside counted


def test_at_speed_one_it_is_the_wall_clock() -> None:
    clock = RealClock()
    with clock.computing():
        before = clock.seconds()
        time.sleep(0.05)
        assert clock.seconds() - before >= 0.05


def test_the_engine_runs_waits_faster_and_prices_lambda_time_without_its_own_work() -> None:
    """A 4-second Wait and a task priced at 2 s take a fraction of that at 40x; the task's real
    compute time (0.1 s here) does not turn into four simulated seconds."""

    def slow(event: object, context: object) -> dict[str, bool]:
        time.sleep(0.1)
        return {"done": True}

    engine = Engine(clock=RealClock(speed=40))
    engine.register_lambda("slow", slow, duration_seconds=2.0)
    definition = {"StartAt": "Wait", "States": {
        "Wait": {"Type": "Wait", "Seconds": 4, "Next": "Slow"},
        "Slow": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:111111111111:function:slow", "End": True}}}
    machine = engine.create_state_machine(name="quick", definition=json.dumps(definition))["stateMachineArn"]
    started = time.monotonic()
    arn = engine.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    try:
        while engine.describe_execution(executionArn=arn)["status"] == "RUNNING":
            assert time.monotonic() - started < 5, "the execution should end in well under a second"
            time.sleep(0.02)
        described = engine.describe_execution(executionArn=arn)
    finally:
        engine.close()
    assert described["status"] == "SUCCEEDED"
    assert (described["stopDate"] - described["startDate"]).total_seconds() == pytest.approx(6.0, abs=0.6)
