"""Playbook coverage from execution histories: states entered, Choice branches taken, Catch paths taken.

Histories are what `GetExecutionHistory` returns, so the same code reads a local run or one on
AWS. Each event's `previousEventId` chains the events of one line of execution (the execution,
a Parallel branch, a Map iteration) even when branches interleave: a `*StateEntered` whose
previous event is a `*StateExited` is a transition between those two states. A transition out of
a state whose last event before leaving was a failure went through a Catch; which catcher is
decided by the error, as Step Functions decides it. Out of a Choice the next state names the
branch; when several rules lead to the same state, the rules are evaluated again on the input the
Choice received, in order, to find the one that matched.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from irflow.engine.interpreter import compare
from irflow.engine.jsonata_eval import evaluate as jsonata_evaluate
from irflow.engine.jsonpath import PathNotFound, compile_path
from irflow.engine.payload import json_or_text

from .definition import StateRef, describe_rule, error_matches, iter_states

DEFAULT = "Default"


@dataclass
class Item:
    """One thing a scenario can exercise: a state, a Choice branch or a Catch path."""

    kind: str  # state | branch | catch
    state: str
    key: str  # "" for a state; "Choices[0]" / "Default" for a branch; "Catch[1]" for a catch path
    label: str
    hits: int = 0


@dataclass
class Coverage:
    """What the scenarios exercised of one playbook."""

    playbook: str
    items: list[Item] = field(default_factory=list)
    executions: int = 0

    def find(self, kind: str, state: str, key: str = "") -> Item | None:
        return next((i for i in self.items if i.kind == kind and i.state == state and i.key == key), None)

    def of(self, kind: str) -> list[Item]:
        return [i for i in self.items if i.kind == kind]

    def missed(self) -> list[Item]:
        return [i for i in self.items if i.hits == 0]

    def summary(self) -> dict[str, tuple[int, int]]:
        """kind -> (exercised, total)."""
        return {kind: (sum(1 for i in self.of(kind) if i.hits), len(self.of(kind)))
                for kind in ("state", "branch", "catch")}


def coverage_for(playbook: str, definition: Mapping[str, Any]) -> Coverage:
    """Every coverable item of `definition`, none exercised yet."""
    found = Coverage(playbook)
    for ref in iter_states(definition):
        found.items.append(Item("state", ref.name, "", ref.name))
        for i, rule in enumerate(ref.body.get("Choices") or ()):
            target = rule.get("Next") if isinstance(rule, dict) else None
            found.items.append(Item("branch", ref.name, f"Choices[{i}]",
                                    f"{ref.name}: {describe_rule(rule)} -> {target}"))
        if ref.type == "Choice" and "Default" in ref.body:
            found.items.append(Item("branch", ref.name, DEFAULT, f"{ref.name}: Default -> {ref.body['Default']}"))
        for i, catcher in enumerate(ref.body.get("Catch") or ()):
            if isinstance(catcher, dict):
                errors = ", ".join(str(e) for e in catcher.get("ErrorEquals") or ())
                found.items.append(Item("catch", ref.name, f"Catch[{i}]",
                                        f"{ref.name}: Catch [{errors}] -> {catcher.get('Next')}"))
    return found


def record(coverage: Coverage, definition: Mapping[str, Any], events: Iterable[Mapping[str, Any]]) -> None:
    """Count what one execution's history exercised."""
    states = {ref.name: ref for ref in iter_states(definition)}
    by_id: dict[int, Mapping[str, Any]] = {}
    variables: dict[str, Any] = {}
    execution_input: Any = None
    coverage.executions += 1
    for event in events:
        by_id[event["id"]] = event
        kind = str(event["type"])
        details = _details(event)
        if kind == "ExecutionStarted":
            execution_input = json_or_text(details.get("input"))
        if kind.endswith("StateExited") and details.get("assignedVariables"):
            variables.update({k: json_or_text(v) for k, v in details["assignedVariables"].items()})
        if not kind.endswith("StateEntered"):
            continue
        name = str(details.get("name"))
        _hit(coverage, "state", name)
        previous = by_id.get(event["previousEventId"])
        if previous is None or not str(previous["type"]).endswith("StateExited"):
            continue
        source = states.get(str(_details(previous).get("name")))
        if source is None:
            continue
        before_exit = by_id.get(previous["previousEventId"])
        if source.type == "Choice":
            entered = _entered_event(by_id, previous)
            key = chosen_branch(source, name, entered, variables, execution_input)
            if key is not None:
                _hit(coverage, "branch", source.name, key)
        elif before_exit is not None and _is_failure(before_exit):
            index = caught_by(source, name, _details(before_exit).get("error"))
            if index is not None:
                _hit(coverage, "catch", source.name, f"Catch[{index}]")


def _hit(coverage: Coverage, kind: str, state: str, key: str = "") -> None:
    item = coverage.find(kind, state, key)
    if item is not None:
        item.hits += 1


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _is_failure(event: Mapping[str, Any]) -> bool:
    kind = str(event["type"])
    return kind.endswith(("Failed", "TimedOut")) and not kind.startswith("Execution")


