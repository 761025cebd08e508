"""What the console shows, read through the Step Functions API and the incidents table.

The local engine answers the boto3 `stepfunctions` calls under the same names, so one `Source`
serves both modes: locally it is handed the engine and reads the embedded AWS (moto) through
`tasks.common.incidents`, with the engine's scheduler lock held (moto is not thread-safe and the
engine's thread runs tasks against it); pointed at a deployment it is handed boto3 clients.
Execution histories become `Step`s: one per state entered, with its task, how it ended and how
long it took, the currently running states and those waiting for a person.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from irflow.engine.payload import json_or_text

PREFIX = "irflow-"  # state machines and functions are named irflow-<playbook> / irflow-<task>
FAILED_EVENTS = {"TaskFailed", "TaskTimedOut", "TaskStartFailed", "TaskSubmitFailed", "LambdaFunctionFailed",
                 "LambdaFunctionTimedOut", "LambdaFunctionStartFailed", "LambdaFunctionScheduleFailed",
                 "MapStateFailed", "ParallelStateFailed"}
# A Parallel or Map ends with these, chained to its last branch's event rather than to itself.
CONTAINER_ENDS = {f"{kind}State{end}" for kind in ("Parallel", "Map") for end in ("Succeeded", "Failed", "Aborted")}
MAX_LISTED = 100


@dataclass
class Step:
    """One state entered in an execution: when, which task, how it ended."""

    name: str
    type: str
    entered: datetime
    exited: datetime | None = None
    status: str = "RUNNING"  # RUNNING | WAITING (for a person) | SUCCEEDED | FAILED | the execution's end status
    task: str | None = None
    error: str | None = None
    cause: str | None = None
    retries: int = 0

    @property
    def seconds(self) -> float | None:
        return None if self.exited is None else (self.exited - self.entered).total_seconds()


@dataclass
class Execution:
    """An execution as the console lists it; `steps` and the data only when read in detail."""

    playbook: str
    arn: str
    name: str
    status: str
    started: datetime
    stopped: datetime | None = None
    error: str | None = None
    cause: str | None = None
    steps: list[Step] = field(default_factory=list)
    input: Any = None
    output: Any = None
    incident_id: str | None = None

    @property
    def current(self) -> list[Step]:
        """The states running now (several in parallel branches), waiting ones included."""
        return [s for s in self.steps if s.status in ("RUNNING", "WAITING")]

    @property
    def waiting(self) -> bool:
        return any(s.status == "WAITING" for s in self.steps)

    def state_status(self) -> dict[str, str]:
        """State name -> its latest status (a state entered again, like a polling loop, shows its last visit)."""
        found: dict[str, str] = {}
        for step in self.steps:
            found[step.name] = step.status
        return found


def _task_name(details: dict[str, Any]) -> str | None:
    """`irflow-parse-finding` from a lambda:invoke's parameters or a Lambda ARN."""
    target = str(details.get("resource") or "")
    parameters = details.get("parameters")
    if isinstance(parameters, str):
        with contextlib.suppress(ValueError, AttributeError):
            target = str(json.loads(parameters).get("FunctionName") or target)
    name = target.split(":function:")[-1].split(":")[0] if ":function:" in target else target
    return name.removeprefix(PREFIX) if name.startswith(PREFIX) else None


