"""The house rules a reviewer would otherwise check by hand, each with an id and a one-line reason.

Each rule is a function of the definition, its state graph and the catalog of tasks, yielding
`Finding`s located by JSON pointer. `irflow lint` (`lint.py`) adds the ASL validity checks and
turns pointers into `file:line:` positions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .catalog import Catalog, TaskInfo
from .definition import (
    Definition,
    Edge,
    Graph,
    Pointer,
    StateRef,
    called_placeholder,
    error_matches,
    placeholders,
    waits_for_token,
)

REASONS: dict[str, str] = {
    "asl-valid": "Step Functions refuses a definition that is not valid ASL; irflow's engine refuses what AWS refuses.",
    "asl-statelint": "statelint, the reference ASL validator, refuses it: so would Workflow Studio and the console.",
    "plain-asl": "Definitions stay plain ASL JSON, placeholders only inside string values, so Workflow Studio loads them.",
    "task-retry-throttling": "AWS throttles under load; a step without a Retry on throttling fails a response one more "
                             "try would finish.",
    "task-catch-records": "A failed step must leave its error in the incident record, not only in a failed execution.",
    "destructive-needs-approval": "A destructive action runs only after a human approved it.",
    "approval-timeout": "An approval without a timeout waits up to a year while the incident sits unattended.",
    "approval-timeout-safe": "When nobody answers in time the playbook must take a safe path that does nothing "
                             "destructive.",
    "evidence-before-destructive": "Evidence is collected before a destructive step can destroy it.",
    "placeholder-unknown": "A placeholder that names no registered task or deployed resource breaks the deploy and "
                           "the local runtime.",
    "no-secrets": "Parameters and Arguments are written to the execution history, readable by anyone who can read "
                  "executions.",
    "unreachable-state": "A state no transition leads to never runs: dead code reviewers still read (AWS refuses it "
                         "too).",
}

TIMEOUT = "States.Timeout"
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
THROTTLING = re.compile(r"throttl|toomanyrequests|requestlimitexceeded|ratelimit|slowdown|provisionedthroughput", re.I)
TASK_TOKEN_VALUES = {"$$.Task.Token", "{% $states.context.Task.Token %}"}
SECRET_KEY = re.compile(
    r"secret|passw(or)?d|passphrase|token|api[-_]?key|access[-_]?key|private[-_]?key|credential|authorization|"
    r"session[-_]?key|client[-_]?secret", re.I)
SECRET_VALUES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(AKIA|ASIA|AIDA|AROA)[A-Z0-9]{16}\b"), "an AWS access key id"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"), "a GitHub token"),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), "a Slack token"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"), "a JSON Web Token"),
    (re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.I), "a URL with a password"),
]
# 40 characters of base64 with upper case, lower case and digits: an AWS secret access key's shape.
SECRET_ACCESS_KEY = re.compile(r"(?<![A-Za-z0-9/+=])(?=[^\s]*[A-Z])(?=[^\s]*[a-z])(?=[^\s]*[0-9])[A-Za-z0-9/+]{40}"
                               r"(?![A-Za-z0-9/+=])")
SECRET_VALUES.append((SECRET_ACCESS_KEY, "an AWS secret access key"))
# Names that hold tokens or secrets by reference, not the secret itself.
NOT_SECRET_KEY = re.compile(r"(client|idempotency|next|pagination|continuation)token|tokenissuetime|"
                            r"(id|ids|arn|arns|name|names|ref|reference)$", re.I)
SECRET_FIELDS = ("Parameters", "Arguments", "ItemSelector", "Assign")


@dataclass(frozen=True)
class Finding:
    """One problem: which rule, where (a JSON pointer into the definition), and what."""

    rule: str
    pointer: Pointer
    message: str


Check = Callable[[Definition, Graph, Catalog], Iterator[Finding]]


# --- helpers -----------------------------------------------------------------------------------------


def task_of(state: StateRef, catalog: Catalog) -> TaskInfo | None:
    return catalog.task(called_placeholder(state.body))


def is_approval(state: StateRef, catalog: Catalog) -> bool:
    """An approval gate: the request-approval task called with `.waitForTaskToken`."""
    task = task_of(state, catalog)
    return task is not None and task.approval and waits_for_token(state.body)


def is_destructive(state: StateRef, catalog: Catalog) -> bool:
    task = task_of(state, catalog)
    return task is not None and task.destructive


def is_evidence(state: StateRef, catalog: Catalog) -> bool:
    task = task_of(state, catalog)
    return task is not None and task.evidence


def calls_aws(state: StateRef) -> bool:
    """Every Task but an activity worker's calls an AWS API (Lambda, an SDK or an optimised integration)."""
    resource = state.body.get("Resource")
    return state.type == "Task" and not (isinstance(resource, str) and ":activity:" in resource)