def _entered_event(by_id: Mapping[int, Mapping[str, Any]], exited: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The `*StateEntered` event of the state `exited` leaves (walking back its chain)."""
    event: Mapping[str, Any] | None = exited
    while event is not None:
        event = by_id.get(event["previousEventId"])
        if event is not None and str(event["type"]).endswith("StateEntered"):
            return event
    return None


def caught_by(state: StateRef, target: str, error: Any) -> int | None:
    """The index of the catcher that sent `state` to `target` after failing with `error` (None if unknown)."""
    catchers = [(i, c) for i, c in enumerate(state.body.get("Catch") or ()) if isinstance(c, dict)]
    if isinstance(error, str):
        for i, catcher in catchers:
            if error_matches(list(catcher.get("ErrorEquals") or ()), error):
                return i if catcher.get("Next") == target else None
    leading = [i for i, c in catchers if c.get("Next") == target]
    return leading[0] if leading else None


def chosen_branch(state: StateRef, target: str, entered: Mapping[str, Any] | None, variables: Mapping[str, Any],
                  execution_input: Any) -> str | None:
    """Which branch of a Choice led to `target`: "Choices[i]" or "Default"."""
    rules = [r for r in state.body.get("Choices") or () if isinstance(r, dict)]
    candidates = [f"Choices[{i}]" for i, r in enumerate(rules) if r.get("Next") == target]
    if state.body.get("Default") == target:
        candidates.append(DEFAULT)
    if len(candidates) <= 1 or entered is None:
        return candidates[0] if candidates else None
    details = _details(entered)
    data = json_or_text(details.get("input"))
    context = {"Execution": {"Input": execution_input}, "State": {"Name": state.name}}
    for i, rule in enumerate(rules):
        if _holds(rule, state, data, dict(variables), context):
            key = f"Choices[{i}]"
            return key if key in candidates else None
    return DEFAULT if DEFAULT in candidates else None


def _holds(rule: Mapping[str, Any], state: StateRef, data: Any, variables: dict[str, Any],
           context: Mapping[str, Any]) -> bool:
    """Evaluate a Choice rule the way the engine does (JSONPath rules or a JSONata Condition)."""
    try:
        if state.language == "JSONata":
            verdict = jsonata_evaluate(rule.get("Condition"), {"input": data, "context": context}, variables,
                                       random.Random(0), field="Condition")
            return verdict is True
        if "InputPath" in state.body and isinstance(state.body["InputPath"], str):
            data = _path(state.body["InputPath"], data, variables, context)
        return _rule_holds(rule, data, variables, context)
    except Exception:  # a rule that cannot be evaluated on this input is not the one that matched
        return False


def _path(text: str, data: Any, variables: Mapping[str, Any], context: Mapping[str, Any]) -> Any:
    compiled = compile_path(text)
    document = data if compiled.root == "$" else context if compiled.root == "$$" else variables[compiled.root]
    return compiled.evaluate(document)


def _rule_holds(rule: Mapping[str, Any], data: Any, variables: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    if "And" in rule:
        return all(_rule_holds(r, data, variables, context) for r in rule["And"])
    if "Or" in rule:
        return any(_rule_holds(r, data, variables, context) for r in rule["Or"])
    if "Not" in rule:
        return not _rule_holds(rule["Not"], data, variables, context)
    try:
        value = _path(rule["Variable"], data, variables, context)
    except PathNotFound:
        return "IsPresent" in rule and rule["IsPresent"] is False
    for operator, operand in rule.items():
        if operator in ("Variable", "Next", "Assign", "Output", "Comment"):
            continue
        if operator.endswith("Path"):
            return compare(operator[:-4], value, _path(operand, data, variables, context))
        return compare(operator, value, operand)
    return False


def render(coverage: Coverage) -> str:
    """The coverage report of one playbook, with every item no scenario exercised."""
    names = {"state": "states", "branch": "Choice branches", "catch": "Catch paths"}
    parts = []
    for kind, (hit, total) in coverage.summary().items():
        share = f"{100 * hit // total}%" if total else "-"
        parts.append(f"{names[kind]} {hit}/{total} ({share})")
    lines = [f"coverage of {coverage.playbook} ({coverage.executions} executions): " + ", ".join(parts)]
    for kind in ("state", "branch", "catch"):
        missed = [i for i in coverage.of(kind) if i.hits == 0]
        if missed:
            lines.append(f"  {names[kind]} no scenario exercised:")
            lines.extend(f"    {i.label}" for i in missed)
    return "\n".join(lines)


def as_json(coverage: Coverage) -> dict[str, Any]:
    return {
        "playbook": coverage.playbook,
        "executions": coverage.executions,
        "summary": {k: {"exercised": h, "total": t} for k, (h, t) in coverage.summary().items()},
        "missed": [{"kind": i.kind, "state": i.state, "key": i.key, "label": i.label} for i in coverage.missed()],
    }