def _details(event: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
    return found


def steps_of(events: list[dict[str, Any]], execution_status: str) -> list[Step]:
    """The states an execution entered, in order, from its history (GetExecutionHistory's events)."""
    steps: list[Step] = []
    owner: dict[int, int] = {}  # event id -> index of the step it belongs to
    containers: list[int] = []  # Parallel and Map steps not yet ended, innermost last
    for event in events:
        kind = str(event["type"])
        when = event["timestamp"]
        if kind.endswith("StateEntered"):
            steps.append(Step(_details(event).get("name", "?"), kind[: -len("StateEntered")], when,
                              status="RUNNING" if execution_status == "RUNNING" else execution_status))
            owner[event["id"]] = len(steps) - 1
            if kind == "FailStateEntered":
                steps[-1].status, steps[-1].exited = "FAILED", when
            elif kind in ("ParallelStateEntered", "MapStateEntered"):
                containers.append(len(steps) - 1)
            continue
        index = containers.pop() if kind in CONTAINER_ENDS and containers else owner.get(event.get("previousEventId", 0))
        if index is None:
            continue
        owner[event["id"]] = index
        step = steps[index]
        details = _details(event)
        if kind in ("TaskScheduled", "LambdaFunctionScheduled"):
            if step.task is not None:
                step.retries += 1
            step.task = _task_name(details) or step.task
        elif kind == "TaskSubmitted" and "waitForTaskToken" in str(details.get("resource", "")) \
                and step.status == "RUNNING":
            step.status = "WAITING"
        elif kind in ("TaskSucceeded", "LambdaFunctionSucceeded"):
            step.error = step.cause = None  # a retry that worked
            if step.status == "WAITING":
                step.status = "RUNNING"
        elif kind in FAILED_EVENTS:
            step.error, step.cause = details.get("error"), details.get("cause")
            step.status = "FAILED" if execution_status != "RUNNING" else "RUNNING"
        elif kind.endswith("StateExited"):
            step.exited = when
            step.status = "FAILED" if step.error else "SUCCEEDED"  # a failure a Catch handled still failed
    return steps


def incident_id_of(finding: Any) -> str | None:
    """The incident a finding opens (deterministic from account, region and finding id), if it is one."""
    from tasks.common.models import incident_id_for

    detail = finding.get("detail") if isinstance(finding, dict) else None
    if not isinstance(detail, dict):
        return None
    account, region, finding_id = detail.get("accountId"), detail.get("region"), detail.get("id")
    if not all(isinstance(v, str) and v for v in (account, region, finding_id)):
        return None
    return incident_id_for(str(account), str(region), str(finding_id))


class Source:
    """Reads (and starts) executions, incidents and approvals; every call holds `lock`."""

    def __init__(self, sfn: Any, machines: Callable[[], dict[str, str]], lock: Any = None, ddb: Any = None,
                 now: Callable[[], datetime] | None = None, quiet: Callable[[], Any] | None = None) -> None:
        self.sfn = sfn
        self._machines = machines
        self.lock = lock if lock is not None else contextlib.nullcontext()
        self.ddb = ddb
        self._now = now or (lambda: datetime.now(UTC))
        self._quiet = quiet or contextlib.nullcontext

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        with self.lock, self._quiet():
            yield

    def now(self) -> datetime:
        return self._now()

    def playbooks(self) -> dict[str, str]:
        """Playbook name -> state machine ARN."""
        with self._reading():
            return dict(self._machines())

    # --- executions -------------------------------------------------------------------------------
    def executions(self) -> list[Execution]:
        """Every execution of every playbook, newest first, running ones with their current states."""
        found: list[Execution] = []
        with self._reading():
            for playbook, machine in self._machines().items():
                listed = self.sfn.list_executions(stateMachineArn=machine, maxResults=MAX_LISTED)["executions"]
                for item in listed:
                    execution = Execution(playbook, item["executionArn"], item["name"], item["status"],
                                          item["startDate"], item.get("stopDate"))
                    if execution.status == "RUNNING":
                        execution.steps = steps_of(self._history(execution.arn), "RUNNING")
                    elif execution.status != "SUCCEEDED":
                        described = self.sfn.describe_execution(executionArn=execution.arn)
                        execution.error, execution.cause = described.get("error"), described.get("cause")
                    found.append(execution)
        found.sort(key=lambda e: e.started, reverse=True)
        return found

    def execution(self, playbook: str, name: str) -> Execution | None:
        """One execution in detail (steps, input, output, its incident), or None."""
        machine = self.playbooks().get(playbook)
        if machine is None:
            return None
        arn = f"{machine.replace(':stateMachine:', ':execution:')}:{name}"
        with self._reading():
            try:
                described = self.sfn.describe_execution(executionArn=arn)
            except Exception as error:  # ExecutionDoesNotExist, from the engine or from AWS
                if "ExecutionDoesNotExist" in type(error).__name__ or "ExecutionDoesNotExist" in str(error):
                    return None
                raise
            events = self._history(arn)
        execution = Execution(playbook, arn, name, described["status"], described["startDate"],
                              described.get("stopDate"), described.get("error"), described.get("cause"),
                              steps_of(events, described["status"]), json_or_text(described.get("input")),
                              json_or_text(described.get("output")))
        candidate = incident_id_of(execution.input)
        if candidate is not None and self.incident(candidate) is not None:
            execution.incident_id = candidate
        return execution

    def _history(self, arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = self.sfn.get_execution_history(executionArn=arn, maxResults=1000,
                                                  **({"nextToken": token} if token else {}))
            events.extend(page["events"])
            token = page.get("nextToken")
            if not token:
                return events

    def start(self, playbook: str, finding: Any, name: str) -> str:
        """Start `playbook` by hand with `finding` as its input; returns the execution ARN."""
        machine = self.playbooks()[playbook]
        with self._reading():
            arn: str = self.sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(finding))[
                "executionArn"]
        return arn

    # --- incidents and approvals -------------------------------------------------------------------------
    def incidents(self) -> list[dict[str, Any]]:
        """Every incident's summary, newest first, with its counts of actions, evidence and pending approvals."""
        from tasks.common.incidents import list_incidents

        with self._reading():
            return list_incidents(self.ddb)

    def incident(self, incident_id: str) -> dict[str, Any] | None:
        from tasks.common.incidents import load_incident

        with self._reading():
            try:
                return load_incident(incident_id, self.ddb)
            except KeyError:
                return None

    def pending_approvals(self) -> list[dict[str, Any]]:
        """Approvals waiting for a person, oldest first, as the approval API shows them (never the token)."""
        from tasks.common import approvals
        from tasks.common.errors import ApprovalNotFound
        from tasks.common.incidents import list_pending_approvals

        out = []
        with self._reading():
            for row in list_pending_approvals(self.ddb):
                try:
                    out.append(approvals.get(row["approval_id"], self.ddb))
                except ApprovalNotFound:  # decided between the scan and the read
                    continue
        return out

    def approval_link(self, approval: dict[str, Any]) -> str | None:
        """The approval page's signed URL (None where no approval API is configured)."""
        from tasks.common import approval_links

        with self._reading():
            return approval_links.link(str(approval["approval_id"]), str(approval["expires_at"]))
