"""A scenario's `expect:` block, checked against what `irflow simulate --json` reports.

    expect:
      playbook: ec2-compromise          # optional: check only this playbook's executions
      status: SUCCEEDED                 # every execution ended so (error: NAME likewise)
      executions:                       # or each execution, in order, by the fields given
        - {playbook: ec2-compromise, status: SUCCEEDED}
      visited: [ParseFinding, IsolateInstance]    # entered in this order (others may come between)
      not_visited: [RemediateInstance]            # never entered
      incident:                         # the incident (the first one, when there are several)
        status: awaiting-human
        actions: [isolate-instance, snapshot-volumes]   # names, or mappings of name/target/result
      incidents: [...]                  # or every incident, in order
      resources:                        # after-state of named scenario resources
        web: {state: running, terminationProtection: true, tags: {"irflow:status": isolated},
              securityGroups: [{name: irflow-isolation}]}

A mapping matches when each key given matches (keys not given are not checked); a list matches
when it has as many items and each matches in order; a plain value where the report has a
mapping matches that mapping's `name` (or `id`). Every mismatch is one line saying where.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

KEYS = {"playbook", "status", "error", "executions", "visited", "not_visited", "incident", "incidents", "resources"}


def check(expect: dict[str, Any], document: dict[str, Any]) -> list[str]:
    """Every way `document` (the simulate --json document) differs from `expect`."""
    return list(_check(expect, document))


def _check(expect: dict[str, Any], document: dict[str, Any]) -> Iterator[str]:
    for key in sorted(set(expect) - KEYS):
        yield f"expect: unknown key {key!r} (allowed: {', '.join(sorted(KEYS))})"
    executions = document.get("executions", [])
    if "playbook" in expect:
        executions = [e for e in executions if e.get("playbook") == expect["playbook"]]
    for key in ("status", "error"):
        if key in expect:
            if not executions:
                yield f"{key}: expected {expect[key]!r}, but no execution ran" + (
                    f" of {expect['playbook']}" if "playbook" in expect else "")
            for execution in executions:
                if execution.get(key) != expect[key]:
                    yield (f"{key}: expected {expect[key]!r}, {execution['playbook']} execution ended with "
                           f"{execution.get(key)!r}" + _cause(execution))
    if "executions" in expect:
        yield from match(expect["executions"], executions, "executions")
    visited = [s["name"] for e in executions for s in e.get("states", [])]
    if "visited" in expect:
        yield from _in_order(list(expect["visited"] or []), visited)
    for name in expect.get("not_visited") or []:
        if name in visited:
            yield f"not_visited: {name!r} was entered"
    incidents = document.get("incidents", [])
    if "incident" in expect:
        if not incidents:
            yield "incident: expected one, but no incident was recorded"
        else:
            yield from match(expect["incident"], incidents[0], "incident")
    if "incidents" in expect:
        yield from match(expect["incidents"], incidents, "incidents")
    resources = document.get("resources", {})
    for name, wanted in (expect.get("resources") or {}).items():
        if name not in resources:
            yield f"resources.{name}: no such scenario resource"
        else:
            yield from match(wanted, resources[name], f"resources.{name}")


def _cause(execution: dict[str, Any]) -> str:
    error, cause = execution.get("error"), execution.get("cause")
    if not error and not cause:
        return ""
    return f" ({error}: {str(cause)[:200]})" if cause else f" ({error})"


def _in_order(wanted: list[str], visited: list[str]) -> Iterator[str]:
    position = 0
    for name in wanted:
        try:
            position = visited.index(name, position) + 1
        except ValueError:
            where = "at all" if name not in visited else "in that order"
            yield f"visited: {name!r} was not entered {where} (entered: {', '.join(visited) or 'nothing'})"
            return


def match(wanted: Any, actual: Any, where: str) -> Iterator[str]:
    """Mismatches between an expected value and a reported one (see the module docstring)."""
    if isinstance(wanted, dict):
        if not isinstance(actual, dict):
            yield f"{where}: expected a mapping, got {actual!r}"
            return
        for key, value in wanted.items():
            if key not in actual:
                yield f"{where}.{key}: missing (have: {', '.join(map(str, actual)) or 'nothing'})"
            else:
                yield from match(value, actual[key], f"{where}.{key}")
    elif isinstance(wanted, list):
        if not isinstance(actual, list):
            yield f"{where}: expected a list, got {actual!r}"
            return
        if len(wanted) != len(actual):
            yield f"{where}: expected {len(wanted)} item(s), got {len(actual)}: {_brief(actual)}"
            return
        for i, (w, a) in enumerate(zip(wanted, actual, strict=True)):
            yield from match(w, a, f"{where}[{i}]")
    elif isinstance(actual, dict) and not isinstance(wanted, dict):
        named = actual.get("name", actual.get("id"))
        if named != wanted:
            yield f"{where}: expected {wanted!r}, got {named!r}"
    elif wanted != actual:
        yield f"{where}: expected {wanted!r}, got {actual!r}"


def _brief(items: list[Any]) -> str:
    return ", ".join(str(i.get("name", i.get("id", i))) if isinstance(i, dict) else str(i) for i in items)
