"""`irflow simulate`: run a scenario end to end and report it, as a timeline or one JSON document.

The scenario's resources are created in a fresh embedded AWS, its events go through EventBridge
to the playbooks, and each execution runs on the engine's virtual clock, which starts at the
first event's time. Approvals are answered as the scenario (or `--approve`) says: `approve` and
`reject` after `HUMAN_SECONDS` (someone reads the notification and decides, through
`tasks.common.approvals.decide`, the approval API's own code path); `timeout` lets the approval
deadline pass. The run ends when no execution is running.

Without `--json` a timeline is printed as it happens: simulated time since the finding, state,
task, the task's simulated duration and what it changed in the embedded AWS (read back from it),
evidence written and notifications sent, then a summary per incident stating the simulated time
from the finding to containment (the first successful `CONTAINMENT_TASKS` step). Exit status: 0
when every execution SUCCEEDED, 1 when one did not, 2 when the scenario or an event cannot be read.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from . import subscriptions
from .events import Delivery, EventError
from .playbooks import PlaybookError
from .scenario import Created, Scenario, ScenarioError, accounts_of, after_state, create, load, substitute

HUMAN_SECONDS = 180.0
CONTAINMENT_TASKS = ("isolate-instance", "block-ip-addresses", "contain-principal", "remediate-bucket-exposure",
                     "revoke-ingress-rules")
DEFAULT_START = datetime(2025, 1, 1, tzinfo=UTC)
MAX_ROUNDS = 50
APPROVER = "irflow-simulate"
DECIDED = {"approve": "approved", "reject": "rejected"}
READ_PREFIXES = ("Describe", "Get", "List", "Head", "Lookup", "Search", "Query", "Scan", "AssumeRole", "BatchGet")


def _elapsed(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s"


def _event_time(event: dict[str, Any]) -> datetime | None:
    value = event.get("time")
    if not isinstance(value, str):
        return subscriptions.event_time(event)  # an SNS or CloudWatch Logs delivery (None otherwise)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _remote_ips(event: dict[str, Any]) -> tuple[str, ...]:
    """Addresses attacking the instance, when the finding has it as the target (its logs show them)."""
    detail = event.get("detail")
    service = detail.get("service") if isinstance(detail, dict) else None
    if not isinstance(service, dict) or service.get("resourceRole") != "TARGET":
        return ()
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "ipAddressV4" and isinstance(inner, str) and inner not in found:
                    found.append(inner)
                if key != "localIpDetails":
                    walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(service.get("action"))
    return tuple(found)


def _state_type(event_type: str) -> str:
    return event_type[: -len("StateEntered")]


FAILURES = {"TaskFailed", "TaskTimedOut", "LambdaFunctionFailed", "LambdaFunctionTimedOut",
            "LambdaFunctionScheduleFailed", "LambdaFunctionStartFailed", "TaskStartFailed", "TaskSubmitFailed",
            "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}


def states_of(history: list[dict[str, Any]], execution_status: str) -> list[dict[str, str]]:
    """Each state entered, in order, with how it ended: SUCCEEDED, FAILED, or the execution's status."""
    states: list[dict[str, str]] = []
    open_by_event: dict[int, int] = {}  # event id -> index in states
    for event in history:
        kind = event["type"]
        parent = open_by_event.get(event.get("previousEventId", 0))
        if kind.endswith("StateEntered"):
            states.append({"name": event["stateEnteredEventDetails"]["name"], "type": _state_type(kind),
                           "status": "RUNNING" if execution_status == "RUNNING" else execution_status})
            open_by_event[event["id"]] = len(states) - 1
            continue
        if parent is None:
            continue
        open_by_event[event["id"]] = parent
        if kind in FAILURES:
            states[parent]["status"] = "FAILED"
        elif kind.endswith("StateExited") and states[parent]["status"] != "FAILED":
            states[parent]["status"] = "SUCCEEDED"
    return states