def label(graph: Graph, pointer: Pointer) -> str:
    return f"'{graph.states[pointer].name}'"


def first_catcher(state: StateRef, error: str) -> tuple[int, Mapping[str, Any]] | None:
    """The catcher that handles `error`, as Step Functions picks it (the first that matches)."""
    for i, catcher in enumerate(state.body.get("Catch") or ()):
        errors = catcher.get("ErrorEquals") if isinstance(catcher, dict) else None
        if isinstance(errors, list) and error_matches(errors, error):
            return i, catcher
    return None


def ungated(graph: Graph, catalog: Catalog) -> Callable[[Edge], bool]:
    """Follow every edge except an approval gate's success path: what runs without anyone approving."""
    def expand(edge: Edge) -> bool:
        source = graph.states[edge.source]
        return not is_approval(source, catalog) or edge.kind == "catch"
    return expand


# --- the rules ---------------------------------------------------------------------------------------


def task_retry_throttling(definition: Definition, graph: Graph, catalog: Catalog) -> Iterator[Finding]:
    for state in graph.states.values():
        if not calls_aws(state):
            continue
        covered = any(
            isinstance(r, dict) and r.get("MaxAttempts", 3) != 0
            and any(e in ("States.ALL", "States.TaskFailed") or THROTTLING.search(str(e))
                    for e in r.get("ErrorEquals") or ())
            for r in state.body.get("Retry") or ())
        if not covered:
            yield Finding("task-retry-throttling", (*state.pointer, "Retry"),
                          f"Task '{state.name}' has no Retry for throttling (e.g. Lambda.TooManyRequestsException, "
                          "a *Throttling* error or States.TaskFailed, with MaxAttempts > 0)")


def task_catch_records(definition: Definition, graph: Graph, catalog: Catalog) -> Iterator[Finding]:
    for state in graph.states.values():
        if not calls_aws(state):
            continue
        found = first_catcher(state, "States.TaskFailed")
        where = (*state.pointer, "Catch")
        if found is None:
            yield Finding("task-catch-records", where,
                          f"Task '{state.name}' has no Catch for its failures (States.ALL or States.TaskFailed)")
            continue
        index, catcher = found
        where = (*state.pointer, "Catch", index)
        if state.language == "JSONPath" and "ResultPath" in catcher and catcher["ResultPath"] is None:
            yield Finding("task-catch-records", (*where, "ResultPath"),
                          f"Task '{state.name}' catches failures with ResultPath null: the error is thrown away "
                          "before anything can record it")
        task = task_of(state, catalog)
        if task is not None and task.records:
            continue  # the recorder's own failure cannot be recorded by itself: any Catch will do
        target = (*state.scope, catcher.get("Next"))
        recorders = {p for p, s in graph.states.items() if (t := task_of(s, catalog)) is not None and t.records}
        if target in graph.states and not (graph.reachable([target]) & recorders):
            yield Finding("task-catch-records", (*where, "Next"),
                          f"Task '{state.name}' catches failures into {label(graph, target)}, which never reaches "
                          "a record step: the failure would not be in the incident record")


def destructive_needs_approval(definition: Definition, graph: Graph, catalog: Catalog) -> Iterator[Finding]:
    if graph.start not in graph.states:
        return
    without_approval = graph.reachable([graph.start], ungated(graph, catalog))
    for pointer, state in graph.states.items():
        task = task_of(state, catalog)
        if task is not None and task.destructive and pointer in without_approval:
            yield Finding("destructive-needs-approval", pointer,
                          f"destructive step '{state.name}' ({task.name}) can run without an approval: route it "
                          "through a request-approval state (.waitForTaskToken), on its success path only")


def approval_timeout(definition: Definition, graph: Graph, catalog: Catalog) -> Iterator[Finding]:
    keys = ("TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath")
    for state in graph.states.values():
        if is_approval(state, catalog) and not any(k in state.body for k in keys):
            yield Finding("approval-timeout", state.pointer,
                          f"approval '{state.name}' has no TimeoutSeconds, TimeoutSecondsPath or HeartbeatSeconds")


def approval_timeout_safe(definition: Definition, graph: Graph, catalog: Catalog) -> Iterator[Finding]:
    for state in graph.states.values():
        if not is_approval(state, catalog):
            continue
        errors = [TIMEOUT]
        if "HeartbeatSeconds" in state.body or "HeartbeatSecondsPath" in state.body:
            errors.append(HEARTBEAT_TIMEOUT)
        for error in errors:
            found = first_catcher(state, error)
            if found is None:
                yield Finding("approval-timeout-safe", (*state.pointer, "Catch"),
                              f"approval '{state.name}' has no Catch for {error}: a timeout fails the whole "
                              "response instead of taking a safe path")
                continue
            index, catcher = found
            target = (*state.scope, catcher.get("Next"))
            if target not in graph.states:
                continue
            reached = graph.reachable([target], ungated(graph, catalog))
            harmful = sorted(graph.states[p].name for p in reached if is_destructive(graph.states[p], catalog))
            if harmful:
                yield Finding("approval-timeout-safe", (*state.pointer, "Catch", index, "Next"),
                              f"approval '{state.name}' on {error} goes to {label(graph, target)}, from which "
                              f"destructive step(s) {', '.join(repr(h) for h in harmful)} run without approval")


