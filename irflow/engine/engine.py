"""`Engine`: the Step Functions API, run locally.

Method names, keyword arguments and return shapes are those of the boto3 `stepfunctions` client,
so code written against AWS runs against the engine unchanged. With the virtual clock (default)
every call that starts or resumes work runs it until the executions end or wait on the outside
world, so `start_execution` followed by `describe_execution` shows the outcome at once.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import errors as E
from .errors import StatesError
from .interpreter import ExecutionRun, FailState, Interpreter
from .payload import MAX_PAYLOAD_BYTES, to_json
from .resources import LocalFunction
from .scheduler import Aborted, Clock, Fiber, RealClock, Scheduler, VirtualClock
from .validation import validate_definition

NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
DEFAULT_ROLE = "arn:aws:iam::{account}:role/irflow-local-execution"
MAX_EXECUTION_SECONDS = 365 * 24 * 3600


@dataclass
class StateMachine:
    arn: str
    name: str
    definition_text: str
    definition: dict[str, Any]
    role_arn: str
    type: str
    created: datetime
    updated: datetime | None = None


@dataclass
class Execution:
    run: ExecutionRun
    status: str = "RUNNING"
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    stop_date: datetime | None = None


class Engine:
    """A local Step Functions: create state machines, run executions, answer callbacks."""

    def __init__(self, clock: str | Clock = "virtual", region: str = "us-east-1",
                 account_id: str = "111111111111", client_factory: Callable[[str], Any] | None = None,
                 seed: int | None = 0, start_time: datetime | None = None) -> None:
        if isinstance(clock, Clock):
            self.clock = clock
        elif clock == "virtual":
            self.clock = VirtualClock(start_time)
        elif clock == "real":
            self.clock = RealClock()
        else:
            raise ValueError("clock must be 'virtual' or 'real'")
        self.virtual = isinstance(self.clock, VirtualClock)
        self.region = region
        self.account_id = account_id
        self.scheduler = Scheduler(self.clock)
        self.interpreter = Interpreter(self)
        self._client_factory = client_factory
        self._clients: dict[str, Any] = {}
        self._seed = seed
        self._machines: dict[str, StateMachine] = {}
        self._executions: dict[str, Execution] = {}
        self._functions: dict[str, LocalFunction] = {}
        self._tokens: dict[str, str] = {}
        self._listeners: list[Callable[[Execution, dict[str, Any]], None]] = []
        self._thread: threading.Thread | None = None
        self._closed = False

    # --- wiring ---------------------------------------------------------------------------------
    @property
    def sfn_self(self) -> Engine:
        """The engine itself answers `states:*` integrations (child executions run here)."""
        return self

    def client(self, service: str) -> Any:
        """A boto3 client for an SDK integration, made on first use."""
        if service not in self._clients:
            if self._client_factory is not None:
                self._clients[service] = self._client_factory(service)
            else:
                import boto3

                self._clients[service] = boto3.client(service, region_name=self.region)  # type: ignore[call-overload]
        return self._clients[service]

    def register_lambda(self, name_or_arn: str, handler: Callable[[Any, Any], Any], timeout_seconds: float = 900.0,
                        duration_seconds: float = 0.0) -> str:
        """Serve a Lambda function from a Python handler; returns its ARN.

        `duration_seconds` is how long each invocation takes in simulated time (a handler can
        add more through `context.simulate_duration`); past `timeout_seconds` it fails as Lambda
        fails a function that runs out of time.
        """
        if name_or_arn.startswith("arn:"):
            arn = name_or_arn
            name = name_or_arn.split(":")[6]
        else:
            name = name_or_arn
            arn = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
        function = LocalFunction(name, arn, handler, timeout_seconds, duration_seconds)
        self._functions[arn] = function
        self._functions[name] = function
        return arn

    def lookup_lambda(self, name_or_arn: str) -> LocalFunction | None:
        found = self._functions.get(name_or_arn)
        if found is None and name_or_arn.startswith("arn:"):
            parts = name_or_arn.split(":")
            if len(parts) >= 7:
                found = self._functions.get(":".join(parts[:7]))
        return found

    def add_listener(self, listener: Callable[[Execution, dict[str, Any]], None]) -> None:
        """Call `listener(execution, event)` for every history event as it happens (timelines, console)."""
        self._listeners.append(listener)

    # --- state machines ---------------------------------------------------------------------------
    def create_state_machine(self, *, name: str, definition: str, roleArn: str | None = None,
                             type: str = "STANDARD", **_: Any) -> dict[str, Any]:
        if not NAME.match(name or ""):
            raise E.InvalidName(f"Invalid Name: '{name}'")
        parsed = self._parse_definition(definition)
        arn = f"arn:aws:states:{self.region}:{self.account_id}:stateMachine:{name}"
        with self.scheduler.lock:
            existing = self._machines.get(arn)
            if existing is not None:
                if existing.definition_text == definition:
                    return {"stateMachineArn": arn, "creationDate": existing.created}
                raise E.StateMachineAlreadyExists(f"State Machine Already Exists: '{arn}'")
            machine = StateMachine(arn, name, definition, parsed,
                                   roleArn or DEFAULT_ROLE.format(account=self.account_id), type, self.clock.now())
            self._machines[arn] = machine
        return {"stateMachineArn": arn, "creationDate": machine.created}

    def validate_state_machine_definition(self, *, definition: str, **_: Any) -> dict[str, Any]:
        try:
            self._parse_definition(definition)
        except E.DefinitionError as err:
            return {"result": "FAIL", "diagnostics": [
                {"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": err.message}]}
        return {"result": "OK", "diagnostics": []}

    def _parse_definition(self, definition: str) -> dict[str, Any]:
        if not isinstance(definition, str):
            raise E.DefinitionError("Invalid State Machine Definition: the definition must be a JSON string")
        parsed = _parse_json(definition, lambda err: E.DefinitionError(
            f"Invalid State Machine Definition: 'INVALID_JSON_DESCRIPTION: {err}'"))
        validate_definition(parsed)
        return dict(parsed)

    def update_state_machine(self, *, stateMachineArn: str, definition: str | None = None,
                             roleArn: str | None = None, **_: Any) -> dict[str, Any]:
        machine = self._machine(stateMachineArn)
        if definition is not None:
            machine.definition = self._parse_definition(definition)
            machine.definition_text = definition
        if roleArn is not None:
            machine.role_arn = roleArn
        machine.updated = self.clock.now()
        return {"updateDate": machine.updated}

    def describe_state_machine(self, *, stateMachineArn: str, **_: Any) -> dict[str, Any]:
        machine = self._machine(stateMachineArn)
        return {
            "stateMachineArn": machine.arn, "name": machine.name, "status": "ACTIVE",
            "definition": machine.definition_text, "roleArn": machine.role_arn, "type": machine.type,
            "creationDate": machine.created,
        }

    def list_state_machines(self, **_: Any) -> dict[str, Any]:
        return {"stateMachines": [
            {"stateMachineArn": m.arn, "name": m.name, "type": m.type, "creationDate": m.created}
            for m in self._machines.values()
        ]}

    def delete_state_machine(self, *, stateMachineArn: str) -> dict[str, Any]:
        self._machines.pop(stateMachineArn, None)
        return {}

    def _machine(self, arn: str) -> StateMachine:
        machine = self._machines.get(arn)
        if machine is None:
            raise E.StateMachineDoesNotExist(f"State Machine Does Not Exist: '{arn}'")
        return machine

    # --- executions -------------------------------------------------------------------------------
    def start_execution(self, *, stateMachineArn: str, name: str | None = None, input: str | None = None,
                        **_: Any) -> dict[str, Any]:
        machine = self._machine(stateMachineArn)
        text = "{}" if input is None else input
        if not isinstance(text, str):
            raise E.InvalidExecutionInput("Invalid State Machine Execution Input: input must be a JSON string")
        if len(text.encode("utf-8")) > MAX_PAYLOAD_BYTES:
            raise E.ValidationException("1 validation error detected: Value at 'input' failed to satisfy "
                                        "constraint: Member must have length less than or equal to 262144")
        value = _parse_json(text, lambda err: E.InvalidExecutionInput(f"Invalid State Machine Execution Input: '{err}'"))
        if name is None:
            name = str(uuid.uuid4())
        elif not NAME.match(name):
            raise E.InvalidName(f"Invalid Name: '{name}'")
        arn = f"arn:aws:states:{self.region}:{self.account_id}:execution:{machine.name}:{name}"
        with self.scheduler.lock:
            existing = self._executions.get(arn)
            if existing is not None:
                if existing.run.raw_input == text:
                    return {"executionArn": arn, "startDate": existing.run.start_time}
                raise E.ExecutionAlreadyExists(f"Execution Already Exists: '{arn}'")
            run = ExecutionRun(self, arn, name, machine.arn, machine.name, machine.definition, text, value,
                               machine.role_arn, self.clock.now())
            if self._seed is not None:
                run.rng.seed(f"{self._seed}:{arn}")
            execution = Execution(run)
            self._executions[arn] = execution
            run.history.listeners.append(lambda event: self._notify(execution, event))
            run.history.append(self.clock.now(), "ExecutionStarted", 0, {
                "input": text, "inputDetails": {"truncated": False}, "roleArn": machine.role_arn,
            })
            run.fiber = self.scheduler.spawn(self._drive(execution), name)
            timeout = machine.definition.get("TimeoutSeconds", MAX_EXECUTION_SECONDS)
            self.scheduler.add_deadline(run.fiber, float(timeout), lambda: self._time_out(execution))
        self._after_call()
        return {"executionArn": arn, "startDate": run.start_time}

    def _drive(self, execution: Execution) -> Any:
        run = execution.run
        try:
            status, value = yield from self.interpreter.run_execution(run)
        except Aborted:
            reason = run.stop_reason or ("ABORTED", None, None)
            self._end(execution, reason[0], error=reason[1], cause=reason[2])
            return
        except Exception as exc:  # an engine bug must end the execution, never hang it
            self._end(execution, "FAILED", error=E.RUNTIME, cause=f"Internal engine error: {type(exc).__name__}: {exc}")
            return
        if status == "SUCCEEDED":
            try:
                from .payload import check_size

                text = check_size(value, run.state_machine_name)
            except StatesError as err:
                self._end(execution, "FAILED", error=err.error, cause=err.cause)
                return
            self._end(execution, "SUCCEEDED", output=text)
        else:
            failure: StatesError = value
            error = None if isinstance(failure, FailState) and failure.error is None else failure.error
            self._end(execution, "FAILED", error=error, cause=failure.cause)

    def _end(self, execution: Execution, status: str, output: str | None = None, error: str | None = None,
             cause: str | None = None) -> None:
        if execution.status != "RUNNING":
            return
        execution.status = status
        execution.output = output
        execution.error = error
        execution.cause = cause
        execution.stop_date = self.clock.now()
        history = execution.run.history
        previous = history.events[-1]["id"] if history.events else 0
        if status == "SUCCEEDED":
            details: dict[str, Any] = {"output": output, "outputDetails": {"truncated": False}}
        else:
            details = {k: v for k, v in (("error", error), ("cause", cause)) if v}
        event_type = {"SUCCEEDED": "ExecutionSucceeded", "FAILED": "ExecutionFailed",
                      "TIMED_OUT": "ExecutionTimedOut", "ABORTED": "ExecutionAborted"}[status]
        history.append(self.clock.now(), event_type, previous, details, final=True)

    def _time_out(self, execution: Execution) -> None:
        if execution.status == "RUNNING" and execution.run.fiber is not None:
            execution.run.stop_reason = ("TIMED_OUT", E.TIMEOUT, None)
            self.scheduler.cancel(execution.run.fiber)

    def stop_execution(self, *, executionArn: str, error: str | None = None, cause: str | None = None,
                       **_: Any) -> dict[str, Any]:
        with self.scheduler.lock:
            execution = self._execution(executionArn)
            if execution.status == "RUNNING" and execution.run.fiber is not None:
                execution.run.stop_reason = ("ABORTED", error, cause)
                self.scheduler.cancel(execution.run.fiber)
        self._after_call()
        return {"stopDate": execution.stop_date or self.clock.now()}

    def describe_execution(self, *, executionArn: str, **_: Any) -> dict[str, Any]:
        execution = self._execution(executionArn)
        run = execution.run
        out: dict[str, Any] = {
            "executionArn": run.execution_arn, "stateMachineArn": run.state_machine_arn, "name": run.name,
            "status": execution.status, "startDate": run.start_time, "input": run.raw_input,
            "inputDetails": {"included": True},
        }
        if execution.stop_date is not None:
            out["stopDate"] = execution.stop_date
        if execution.output is not None:
            out["output"] = execution.output
            out["outputDetails"] = {"included": True}
        if execution.error is not None:
            out["error"] = execution.error
        if execution.cause is not None:
            out["cause"] = execution.cause
        return out

    def get_execution_history(self, *, executionArn: str, maxResults: int = 1000, reverseOrder: bool = False,
                              nextToken: str | None = None, includeExecutionData: bool = True,
                              **_: Any) -> dict[str, Any]:
        execution = self._execution(executionArn)
        events = list(execution.run.history.events)
        if reverseOrder:
            events.reverse()
        start = int(nextToken) if nextToken else 0
        size = maxResults or 1000
        page = events[start:start + size]
        if not includeExecutionData:
            page = [_strip_data(e) for e in page]
        out: dict[str, Any] = {"events": [dict(e) for e in page]}
        if start + size < len(events):
            out["nextToken"] = str(start + size)
        return out

    def list_executions(self, *, stateMachineArn: str, statusFilter: str | None = None, maxResults: int = 1000,
                        nextToken: str | None = None, **_: Any) -> dict[str, Any]:
        self._machine(stateMachineArn)
        found: list[dict[str, Any]] = [
            {"executionArn": e.run.execution_arn, "stateMachineArn": e.run.state_machine_arn, "name": e.run.name,
             "status": e.status, "startDate": e.run.start_time,
             **({"stopDate": e.stop_date} if e.stop_date else {})}
            for e in self._executions.values()
            if e.run.state_machine_arn == stateMachineArn and (statusFilter is None or e.status == statusFilter)
        ]
        found.sort(key=lambda e: e["startDate"], reverse=True)
        start = int(nextToken) if nextToken else 0
        out: dict[str, Any] = {"executions": found[start:start + maxResults]}
        if start + maxResults < len(found):
            out["nextToken"] = str(start + maxResults)
        return out

    def _execution(self, arn: str) -> Execution:
        execution = self._executions.get(arn)
        if execution is None:
            raise E.ExecutionDoesNotExist(f"Execution Does Not Exist: '{arn}'")
        return execution

    # --- callbacks --------------------------------------------------------------------------------
    def new_task_token(self, execution_arn: str) -> str:
        token = secrets.token_urlsafe(96)
        self._tokens[token] = execution_arn
        return token

    def forget_task_token(self, token: str) -> None:
        self._tokens.pop(token, None)

    def _deliver(self, token: str, value: Any) -> None:
        if not isinstance(token, str) or not token:
            raise E.InvalidToken("Invalid Token: the task token is empty")
        with self.scheduler.lock:
            if token not in self._tokens:
                raise E.InvalidToken("Invalid Token: 'Task token is invalid or was already used'")
            if not self.scheduler.has_token(token):
                raise E.TaskTimedOut("Task Timed Out: 'Provided task does not exist anymore'")
            self.scheduler.deliver(token, value)
        self._after_call()

    def send_task_success(self, *, taskToken: str, output: str, **_: Any) -> dict[str, Any]:
        if not isinstance(output, str):
            raise E.InvalidOutput("Invalid Output: output must be a JSON string")
        value = _parse_json(output, lambda err: E.InvalidOutput(f"Invalid Output: '{err}'"))
        self._deliver(taskToken, ("success", value))
        return {}

    def send_task_failure(self, *, taskToken: str, error: str | None = None, cause: str | None = None,
                          **_: Any) -> dict[str, Any]:
        self._deliver(taskToken, ("failure", (error or "", cause)))
        return {}

    def send_task_heartbeat(self, *, taskToken: str, **_: Any) -> dict[str, Any]:
        with self.scheduler.lock:
            if token_missing := taskToken not in self._tokens:
                raise E.InvalidToken("Invalid Token: 'Task token is invalid or was already used'")
            if not token_missing and not self.scheduler.heartbeat(taskToken):
                raise E.TaskTimedOut("Task Timed Out: 'Provided task does not exist anymore'")
        return {}

    # --- running ----------------------------------------------------------------------------------
    def _after_call(self) -> None:
        if self.virtual:
            self.run_until_idle()
        else:
            self._ensure_thread()

    def run_until_idle(self) -> None:
        """Run every execution until it ends or waits on a callback (virtual time jumps ahead)."""
        with self.scheduler.lock:
            self.scheduler.run(fire_deadlines=False)

    def run_until_complete(self) -> None:
        """Like `run_until_idle`, and fire the timeouts of callbacks no one answered."""
        with self.scheduler.lock:
            self.scheduler.run(fire_deadlines=True)

    def advance(self, seconds: float) -> None:
        """Move the virtual clock forward `seconds`, firing everything due on the way."""
        if not self.virtual:
            raise RuntimeError("advance() needs the virtual clock")
        with self.scheduler.lock:
            target = self.clock.seconds() + seconds
            self.scheduler.run(fire_deadlines=True, until=target)
            self.clock.advance_to(target)
            self.scheduler.run(fire_deadlines=False)

    def _notify(self, execution: Execution, event: dict[str, Any]) -> None:
        for listener in self._listeners:
            listener(execution, event)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._real_time_loop, name="irflow-engine", daemon=True)
            self._thread.start()
        with self.scheduler.lock:
            self.scheduler.wakeup.notify_all()

    def _real_time_loop(self) -> None:
        with self.scheduler.lock:
            while not self._closed:
                with self.clock.computing():
                    self.scheduler.run(fire_deadlines=True, until=self.clock.seconds())
                due = self.scheduler.next_due()
                wait = None if due is None else max(0.0, due - self.clock.seconds())
                self.scheduler.wakeup.wait(timeout=None if wait is None else min(self.clock.wall_seconds(wait), 1.0))

    def close(self) -> None:
        self._closed = True
        with self.scheduler.lock:
            self.scheduler.wakeup.notify_all()

    # --- for the local runtime and tests ---------------------------------------------------------
    def executions(self) -> list[Execution]:
        return list(self._executions.values())

    def root_fiber(self, execution_arn: str) -> Fiber | None:
        return self._execution(execution_arn).run.fiber


def _parse_json(text: str, refusal: Callable[[ValueError], E.ClientError]) -> Any:
    """Parse caller-supplied JSON text; bad text raises the API error `refusal` builds."""
    try:
        return json.loads(text)
    except ValueError as err:
        raise refusal(err) from None


def _strip_data(event: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in event.items():
        if isinstance(value, dict) and key.endswith("EventDetails"):
            value = {k: v for k, v in value.items() if k not in ("input", "output", "parameters")}
        out[key] = value
    return out


__all__ = ["Engine", "Execution", "StateMachine", "to_json"]