@dataclass
class Timeline:
    """Prints what happens as the engine reports it (nothing when `out` is None)."""

    runtime: Any
    created: dict[str, Created]
    out: TextIO | None
    origin: datetime
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    names: dict[str, dict[int, str]] = field(default_factory=dict)
    scheduled: dict[str, dict[int, str]] = field(default_factory=dict)
    parents: dict[str, dict[int, int]] = field(default_factory=dict)
    containment: dict[str, datetime] = field(default_factory=dict)  # execution -> when contained
    reported: set[tuple[str, int]] = field(default_factory=set)  # task invocations already shown
    evidence_seen: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.tasks_by_arn = {arn: task for task, arn in self.runtime.functions.items()}

    def line(self, when: datetime | None, text: str) -> None:
        if self.out is None:
            return
        stamp = "" if when is None else "+" + _elapsed(max(0.0, (when - self.origin).total_seconds()))
        self.out.write(f"{stamp:>10}  {text}\n")
        self.out.flush()

    def snapshot(self) -> None:
        self.snapshots = {name: after_state(self.runtime.aws, c) for name, c in self.created.items()}

    def on_event(self, execution: Any, event: dict[str, Any]) -> None:
        arn = execution.run.execution_arn
        names = self.names.setdefault(arn, {})
        self.parents.setdefault(arn, {})[event["id"]] = event.get("previousEventId", 0)
        kind = event["type"]
        when = event["timestamp"]
        playbook = arn.split(":")[-2].removeprefix("irflow-")
        if kind.endswith("StateEntered"):
            names[event["id"]] = event["stateEnteredEventDetails"]["name"]
            return
        state = names.get(event.get("previousEventId", 0), "")
        names[event["id"]] = state
        if kind == "ExecutionStarted":
            self.line(when, f"{playbook}: execution {arn.split(':')[-1]} started")
        elif kind in ("TaskScheduled", "LambdaFunctionScheduled"):
            self.scheduled.setdefault(arn, {})[event["id"]] = self._task_of(event)
        elif kind == "TaskSubmitted" and "waitForTaskToken" in event["taskSubmittedEventDetails"].get("resource", ""):
            self._task_line(arn, event, state, when, " -> waiting for a person")
        elif kind in ("TaskSucceeded", "LambdaFunctionSucceeded"):
            task = self._task_line(arn, event, state, when)
            if task in CONTAINMENT_TASKS and arn not in self.containment:
                self.containment[arn] = when
        elif kind in FAILURES - {"ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}:
            details = _details(event)
            task = self._scheduled_task(arn, event)
            self.line(when, f"{state:<28} {task or '':<20} failed: {details.get('error')}: "
                            f"{_short(details.get('cause'))}")
        elif kind == "WaitStateEntered":
            return
        elif kind in ("ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"):
            details = _details(event)
            status = kind.removeprefix("Execution").upper().replace("TIMEDOUT", "TIMED_OUT")
            tail = f": {details.get('error')}: {_short(details.get('cause'))}" if status != "SUCCEEDED" else ""
            self.line(when, f"{playbook}: execution {status}{tail}")

    def _task_line(self, arn: str, event: dict[str, Any], state: str, when: datetime, tail: str = "") -> str:
        """One line per task invocation: its duration and what it changed (once, for callbacks too)."""
        task = self._scheduled_task(arn, event)
        scheduled = self._scheduled_id(arn, event)
        if (arn, scheduled) in self.reported:
            self.line(when, f"{state:<28} resumed")
            return task
        self.reported.add((arn, scheduled))
        invocation = self._last_invocation(task)
        took = f" {invocation.seconds:.2f}s{' (cold start)' if invocation.cold else ''}" if invocation else ""
        changes = self._changes(invocation)
        self.line(when, f"{state:<28} {task or 'ok':<20}{took}{tail}" + (f"  {'; '.join(changes)}" if changes else ""))
        return task

    def _task_of(self, event: dict[str, Any]) -> str:
        details = _details(event)
        resource = details.get("resource", "")
        target = resource
        if details.get("resourceType") == "lambda":
            try:
                target = json.loads(details.get("parameters") or "{}").get("FunctionName", "")
            except ValueError:
                target = ""
        for arn, task in self.tasks_by_arn.items():
            if target == arn or target.startswith(arn + ":") or target == arn.split(":")[-1]:
                return str(task)
        return ""

    def _scheduled_id(self, arn: str, event: dict[str, Any]) -> int:
        """The id of the Scheduled event this event follows (Succeeded <- Submitted <- Started <- Scheduled)."""
        scheduled = self.scheduled.get(arn, {})
        parents = self.parents.get(arn, {})
        previous = event.get("previousEventId", 0)
        for _ in range(10):
            if not previous or previous in scheduled:
                break
            previous = parents.get(previous, 0)
        return int(previous)

    def _scheduled_task(self, arn: str, event: dict[str, Any]) -> str:
        return self.scheduled.get(arn, {}).get(self._scheduled_id(arn, event), "")

    def _last_invocation(self, task: str) -> Any:
        for invocation in reversed(self.runtime.invocations):
            if invocation.task == task:
                return invocation
        return None

    def _changes(self, invocation: Any) -> list[str]:
        if invocation is None or self.out is None:  # nobody reads the timeline: no need to look
            return []
        writes = [(svc, op) for svc, op in invocation.calls if not op.startswith(READ_PREFIXES)]
        changes: list[str] = []
        # S3 writes are evidence (PutObject) unless they change a bucket's configuration or an object's ACL or tags
        if any(svc not in ("dynamodb", "sns", "sqs", "s3", "ssm") or (svc == "s3" and op != "PutObject")
               for svc, op in writes):
            before = self.snapshots
            self.snapshot()
            for name, after in self.snapshots.items():
                changes += [f"{name}: {c}" for c in describe_changes(before.get(name, {}), after)]
        if any(svc == "s3" for svc, _ in writes) or any(op == "GetCommandInvocation" for _, op in invocation.calls):
            changes += self._new_evidence()
        if any(svc == "sns" for svc, _ in writes):
            for note in self.runtime.aws.drain_notifications():
                changes.append(f"notified: {_short(note['subject'] or note['message'], 70)}")
        return changes

    def _new_evidence(self) -> list[str]:
        world = self.runtime.aws
        s3 = world.client("s3")
        found = []
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=world.central.evidence_bucket):
            for item in page.get("Contents", []):
                if item["Key"] not in self.evidence_seen:
                    self.evidence_seen.add(item["Key"])
                    short = re.sub(r"^incidents/[^/]+/", "", item["Key"])  # the incident is in the summary
                    short = re.sub(r"/([0-9a-f]{8})[0-9a-f-]{28}/", r"/\1…/", short)  # SSM command ids
                    found.append(f"evidence {short} ({item['Size'] / 1024:.1f} KB)")
        return found


