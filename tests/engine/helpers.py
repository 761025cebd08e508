"""Small helpers for engine tests: build a machine, run it, read its history."""

from __future__ import annotations

import json
from typing import Any

from irflow.engine import Engine


def run(definition: dict[str, Any], payload: Any = None, engine: Engine | None = None,
        name: str | None = None) -> tuple[Engine, dict[str, Any]]:
    """Create `definition`, start one execution with `payload` and return the engine and its description."""
    engine = engine or Engine()
    machine = engine.create_state_machine(
        name=f"m{len(engine.list_state_machines()['stateMachines'])}", definition=json.dumps(definition))
    kwargs: dict[str, Any] = {"stateMachineArn": machine["stateMachineArn"], "input": json.dumps(payload or {})}
    if name:
        kwargs["name"] = name
    started = engine.start_execution(**kwargs)
    return engine, engine.describe_execution(executionArn=started["executionArn"])


def output(description: dict[str, Any]) -> Any:
    assert description["status"] == "SUCCEEDED", description
    return json.loads(description["output"])


def event_types(engine: Engine, description: dict[str, Any]) -> list[str]:
    return [e["type"] for e in events(engine, description)]


def events(engine: Engine, description: dict[str, Any]) -> list[dict[str, Any]]:
    """The whole history, page by page as a boto3 caller reads it."""
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": description["executionArn"]}
    while True:
        page = engine.get_execution_history(**kwargs)
        found.extend(page["events"])
        if "nextToken" not in page:
            return found
        kwargs["nextToken"] = page["nextToken"]


def chain(*states: tuple[str, dict[str, Any]], **top: Any) -> dict[str, Any]:
    """A machine running `states` in order (each gets Next or End)."""
    names = [n for n, _ in states]
    body = {}
    for i, (name, state) in enumerate(states):
        state = dict(state)
        if state["Type"] not in ("Choice", "Succeed", "Fail") and "Next" not in state and "End" not in state:
            if i + 1 < len(states):
                state["Next"] = names[i + 1]
            else:
                state["End"] = True
        body[name] = state
    return {"StartAt": names[0], "States": body, **top}