def evidence_before_destructive(definition: Definition, graph: Graph, catalog: Catalog) -> Iterator[Finding]:
    if graph.start not in graph.states:
        return
    # A Parallel or Map runs its branches before it moves on: one holding an evidence step counts as one.
    evidence = {p for p, s in graph.states.items()
                if is_evidence(s, catalog) or any(is_evidence(n, catalog) for n in graph.nested(p))}
    destructive = [p for p, s in graph.states.items() if is_destructive(s, catalog)]
    without_evidence = (set() if graph.start in evidence
                        else graph.reachable([graph.start], lambda e: e.target not in evidence))
    for pointer in destructive:
        name = graph.states[pointer].name
        if pointer in without_evidence:
            yield Finding("evidence-before-destructive", pointer,
                          f"destructive step '{name}' can run before any evidence step (snapshot, volatile "
                          "collection, memory capture)")
        after = sorted(graph.states[p].name for p in graph.reachable([pointer]) & evidence
                       if is_evidence(graph.states[p], catalog))
        if after:
            yield Finding("evidence-before-destructive", pointer,
                          f"evidence step(s) {', '.join(repr(a) for a in after)} can run after destructive step "
                          f"'{name}': collect evidence first")


def placeholder_rules(definition: Definition, graph: Graph, catalog: Catalog) -> Iterator[Finding]:
    for pointer, name in placeholders(definition.data):
        if not catalog.known(name):
            yield Finding("placeholder-unknown", pointer,
                          f"placeholder ${{{name}}} is neither a registered task's nor a known resource's")
    yield from _placeholder_keys(definition.data, ())


def _placeholder_keys(value: Any, pointer: Pointer) -> Iterator[Finding]:
    if isinstance(value, dict):
        for key, item in value.items():
            if "${" in key:
                yield Finding("plain-asl", (*pointer, key),
                              f"placeholder in the field name '{key}': placeholders go only in string values")
            yield from _placeholder_keys(item, (*pointer, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _placeholder_keys(item, (*pointer, i))


def no_secrets(definition: Definition, graph: Graph, catalog: Catalog) -> Iterator[Finding]:
    for state in graph.states.values():
        for field_name in SECRET_FIELDS:
            if field_name in state.body:
                yield from _secrets(state.body[field_name], (*state.pointer, field_name), state.name)


def _secrets(value: Any, pointer: Pointer, state: str) -> Iterator[Finding]:
    if isinstance(value, dict):
        for key, item in value.items():
            where = (*pointer, key)
            plain_key = key[:-2] if key.endswith(".$") else key
            if _secret_field(plain_key, item):
                yield Finding("no-secrets", where,
                              f"'{key}' in state '{state}' looks like a secret or credential: pass a reference "
                              "(a Secrets Manager ARN, a role the task assumes) and let the task fetch it")
                continue
            yield from _secrets(item, where, state)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _secrets(item, (*pointer, i), state)
    elif isinstance(value, str):
        for pattern, what in SECRET_VALUES:
            if pattern.search(value) and not value.startswith("arn:"):
                yield Finding("no-secrets", pointer, f"a value in state '{state}' looks like {what}")
                return


def _secret_field(key: str, value: Any) -> bool:
    """A secret-sounding field with a value of its own (not the task token Step Functions hands out)."""
    if not SECRET_KEY.search(key) or NOT_SECRET_KEY.search(key):
        return False
    if isinstance(value, str):
        return value != "" and value not in TASK_TOKEN_VALUES
    return isinstance(value, int | float)


def unreachable_state(definition: Definition, graph: Graph, catalog: Catalog) -> Iterator[Finding]:
    reached = graph.reachable([graph.start])
    for pointer, state in graph.states.items():
        if pointer not in reached:
            yield Finding("unreachable-state", pointer, f"state '{state.name}' is not reachable from StartAt")


RULES: list[Check] = [
    placeholder_rules, task_retry_throttling, task_catch_records, destructive_needs_approval, approval_timeout,
    approval_timeout_safe, evidence_before_destructive, no_secrets, unreachable_state,
]


def check(definition: Definition, catalog: Catalog) -> list[Finding]:
    """Every house-rule finding for `definition`, in rule order."""
    graph = definition.graph()
    return [finding for rule in RULES for finding in rule(definition, graph, catalog)]