def _details(event: dict[str, Any]) -> dict[str, Any]:
    """The event's `...EventDetails` object."""
    found: dict[str, Any] = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
    return found


def _short(text: Any, limit: int = 140) -> str:
    value = " ".join(str(text or "").split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def describe_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What changed in one resource's after-state, in a few words per field."""
    out = []
    for key, new in after.items():
        old = before.get(key)
        if old == new or not before:
            continue
        if key == "tags" and isinstance(old, dict) and isinstance(new, dict):
            added = [f"+{k}={v}" for k, v in new.items() if old.get(k) != v]
            removed = [f"-{k}" for k in old if k not in new]
            out.append("tags " + " ".join(added + removed))
        elif key == "securityGroups":
            out.append(f"security groups {_names(old)} -> {_names(new)}")
        elif key == "snapshots":
            out.append("snapshots +" + ",".join(s for s in new if s not in (old or [])))
        elif key == "accessKeys":
            out.append("access keys " + ", ".join(f"{k['id']} {k['status']}" for k in new))
        elif key == "publicAccessBlock":
            out.append(f"public access block {_block(old)} -> {_block(new)}")
        elif key == "ingressRules" and isinstance(new, list):
            out.append(f"ingress {_rules(old)} -> {_rules(new)}")
        else:
            out.append(f"{key} {_value(old)} -> {_value(new)}")
    return out


def _block(block: Any) -> str:
    """An S3 public access block in one word: on (all four settings), off (none or no block), partial."""
    settings = list((block or {}).values())
    return "on" if settings and all(settings) else "off" if not any(settings) else "partial"


def _rules(rules: Any) -> str:
    """A security group's ingress rules in a few words: `[tcp 22 from 10.0.0.0/8, ...]`."""
    def port(rule: dict[str, Any]) -> str:
        low, high = rule.get("fromPort"), rule.get("toPort")
        return "all" if rule.get("protocol") == "all" else f"{rule.get('protocol')} {low}" + (
            f"-{high}" if high != low else "")

    return "[" + "; ".join(f"{port(r)} from {', '.join(r.get('cidrs', []))}" for r in rules or []) + "]"


def _names(groups: Any) -> str:
    return "[" + ", ".join(g.get("name", g.get("id", "?")) for g in groups or []) + "]"


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


@dataclass
class Outcome:
    document: dict[str, Any]
    exit_code: int
    containment: dict[str, float]  # execution ARN -> seconds from finding to containment


def run_scenario(scenario: Scenario, out: TextIO | None = None,
                 runtime_factory: Callable[..., Any] | None = None,
                 then: Callable[[Any, dict[str, Created]], None] | None = None) -> Outcome:
    """Run a loaded scenario; print the timeline to `out` when given.

    `then(runtime, created)` runs after the scenario's executions have ended and before the
    report is read back (`irflow release` acts on the incident there).
    """
    from .runtime import Runtime

    events = scenario.events
    first_time = next((t for t in (_event_time(e) for e in events) if t is not None), None)
    origin = first_time or DEFAULT_START
    factory = runtime_factory or Runtime
    with factory(security_account=scenario.security_account, start_time=origin) as runtime:
        world = runtime.aws
        default_account = scenario.event_account() or next(iter(scenario.members), "222222222222")
        for account, role in accounts_of(scenario, default_account).items():
            world.add_member(account, role)
        created = create(world, scenario)
        timeline = Timeline(runtime, created, out, origin)
        if out is not None:
            timeline.snapshot()
        runtime.engine.add_listener(timeline.on_event)
        if out is not None:
            out.write(f"irflow simulate: {scenario.name}\n")
            for name, item in created.items():
                out.write(f"{'':>10}  resource {name}: {item.spec.type} {item.id} in {item.account} {item.region}\n")
        resolved = [substitute(event, created) for event in events]
        instances = {c.id for c in created.values() if c.spec.type == "ec2-instance"}
        for event in resolved:
            ips = _remote_ips(event)
            if ips:
                for instance in instances & set(_strings(event)):
                    world.agent.set_remote_ips(instance, ips)
        for index, event in enumerate(resolved, start=1):
            when = _event_time(event)
            if when is not None and when > runtime.now():
                runtime.advance((when - runtime.now()).total_seconds())
            if subscriptions.kind(event):  # a Lambda subscription's delivery (CloudWatch Logs, SNS), not EventBridge
                timeline.line(runtime.now(), f"event {index}: {subscriptions.label(event)}")
                delivered = subscriptions.deliver(runtime, event)
                timeline.line(runtime.now(), delivered.summary())
                _report_deliveries(timeline, runtime, delivered.route(runtime), quiet=True)
                continue
            timeline.line(runtime.now(), f"event {index}: {event.get('detail-type')} from {event.get('source')}"
                          + _finding_summary(event))
            try:
                deliveries = runtime.put_event(event)
            except EventError as error:
                raise ScenarioError(f"event {index}: {error}") from error
            _report_deliveries(timeline, runtime, deliveries)
        _answer_approvals(runtime, scenario, timeline)
        if then is not None:
            then(runtime, created)
        document = _document(runtime, scenario, created)
        containment = {arn: (when - _finding_time(runtime, arn, origin)).total_seconds()
                       for arn, when in timeline.containment.items()}
        exit_code = 0 if all(e["status"] == "SUCCEEDED" for e in document["executions"]) else 1
        if out is not None:
            _summary(out, document, containment, runtime)
        return Outcome(document, exit_code, containment)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _finding_summary(event: dict[str, Any]) -> str:
    detail = event.get("detail")
    if not isinstance(detail, dict):
        return ""
    parts = []
    if detail.get("type"):
        parts.append(str(detail["type"]))
    if isinstance(detail.get("severity"), (int, float)):
        parts.append(f"severity {detail['severity']}")
    return f" ({', '.join(parts)})" if parts else ""


def _report_deliveries(timeline: Timeline, runtime: Any, deliveries: list[Delivery], quiet: bool = False) -> None:
    if not deliveries and not quiet:
        timeline.line(runtime.now(), "matched no playbook trigger: nothing started")
    for delivery in deliveries:
        if delivery.outcome == "duplicate":
            timeline.line(runtime.now(), f"{delivery.playbook}: redelivered event: execution "
                                         f"{delivery.execution_name} exists, not started again")
        elif delivery.outcome == "exists":
            timeline.line(runtime.now(), f"{delivery.playbook}: same finding in a different envelope: Step Functions "
                                         f"refuses a second execution {delivery.execution_name} (ExecutionAlreadyExists)")


def _answer_approvals(runtime: Any, scenario: Scenario, timeline: Timeline) -> None:
    decided: set[str] = set()
    for _ in range(MAX_ROUNDS):
        runtime.run_until_idle()
        if not any(e["status"] == "RUNNING" for e in runtime.executions()):
            return
        pending = [p for p in runtime.pending_approvals() if p["approval_id"] not in decided]
        if not pending or scenario.approvals == "timeout":
            if pending:
                for item in pending:
                    timeline.line(runtime.now(), f"approval {item['approval_id']} ({item.get('action')} "
                                                 f"{item.get('target')}): nobody answers")
                    decided.add(item["approval_id"])
            runtime.engine.run_until_complete()
            continue
        delay = HUMAN_SECONDS
        for item in pending:
            expires = _parse_time(item.get("expires_at"))
            if expires is not None:
                delay = min(delay, max(0.0, (expires - runtime.now()).total_seconds() / 2))
        runtime.advance(delay)
        decision = "approve" if scenario.approvals == "approve" else "reject"
        for item in pending:
            decided.add(item["approval_id"])
            timeline.line(runtime.now(), f"approval {item['approval_id']} ({item.get('action')} {item.get('target')}): "
                                         f"{DECIDED[decision]} by {APPROVER}")
            runtime.decide(item["approval_id"], decision, APPROVER, reason=f"scenario {scenario.name}")
    raise ScenarioError(f"scenario did not finish after {MAX_ROUNDS} rounds of approvals")


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _finding_time(runtime: Any, execution_arn: str, origin: datetime) -> datetime:
    described = runtime.engine.describe_execution(executionArn=execution_arn)
    try:
        event = json.loads(described["input"])
    except ValueError:
        return origin
    when = _event_time(event) if isinstance(event, dict) else None
    return when or origin


def _document(runtime: Any, scenario: Scenario, created: dict[str, Created]) -> dict[str, Any]:
    executions = []
    for execution in runtime.executions():
        history = runtime.engine.get_execution_history(executionArn=execution["executionArn"], maxResults=25000)
        executions.append({
            "playbook": execution["playbook"],
            "executionArn": execution["executionArn"],
            "status": execution["status"],
            "error": execution.get("error"),
            "cause": execution.get("cause"),
            "states": states_of(history["events"], execution["status"]),
        })
    incidents = []
    for incident in runtime.incidents():
        incidents.append({
            "id": incident["id"],
            "status": incident["status"],
            "actions": [{"name": a["name"], "target": a["target"], "result": a["result"]}
                        for a in incident.get("actions", [])],
            "evidence": [{"uri": e["uri"], "sha256": e["sha256"]} for e in incident.get("evidence", [])],
            "approvals": [{"id": a["id"], "decision": a["decision"], "by": a.get("by")}
                          for a in incident.get("approvals", [])],
        })
    resources = {name: after_state(runtime.aws, item) for name, item in created.items()}
    return {"scenario": scenario.name, "executions": executions, "incidents": incidents, "resources": resources}


def _summary(out: TextIO, document: dict[str, Any], containment: dict[str, float], runtime: Any) -> None:
    out.write("\nSummary\n")
    for execution in document["executions"]:
        arn = execution["executionArn"]
        line = f"  {execution['playbook']} {arn.split(':')[-1]}: {execution['status']}"
        if execution["error"]:
            line += f" ({execution['error']})"
        out.write(line + "\n")
        if arn in containment:
            out.write(f"    finding -> containment: {_elapsed(containment[arn])} (simulated)\n")
        else:
            out.write("    finding -> containment: not contained by this execution\n")
    for incident in document["incidents"]:
        out.write(f"  incident {incident['id']}: {incident['status']}\n")
        for action in incident["actions"]:
            out.write(f"    action   {action['name']} {action['target']}: {action['result']}\n")
        for evidence in incident["evidence"]:
            out.write(f"    evidence {evidence['uri']} sha256:{evidence['sha256'][:16]}…\n")
        for approval in incident["approvals"]:
            out.write(f"    approval {approval['id']}: {approval['decision']}"
                      + (f" by {approval['by']}" if approval["by"] else "") + "\n")
    for name, state in document["resources"].items():
        out.write(f"  resource {name}: {_resource_line(state)}\n")


def _resource_line(state: dict[str, Any]) -> str:
    if "securityGroups" in state:
        groups = ", ".join(g["name"] for g in state["securityGroups"])
        return (f"{state['id']} {state['state']}, groups [{groups}], ASG {state['autoScalingGroup'] or 'none'}, "
                f"target groups [{', '.join(state['targetGroups'])}], {len(state['snapshots'])} snapshot(s), "
                f"termination protection {'on' if state['terminationProtection'] else 'off'}")
    if "accessKeys" in state:
        return f"{state['name']} keys " + ", ".join(f"{k['id']} {k['status']}" for k in state["accessKeys"])
    if "policyIsPublic" in state:
        return f"{state['name']} public={state['policyIsPublic']}"
    return json.dumps(state)


def main(path: str, approve: str | None = None, json_output: bool = False,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """The `irflow simulate` command: returns the exit status."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        scenario = load(path, approve)
        outcome = run_scenario(scenario, out=None if json_output else out)
    except (ScenarioError, PlaybookError) as error:
        err.write(f"irflow simulate: {error}\n")
        return 2
    if json_output:
        out.write(json.dumps(outcome.document, indent=2, default=str) + "\n")
    return outcome.exit_code

