"""The ASL interpreter: runs the states of one execution as scheduler fibers.

Each state is a generator: it emits history events, yields to the scheduler when Step Functions
would wait (a Lambda running, a Wait state, a retry interval, a callback), and returns its output
and the next state's name. Data flow follows the ASL specification for both query languages:
JSONPath (InputPath, Parameters, ResultSelector, ResultPath, OutputPath) and JSONata (Arguments,
Output), with `Assign` variables scoped per branch as AWS scopes them.
"""

from __future__ import annotations

import json
import math
import random
import re
import uuid
from collections import ChainMap
from collections.abc import Generator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from . import errors as E
from .errors import StatesError
from .history import History
from .intrinsics import compile_intrinsic, is_intrinsic
from .jsonata_eval import QueryEvaluationError, is_expression, type_name
from .jsonata_eval import evaluate as jsonata_evaluate
from .jsonpath import PathNotFound, compile_path
from .payload import MAX_PAYLOAD_BYTES, check_size, to_json
from .resources import (
    OPTIMISED,
    OPTIMISED_ERROR_PREFIX,
    SDK_SERVICE_ALIASES,
    InvokeOutcome,
    Resource,
    function_error,
    invoke_local,
    invoke_response,
    jsonable,
    not_found,
    parse_resource,
    pascal,
    sdk_error,
    snake_case,
)
from .scheduler import YIELD, Aborted, AwaitAny, AwaitToken, Fiber, Sleep

if TYPE_CHECKING:
    from .engine import Engine

StateGen = Generator[Any, Any, Any]
JSONATA = "JSONata"
JSONPATH = "JSONPath"
DEFAULT_TASK_TIMEOUT = 99999999
INLINE_MAP_MAX_CONCURRENCY = 40
# Errors that end the execution whatever Retry/Catch say (AWS: not matched by States.ALL).
TERMINAL_ERRORS = {E.RUNTIME}


def is_terminal(err: StatesError) -> bool:
    """States.Runtime, and a state's own output over 256 KiB, end the execution whatever Catch says.

    (A task *result* over the limit is an ordinary, catchable States.DataLimitExceeded.)"""
    return err.error in TERMINAL_ERRORS or getattr(err, "terminal", False)
# Errors whose cause AWS prefixes with the state that was executing.
PREFIXED_ERRORS = {E.RUNTIME, E.QUERY_EVALUATION_ERROR}
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_MISSING = object()


def parse_timestamp(value: Any) -> datetime | None:
    """An RFC 3339 timestamp with a 'T' and a zone, as Step Functions requires; else None."""
    if not isinstance(value, str) or not TIMESTAMP.match(value):
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:  # Python accepts at most 6 fractional digits
        head, _, tail = text.partition(".")
        digits = re.match(r"\d+", tail)
        frac = digits.group(0) if digits else ""
        text = f"{head}.{(frac + '000000')[:6]}{tail[len(frac):]}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


@dataclass
class Frame:
    """One line of execution: the execution itself, a Parallel branch or a Map iteration."""

    run: ExecutionRun
    variables: MutableMapping[str, Any]
    record: bool = True
    last_event_id: int = 0
    map_item: dict[str, Any] | None = None
    entered_id: int = 0

    def emit(self, event_type: str, details: dict[str, Any] | None = None, previous: int | None = None) -> int:
        if not self.record:
            return self.last_event_id
        event_id = self.run.history.append(
            self.run.engine.clock.now(), event_type,
            self.last_event_id if previous is None else previous, details,
        )
        self.last_event_id = event_id
        return event_id

    def child(self, record: bool, map_item: dict[str, Any] | None = None) -> Frame:
        return Frame(self.run, ChainMap({}, self.variables), record, self.last_event_id, map_item)


@dataclass
class StateResult:
    output: Any
    next: str | None
    assigned: dict[str, Any] | None = None
    text: str | None = None  # the output as JSON text, once serialised


@dataclass
class ExecutionRun:
    """Everything one execution needs while it runs."""

    engine: Engine
    execution_arn: str
    name: str
    state_machine_arn: str
    state_machine_name: str
    definition: dict[str, Any]
    raw_input: str
    input: Any
    role_arn: str
    start_time: datetime
    history: History = field(default_factory=History)
    rng: random.Random = field(default_factory=random.Random)
    fiber: Fiber | None = None
    stop_reason: tuple[str, str | None, str | None] | None = None
    _context: dict[str, Any] | None = None

    @property
    def query_language(self) -> str:
        return str(self.definition.get("QueryLanguage", JSONPATH))

    def execution_context(self) -> dict[str, Any]:
        if self._context is None:
            self._context = self._execution_context()
        return self._context

    def _execution_context(self) -> dict[str, Any]:
        return {
            "Id": self.execution_arn,
            "Input": self.input,
            "StartTime": iso(self.start_time),
            "Name": self.name,
            "RoleArn": self.role_arn,
            "RedriveCount": 0,
        }


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def details_io(key: str, value: Any) -> dict[str, Any]:
    return {key: value if isinstance(value, str) else to_json(value), f"{key}Details": {"truncated": False}}


class Interpreter:
    """Runs the states of an execution. Stateless apart from the engine it serves."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- execution ------------------------------------------------------------------------------
    def run_execution(self, run: ExecutionRun) -> StateGen:
        frame = Frame(run, {}, True, 0)  # AWS links the first state to no event (previousEventId 0)
        try:
            output = yield from self.run_states(frame, run.definition, run.input, first_input_text=run.raw_input)
            return ("SUCCEEDED", output)
        except StatesError as err:
            return ("FAILED", err)

    def run_states(self, frame: Frame, machine: Mapping[str, Any], data: Any,
                   first_input_text: str | None = None) -> StateGen:
        states = machine["States"]
        name = machine["StartAt"]
        language = str(machine.get("QueryLanguage", frame.run.query_language))
        entered_text = first_input_text
        while True:
            state = states[name]
            result: StateResult = yield from self.run_state(frame, name, state, data, language, entered_text)
            entered_text = result.text
            if result.next is None:
                return result.output
            name, data = result.next, result.output

    # --- one state ------------------------------------------------------------------------------
    def run_state(self, frame: Frame, name: str, state: Mapping[str, Any], data: Any, language: str,
                  entered_text: str | None = None) -> StateGen:
        state_type = state["Type"]
        ql = str(state.get("QueryLanguage", language))
        entered_id = frame.emit(f"{state_type}StateEntered", {
            **details_io("input", entered_text if entered_text is not None else data), "name": name,
        })
        frame.entered_id = entered_id
        context = self.context(frame, name, state)
        try:
            try:
                result: StateResult = yield from getattr(self, f"state_{state_type.lower()}")(
                    frame, name, state, data, ql, context)
            except StatesError as err:
                if is_terminal(err) or state_type in ("Fail",):
                    raise
                caught = self.catch(frame, name, state, data, ql, context, err)
                if caught is None:
                    raise
                result = caught
            if state_type != "Fail":
                result.text = check_size(result.output, name)
                exited: dict[str, Any] = {"name": name, "output": result.text, "outputDetails": {"truncated": False}}
                if result.assigned is not None:
                    exited["assignedVariables"] = {k: to_json(v) for k, v in result.assigned.items()}
                    exited["assignedVariablesDetails"] = {"truncated": False}
                frame.emit(f"{state_type}StateExited", exited)
            return result
        except StatesError as err:
            if err.error in PREFIXED_ERRORS and not getattr(err, "prefixed", False):
                err.cause = (f"An error occurred while executing the state '{name}' (entered at the event id "
                             f"#{entered_id}). {err.cause or ''}".rstrip())
                err.prefixed = True  # type: ignore[attr-defined]
            raise
        except Aborted:
            frame.emit(f"{state_type}StateAborted")
            raise

    def context(self, frame: Frame, name: str, state: Mapping[str, Any]) -> dict[str, Any]:
        run = frame.run
        ctx: dict[str, Any] = {
            "Execution": run.execution_context(),
            "StateMachine": {"Id": run.state_machine_arn, "Name": run.state_machine_name},
            "State": {"Name": name, "EnteredTime": iso(self.engine.clock.now())},
        }
        if state["Type"] == "Task":
            ctx["State"]["RetryCount"] = 0
        return ctx

    # --- JSONPath data flow -------------------------------------------------------------------
    def path(self, frame: Frame, text: str, data: Any, ctx: Mapping[str, Any]) -> Any:
        compiled = compile_path(text)
        root = compiled.root
        if root == "$":
            document = data
        elif root == "$$":
            document = ctx
        else:
            document = frame.variables.get(root, _MISSING)
            if document is _MISSING:
                raise StatesError(E.RUNTIME, f"The variable '${root}' is not defined.")
        return compiled.evaluate(document)

    def select(self, frame: Frame, text: str | None, data: Any, ctx: Mapping[str, Any]) -> Any:
        """InputPath / OutputPath: None discards to {}; a path that does not resolve is a runtime error."""
        if text is None:
            return {}
        if text == "$":
            return data
        try:
            return self.path(frame, text, data, ctx)
        except PathNotFound as missing:
            raise StatesError(E.RUNTIME, f"Invalid path '{text}' : {missing}") from None

    def template(self, frame: Frame, value: Any, data: Any, ctx: Mapping[str, Any]) -> Any:
        """Parameters / ResultSelector / ItemSelector / Assign: `key.$` fields take a path or an intrinsic."""
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                if key.endswith(".$") and isinstance(item, str):
                    out[key[:-2]] = self.dynamic(frame, key, item, data, ctx)
                else:
                    out[key] = self.template(frame, item, data, ctx)
            return out
        if isinstance(value, list):
            return [self.template(frame, item, data, ctx) for item in value]
        return value

    def dynamic(self, frame: Frame, field_name: str, text: str, data: Any, ctx: Mapping[str, Any]) -> Any:
        if is_intrinsic(text):
            return compile_intrinsic(text).evaluate(lambda p: self.argument_path(frame, p, data, ctx), frame.run.rng)
        try:
            return self.path(frame, text, data, ctx)
        except PathNotFound:
            raise StatesError(
                E.RUNTIME,
                f"The JSONPath '{text}' specified for the field '{field_name}' could not be found in the input "
                f"'{to_json(data)}'",
            ) from None

    def argument_path(self, frame: Frame, text: str, data: Any, ctx: Mapping[str, Any]) -> Any:
        try:
            return self.path(frame, text, data, ctx)
        except PathNotFound:
            raise StatesError(
                E.RUNTIME, f"The JSONPath '{text}' could not be found in the input '{to_json(data)}'"
            ) from None

    def place(self, text: str | None, raw: Any, result: Any) -> Any:
        """ResultPath: null discards the result, `$` replaces the input, a path places the result in it."""
        if text is None:
            return raw
        if text == "$":
            return result
        try:
            return compile_path(text).set(raw, result)
        except PathNotFound as missing:
            raise StatesError(E.RESULT_PATH_MATCH_FAILURE,
                              f"Unable to apply ResultPath '{text}' to input {to_json(raw)}: {missing}") from None

    # --- JSONata data flow --------------------------------------------------------------------
    def states_binding(self, data: Any, ctx: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
        binding = {"input": data, "context": ctx}
        binding.update(extra)
        return binding

    def jsonata(self, frame: Frame, value: Any, states: dict[str, Any], field: str = "",
                expect: str | None = None) -> Any:
        """Evaluate a JSONata field; a failure is recorded as an EvaluationFailed event first."""
        try:
            return jsonata_evaluate(value, states, dict(frame.variables), frame.run.rng, field=field,
                                    expect=expect, now=self.engine.clock.now())
        except QueryEvaluationError as err:
            self.evaluation_failed(frame, states["context"], err, err.location)

    def evaluation_failed(self, frame: Frame, ctx: Mapping[str, Any], err: StatesError,
                          location: str | None = None) -> NoReturn:
        """Record a JSONata-state evaluation failure as AWS does (an EvaluationFailed event) and raise it."""
        state = ctx["State"]["Name"]
        err.cause = (f"An error occurred while executing the state '{state}' (entered at the event id "
                     f"#{frame.entered_id}). {err.cause}")
        err.prefixed = True  # type: ignore[attr-defined]
        details = {"error": err.error, "cause": err.cause, "state": state}
        if location:
            details["location"] = location
        frame.emit("EvaluationFailed", details)
        raise err

    # --- output and variables, shared by all states ----------------------------------------------
    def finish(self, frame: Frame, state: Mapping[str, Any], ql: str, raw: Any, result: Any,
               ctx: Mapping[str, Any], next_state: str | None, has_result: bool = True) -> StateResult:
        """Apply Assign and the output fields, then return the state's result."""
        if ql == JSONATA:
            states = self.states_binding(raw, ctx, **({"result": result} if has_result else {}))
            assigned = self.jsonata(frame, state["Assign"], states, "Assign") if "Assign" in state else None
            if "Output" in state:
                output = self.jsonata(frame, state["Output"], states, "Output")
            else:
                output = result if has_result else raw
        else:
            assigned = self.template(frame, state["Assign"], result, ctx) if "Assign" in state else None
            placed = self.place(state.get("ResultPath", "$"), raw, result) if has_result else result
            output = self.select(frame, state.get("OutputPath", "$"), placed, ctx)
        if assigned is not None:
            frame.variables.update(assigned)
        return StateResult(output, next_state, assigned)

    def next_of(self, state: Mapping[str, Any]) -> str | None:
        return None if state.get("End") else state.get("Next")

    def effective_input(self, frame: Frame, state: Mapping[str, Any], ql: str, data: Any,
                        ctx: Mapping[str, Any], parameters_field: str = "Parameters") -> Any:
        if ql == JSONATA:
            if "Arguments" in state:
                return self.jsonata(frame, state["Arguments"], self.states_binding(data, ctx), "Arguments")
            return data
        effective = self.select(frame, state.get("InputPath", "$"), data, ctx)
        if parameters_field in state:
            effective = self.template(frame, state[parameters_field], effective, ctx)
        return effective

    def select_result(self, frame: Frame, state: Mapping[str, Any], ql: str, result: Any,
                      ctx: Mapping[str, Any]) -> Any:
        if ql != JSONATA and "ResultSelector" in state:
            return self.template(frame, state["ResultSelector"], result, ctx)
        return result

    # --- Catch and Retry ------------------------------------------------------------------------
    @staticmethod
    def matches(error_equals: list[str], err: StatesError) -> bool:
        error = err.error
        if is_terminal(err):
            return False
        if error in error_equals:
            return True
        if E.ALL in error_equals:
            return True
        return E.TASK_FAILED in error_equals and error != E.TIMEOUT and not str(error).startswith("States.")

    def catch(self, frame: Frame, name: str, state: Mapping[str, Any], data: Any, ql: str,
              ctx: Mapping[str, Any], err: StatesError) -> StateResult | None:
        for catcher in state.get("Catch", ()):
            if not self.matches(catcher["ErrorEquals"], err):
                continue
            error_output: dict[str, Any] = {"Error": err.error}
            if err.cause is not None:
                error_output["Cause"] = err.cause
            if ql == JSONATA:
                states = self.states_binding(data, ctx, errorOutput=error_output)
                assigned = self.jsonata(frame, catcher["Assign"], states, "Assign") if "Assign" in catcher else None
                output = (self.jsonata(frame, catcher["Output"], states, "Output") if "Output" in catcher
                          else error_output)
            else:
                assigned = self.template(frame, catcher["Assign"], error_output, ctx) if "Assign" in catcher else None
                output = self.place(catcher.get("ResultPath", "$"), data, error_output)
            if assigned is not None:
                frame.variables.update(assigned)
            return StateResult(output, catcher["Next"], assigned)
        return None

    def with_retry(self, frame: Frame, state: Mapping[str, Any], ctx: dict[str, Any], attempt: Any) -> StateGen:
        """Run `attempt()` (a generator factory) again as the state's Retry rules say."""
        retriers = state.get("Retry", ())
        counts = [0] * len(retriers)
        while True:
            try:
                return (yield from attempt())
            except StatesError as err:
                index = next((i for i, r in enumerate(retriers) if self.matches(r["ErrorEquals"], err)), None)
                if index is None:
                    raise
                retrier = retriers[index]
                if counts[index] >= retrier.get("MaxAttempts", 3):
                    raise
                delay = retrier.get("IntervalSeconds", 1) * (retrier.get("BackoffRate", 2.0) ** counts[index])
                if "MaxDelaySeconds" in retrier:
                    delay = min(delay, retrier["MaxDelaySeconds"])
                if retrier.get("JitterStrategy") == "FULL":
                    delay = frame.run.rng.uniform(0, delay)
                counts[index] += 1
                if "RetryCount" in ctx["State"]:
                    ctx["State"]["RetryCount"] += 1
                yield Sleep(delay)

    # --- Pass / Succeed / Fail ------------------------------------------------------------------
    def state_pass(self, frame: Frame, name: str, state: Mapping[str, Any], data: Any, ql: str,
                   ctx: dict[str, Any]) -> StateGen:
        if ql == JSONATA:
            return self.finish(frame, state, ql, data, data, ctx, self.next_of(state), has_result=False)
        effective = self.effective_input(frame, state, ql, data, ctx)
        result = state.get("Result", effective)
        check_size(result, name)
        return self.finish(frame, state, ql, data, result, ctx, self.next_of(state))
        yield  # pragma: no cover - makes this a generator like every state

    def state_succeed(self, frame: Frame, name: str, state: Mapping[str, Any], data: Any, ql: str,
                      ctx: dict[str, Any]) -> StateGen:
        if ql == JSONATA:
            output = (self.jsonata(frame, state["Output"], self.states_binding(data, ctx), "Output")
                      if "Output" in state else data)
            return StateResult(output, None)
        effective = self.select(frame, state.get("InputPath", "$"), data, ctx)
        return StateResult(self.select(frame, state.get("OutputPath", "$"), effective, ctx), None)
        yield  # pragma: no cover

    def state_fail(self, frame: Frame, name: str, state: Mapping[str, Any], data: Any, ql: str,
                   ctx: dict[str, Any]) -> StateGen:
        error: Any = None
        cause: Any = None
        if ql == JSONATA:
            states = self.states_binding(data, ctx)
            error = self.jsonata(frame, state["Error"], states, "Error") if "Error" in state else None
            cause = self.jsonata(frame, state["Cause"], states, "Cause") if "Cause" in state else None
        else:
            error = state.get("Error")
            cause = state.get("Cause")
            if "ErrorPath" in state:
                error = self.dynamic(frame, "ErrorPath", state["ErrorPath"], data, ctx)
            if "CausePath" in state:
                cause = self.dynamic(frame, "CausePath", state["CausePath"], data, ctx)
        raise FailState(error, cause)
        yield  # pragma: no cover

    # --- Choice ---------------------------------------------------------------------------------
    def state_choice(self, frame: Frame, name: str, state: Mapping[str, Any], data: Any, ql: str,
                     ctx: dict[str, Any]) -> StateGen:
        if ql == JSONATA:
            states = self.states_binding(data, ctx)
            for rule in state["Choices"]:
                verdict = self.jsonata(frame, rule["Condition"], states, "Condition", expect="boolean")
                if verdict:
                    return self.choose(frame, rule, state, ql, data, ctx, rule["Next"])
        else:
            effective = self.select(frame, state.get("InputPath", "$"), data, ctx)
            for rule in state["Choices"]:
                if self.rule_holds(frame, rule, effective, ctx):
                    return self.choose(frame, rule, state, ql, effective, ctx, rule["Next"])
            data = effective
        if "Default" in state:
            return self.choose(frame, None, state, ql, data, ctx, state["Default"])
        raise StatesError(E.NO_CHOICE_MATCHED, f"No Matches! at state '{name}'")
        yield  # pragma: no cover

    def choose(self, frame: Frame, rule: Mapping[str, Any] | None, state: Mapping[str, Any], ql: str,
               data: Any, ctx: Mapping[str, Any], next_state: str) -> StateResult:
        """The chosen rule's own Output/Assign apply, else the state's."""
        source: Mapping[str, Any] = state
        if rule is not None and ("Assign" in rule or "Output" in rule):
            source = {**{k: v for k, v in state.items() if k not in ("Assign", "Output")}, **rule}
        return self.finish(frame, source, ql, data, data, ctx, next_state, has_result=False)

    def rule_holds(self, frame: Frame, rule: Mapping[str, Any], data: Any, ctx: Mapping[str, Any]) -> bool:
        if "And" in rule:
            return all(self.rule_holds(frame, r, data, ctx) for r in rule["And"])
        if "Or" in rule:
            return any(self.rule_holds(frame, r, data, ctx) for r in rule["Or"])
        if "Not" in rule:
            return not self.rule_holds(frame, rule["Not"], data, ctx)
        variable = rule["Variable"]
        try:
            value = self.path(frame, variable, data, ctx)
        except PathNotFound as missing:
            if "IsPresent" in rule:
                return rule["IsPresent"] is False
            raise StatesError(E.RUNTIME, f"Invalid path '{variable}' : {missing}") from None
        for operator, operand in rule.items():
            if operator in ("Variable", "Next", "Assign", "Output", "Comment"):
                continue
            if operator.endswith("Path"):
                operand = self.argument_path(frame, operand, data, ctx)
                operator = operator[:-4]
            return compare(operator, value, operand)
        raise StatesError(E.RUNTIME, f"Choice rule on '{variable}' has no comparison operator")

    # --- Wait -------------------------------------------------------------------------------------
    def state_wait(self, frame: Frame, name: str, state: Mapping[str, Any], data: Any, ql: str,
                   ctx: dict[str, Any]) -> StateGen:
        now = self.engine.clock.now()
        if ql == JSONATA:
            states = self.states_binding(data, ctx)
            if "Seconds" in state:
                seconds = self.jsonata(frame, state["Seconds"], states, "Seconds")
                if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0 or seconds != int(seconds):
                    raise StatesError(E.QUERY_EVALUATION_ERROR,
                                      f"The JSONata expression specified for the field 'Seconds' returned an "
                                      f"unexpected result type. Expected 'integer', but was '{type_name(seconds)}' "
                                      f"for value: {to_json(seconds)}")
                delay = float(seconds)
            else:
                stamp = self.jsonata(frame, state["Timestamp"], states, "Timestamp")
                moment = parse_timestamp(stamp)
                if moment is None:
                    self.evaluation_failed(frame, ctx, StatesError(
                        E.QUERY_EVALUATION_ERROR, "The Timestamp field cannot be parsed as an ISO-8601 extended "
                                                  f"offset date-time format string: {display(stamp)}"), "Timestamp")
                delay = (moment - now).total_seconds()
            effective = data
        else:
            effective = self.select(frame, state.get("InputPath", "$"), data, ctx)
            if "Seconds" in state:
                delay = float(state["Seconds"])
            elif "SecondsPath" in state:
                value = self.argument_path(frame, state["SecondsPath"], effective, ctx)
                if isinstance(value, bool) or not isinstance(value, int):
                    raise StatesError(E.RUNTIME, f"The SecondsPath parameter cannot be parsed as a long value: "
                                                 f"{state['SecondsPath']} == {display(value)}")
                if value < 0:
                    raise StatesError(E.RUNTIME, f"The SecondsPath parameter references a negative value: "
                                                 f"{state['SecondsPath']} == {value}")
                delay = float(value)
            elif "Timestamp" in state:
                moment = parse_timestamp(state["Timestamp"])
                delay = (moment - now).total_seconds() if moment else 0.0
            else:
                value = self.argument_path(frame, state["TimestampPath"], effective, ctx)
                moment = parse_timestamp(value)
                if moment is None:
                    raise StatesError(E.RUNTIME, "The TimestampPath parameter does not reference a valid ISO-8601 "
                                                 f"extended offset date-time format string: "
                                                 f"{state['TimestampPath']} == {display(value)}")
                delay = (moment - now).total_seconds()
        if delay > 0:
            yield Sleep(delay)
        else:
            yield YIELD
        if ql == JSONATA:
            return self.finish(frame, state, ql, data, data, ctx, self.next_of(state), has_result=False)
        return self.finish(frame, state, ql, data, effective, ctx, self.next_of(state), has_result=False)

    # --- Task -----------------------------------------------------------------------------------
    def state_task(self, frame: Frame, name: str, state: Mapping[str, Any], data: Any, ql: str,
                   ctx: dict[str, Any]) -> StateGen:
        resource = parse_resource(state["Resource"])

        def attempt() -> StateGen:
            if resource.pattern == "waitForTaskToken":
                ctx["Task"] = {"Token": self.engine.new_task_token(frame.run.execution_arn)}
            payload = self.effective_input(frame, state, ql, data, ctx)
            timeout, heartbeat = self.task_timeouts(frame, state, ql, data, ctx)
            result = yield from self.invoke(frame, name, resource, payload, timeout, heartbeat, ctx)
            return self.select_result(frame, state, ql, result, ctx)

        result = yield from self.with_retry(frame, state, ctx, attempt)
        return self.finish(frame, state, ql, data, result, ctx, self.next_of(state))

    def task_timeouts(self, frame: Frame, state: Mapping[str, Any], ql: str, data: Any,
                      ctx: Mapping[str, Any]) -> tuple[float | None, float | None]:
        def number(field_name: str) -> float | None:
            if field_name in state:
                value = state[field_name]
                if ql == JSONATA and is_expression(value):
                    value = self.jsonata(frame, value, self.states_binding(data, ctx), field_name)
                return float(value)
            if ql != JSONATA and f"{field_name}Path" in state:
                value = self.argument_path(frame, state[f"{field_name}Path"], data, ctx)
                if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                    raise StatesError(E.RUNTIME, f"The {field_name}Path parameter does not reference a positive "
                                                 f"integer: {state[f'{field_name}Path']} == {display(value)}")
                return float(value)
            return None

        return number("TimeoutSeconds"), number("HeartbeatSeconds")

    def invoke(self, frame: Frame, name: str, resource: Resource, payload: Any, timeout: float | None,
               heartbeat: float | None, ctx: Mapping[str, Any]) -> StateGen:
        if resource.kind == "lambda":
            return (yield from self.invoke_lambda_arn(frame, name, resource, payload, timeout))
        if resource.kind == "activity":
            raise StatesError(E.RUNTIME, "Activities are not supported by irflow's local engine")
        scheduled: dict[str, Any] = {
            "resourceType": resource.resource_type, "resource": resource.event_resource,
            "region": self.engine.region, "parameters": to_json(payload),
        }
        if timeout is not None:
            scheduled["timeoutInSeconds"] = int(timeout)
        if heartbeat is not None:
            scheduled["heartbeatInSeconds"] = int(heartbeat)
        frame.emit("TaskScheduled", scheduled)
        yield YIELD
        tags = {"resourceType": resource.resource_type, "resource": resource.event_resource}
        frame.emit("TaskStarted", dict(tags))
        try:
            if resource.kind == "lambda-invoke":
                outcome = self.call_lambda_invoke(payload)
                if outcome.duration > 0 and (yield Sleep(outcome.duration, timeout)) == "timeout":
                    raise StatesError(E.TIMEOUT, "")
                if outcome.function_error:
                    err = function_error(outcome)
                    raise StatesError(err.error, compact_json_text(err.cause))
                output = invoke_response(outcome, self.decode_payload(outcome.payload, "lambda"))
            else:
                output = self.call_service(resource, payload)
            if resource.pattern == "waitForTaskToken":
                frame.emit("TaskSubmitted", {**tags, **details_io("output", output)})
                status, value = yield AwaitToken(ctx["Task"]["Token"], timeout, heartbeat)
                self.engine.forget_task_token(ctx["Task"]["Token"])
                if status == "timeout":
                    raise StatesError(value, "")
                if status == "failure":
                    raise StatesError(value[0], value[1])
                output = value
            check_result_size(output, resource.resource_type)
        except StatesError as err:
            if err.error in (E.TIMEOUT, E.HEARTBEAT_TIMEOUT):
                frame.emit("TaskTimedOut", {**tags, "error": err.error, **({"cause": err.cause} if err.cause else {})})
            elif not is_terminal(err):
                frame.emit("TaskFailed", {**tags, "error": err.error, **({"cause": err.cause} if err.cause else {})})
            yield YIELD  # the state learns of the failure asynchronously: a sibling's failure may abort it first
            raise
        frame.emit("TaskSucceeded", {**tags, **details_io("output", output)})
        return output

    def invoke_lambda_arn(self, frame: Frame, name: str, resource: Resource, payload: Any,
                          timeout: float | None) -> StateGen:
        scheduled: dict[str, Any] = {"resource": resource.function, **details_io("input", payload)}
        if timeout is not None:
            scheduled["timeoutInSeconds"] = int(timeout)
        frame.emit("LambdaFunctionScheduled", scheduled)
        yield YIELD
        frame.emit("LambdaFunctionStarted")
        function = self.engine.lookup_lambda(resource.function)
        try:
            if function is None:
                raise not_found(resource.function, self.engine.region, self.engine.account_id)
            outcome = invoke_local(function, payload)
            if outcome.duration > 0 and (yield Sleep(outcome.duration, timeout)) == "timeout":
                frame.emit("LambdaFunctionTimedOut", {"error": E.TIMEOUT})
                raise StatesError(E.TIMEOUT, "")
            if outcome.function_error:
                raise function_error(outcome)
            result = self.decode_payload(outcome.payload, resource.function)
        except StatesError as err:
            if err.error != E.TIMEOUT and not is_terminal(err):
                frame.emit("LambdaFunctionFailed", {"error": err.error, **({"cause": err.cause} if err.cause else {})})
            raise
        frame.emit("LambdaFunctionSucceeded", details_io("output", result))
        return result

    @staticmethod
    def decode_payload(payload: bytes, name: str) -> Any:
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise StatesError(E.DATA_LIMIT_EXCEEDED, f"The state/task '{name}' returned a result with a size "
                                                     "exceeding the maximum number of bytes service limit.")
        text = payload.decode("utf-8", errors="replace")
        try:
            return json.loads(text)
        except ValueError:
            return text

    def call_lambda_invoke(self, payload: Any) -> InvokeOutcome:
        if not isinstance(payload, dict) or "FunctionName" not in payload:
            raise StatesError("Lambda.InvalidParameterValueException",
                              "lambda:invoke needs a FunctionName parameter")
        target = str(payload["FunctionName"])
        function = self.engine.lookup_lambda(target)
        if function is None:
            raise not_found(target, self.engine.region, self.engine.account_id)
        return invoke_local(function, payload.get("Payload"))

    def call_service(self, resource: Resource, payload: Any) -> Any:
        if not isinstance(payload, dict):
            raise StatesError(E.RUNTIME, f"The parameters of '{resource.arn}' must be a JSON object")
        if resource.kind == "optimised":
            client_name, method = OPTIMISED[(resource.service, resource.action)]
            label = OPTIMISED_ERROR_PREFIX[resource.service]
            if resource.service == "sqs" or resource.service == "sns":
                payload = {k: (to_json(v) if k in ("MessageBody", "Message") and not isinstance(v, str) else v)
                           for k, v in payload.items()}
            if resource.service == "events":
                payload = {"Entries": [{k: (to_json(v) if k == "Detail" and not isinstance(v, str) else v)
                                        for k, v in entry.items()} for entry in payload.get("Entries", [])]}
            if resource.service == "states":
                payload = {k: (to_json(v) if k == "Input" and not isinstance(v, str) else v) for k, v in payload.items()}
        else:
            client_name = SDK_SERVICE_ALIASES.get(resource.service, resource.service)
            method = snake_case(resource.action)
            label = ""
        client = self.engine.sfn_self if client_name == "stepfunctions" else self.engine.client(client_name)
        if not label:
            meta = getattr(client, "meta", None)
            label = pascal(meta.service_model.service_id if meta is not None else client_name)
        operation = getattr(client, method, None)
        if operation is None:
            raise StatesError(E.RUNTIME, f"The AWS SDK integration '{resource.arn}' names an unknown action")
        try:
            response = operation(**payload)
        except StatesError:
            raise
        except Exception as exc:  # boto3 ClientError / ParamValidationError, named as AWS names it
            raise sdk_error(label, exc) from None
        return jsonable(response)

    # --- Parallel -------------------------------------------------------------------------------
    def state_parallel(self, frame: Frame, name: str, state: Mapping[str, Any], data: Any, ql: str,
                       ctx: dict[str, Any]) -> StateGen:
        def attempt() -> StateGen:
            effective = self.effective_input(frame, state, ql, data, ctx)
            frame.emit("ParallelStateStarted")
            branches = state["Branches"]
            children: list[tuple[Frame, Fiber]] = []
            for branch in branches:
                child = frame.child(frame.record)
                fiber = self.engine.scheduler.spawn(self.run_states(child, branch, effective), f"{name}-branch")
                children.append((child, fiber))
            try:
                pending = [f for _, f in children]
                while pending:
                    finished = yield AwaitAny(pending)
                    pending.remove(finished)
                    if finished.error is not None:
                        for other in pending:
                            self.engine.scheduler.cancel(other)
                        raise finished.error
            except Aborted:
                for _, fiber in children:
                    self.engine.scheduler.cancel(fiber)
                raise
            except StatesError:
                frame.last_event_id = max(frame.last_event_id, *(c.last_event_id for c, _ in children))
                raise
            frame.last_event_id = max(frame.last_event_id, *(c.last_event_id for c, _ in children))
            frame.emit("ParallelStateSucceeded")
            return self.select_result(frame, state, ql, [f.result for _, f in children], ctx)

        result = yield from self.failing_with(frame, "ParallelStateFailed", self.with_retry(frame, state, ctx, attempt))
        return self.finish(frame, state, ql, data, result, ctx, self.next_of(state))

    @staticmethod
    def failing_with(frame: Frame, event_type: str, work: StateGen) -> StateGen:
        """Run `work`; when it finally fails (after retries), record `event_type` first."""
        try:
            return (yield from work)
        except StatesError as err:
            if err.error not in TERMINAL_ERRORS:
                frame.emit(event_type)
            raise

    # --- Map ------------------------------------------------------------------------------------
    def state_map(self, frame: Frame, name: str, state: Mapping[str, Any], data: Any, ql: str,
                  ctx: dict[str, Any]) -> StateGen:
        def attempt() -> StateGen:
            return (yield from self.map_attempt(frame, name, state, data, ql, ctx))

        result = yield from self.failing_with(frame, "MapStateFailed", self.with_retry(frame, state, ctx, attempt))
        return self.finish(frame, state, ql, data, result, ctx, self.next_of(state))

    def map_items(self, frame: Frame, state: Mapping[str, Any], ql: str, data: Any,
                  ctx: Mapping[str, Any]) -> tuple[Any, list[Any]]:
        if ql == JSONATA:
            items = (self.jsonata(frame, state["Items"], self.states_binding(data, ctx), "Items", expect="array")
                     if "Items" in state else data)
            if not isinstance(items, list):
                self.evaluation_failed(frame, ctx, StatesError(
                    E.QUERY_EVALUATION_ERROR, f"Map state input must be an array but was: {to_json(items)}"))
            return data, items
        effective = self.select(frame, state.get("InputPath", "$"), data, ctx)
        items_path = state.get("ItemsPath", "$")
        try:
            items = self.path(frame, items_path, effective, ctx)
        except PathNotFound as missing:
            raise StatesError(E.RUNTIME, f"Invalid path '{items_path}' : {missing}") from None
        if not isinstance(items, list):
            raise StatesError(E.RUNTIME, f"Invalid path '{items_path}': the value is not a JSON array: {to_json(items)}")
        return effective, items

    def map_limit(self, frame: Frame, state: Mapping[str, Any], ql: str, data: Any, ctx: Mapping[str, Any],
                  field_name: str, kind: type) -> Any:
        value = state.get(field_name)
        if ql == JSONATA and is_expression(value):
            value = self.jsonata(frame, value, self.states_binding(data, ctx), field_name)
        elif ql != JSONATA and f"{field_name}Path" in state:
            path_text = state[f"{field_name}Path"]
            value = self.argument_path(frame, path_text, data, ctx)
            try:
                if isinstance(value, bool | dict | list):
                    raise ValueError
                value = kind(value)
            except (TypeError, ValueError):
                kind_name = "integer" if kind is int else "float"
                shown = to_json(value) if isinstance(value, dict | list) else value
                raise StatesError(E.RUNTIME, f"The {field_name}Path field refers to value \"{shown}\" which is not "
                                             f"a valid {kind_name}: {path_text}") from None
        return value

    def map_attempt(self, frame: Frame, name: str, state: Mapping[str, Any], data: Any, ql: str,
                    ctx: dict[str, Any]) -> StateGen:
        effective, items = self.map_items(frame, state, ql, data, ctx)
        concurrency = self.map_limit(frame, state, ql, effective, ctx, "MaxConcurrency", int) or 0
        frame.emit("MapStateStarted", {"length": len(items)})
        processor = state.get("ItemProcessor") or state.get("Iterator") or {}
        distributed = processor.get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED"
        tolerated_count = self.map_limit(frame, state, ql, effective, ctx, "ToleratedFailureCount", int)
        tolerated_pct = self.map_limit(frame, state, ql, effective, ctx, "ToleratedFailurePercentage", float)
        if tolerated_count is not None and tolerated_count < 0:
            raise StatesError(E.RUNTIME, "ToleratedFailureCount cannot be negative.")
        if tolerated_pct is not None and not 0 <= tolerated_pct <= 100:
            raise StatesError(E.RUNTIME, "ToleratedFailurePercentage must be between 0 and 100.")
        limit = concurrency if concurrency > 0 else (len(items) if distributed else INLINE_MAP_MAX_CONCURRENCY)
        tolerance: float | None = None
        if tolerated_count is not None or tolerated_pct is not None:
            by_count = tolerated_count if tolerated_count is not None else math.inf
            by_pct = (tolerated_pct / 100.0 * len(items)) if tolerated_pct is not None else math.inf
            tolerance = min(by_count, by_pct)

        if distributed:
            map_run = (f"arn:aws:states:{self.engine.region}:{self.engine.account_id}:mapRun:"
                       f"{frame.run.state_machine_name}/{name}:{uuid.uuid4()}")
            frame.emit("MapRunStarted", {"mapRunArn": map_run})
        selector_field = "ItemSelector" if "ItemSelector" in state else ("Parameters" if "Parameters" in state else None)
        results: list[Any] = [None] * len(items)
        running: dict[Fiber, tuple[int, Frame]] = {}
        failures = 0
        next_index = 0
        first_error: StatesError | None = None
        try:
            while next_index < len(items) or running:
                while next_index < len(items) and len(running) < limit and first_error is None:
                    index = next_index
                    next_index += 1
                    item_ctx = {**ctx, "Map": {"Item": {"Index": index, "Value": items[index]}}}
                    item_input = self.map_item_input(frame, state, ql, selector_field, effective, items[index], item_ctx)
                    child = frame.child(not distributed)
                    child.emit("MapIterationStarted", {"index": index, "name": name}, previous=frame.last_event_id)
                    fiber = self.engine.scheduler.spawn(self.run_states(child, processor, item_input), f"{name}[{index}]")
                    running[fiber] = (index, child)
                if not running:
                    break
                finished = yield AwaitAny(list(running))
                index, child = running.pop(finished)
                if finished.error is None:
                    results[index] = finished.result
                    child.emit("MapIterationSucceeded", {"index": index, "name": name})
                    continue
                if not isinstance(finished.error, StatesError):
                    raise finished.error
                child.emit("MapIterationFailed", {"index": index, "name": name})
                failures += 1
                err = finished.error
                results[index] = {"Error": err.error, **({"Cause": err.cause} if err.cause else {})}
                if tolerance is None or failures > tolerance:
                    first_error = err if tolerance is None else StatesError(
                        E.EXCEED_TOLERATED_FAILURE_THRESHOLD, "The specified tolerated failure threshold was exceeded")
                    failed_at = child.last_event_id
                    for other, (other_index, other_frame) in list(running.items()):
                        other_frame.last_event_id = failed_at
                        self.engine.scheduler.cancel(other)
                        other_frame.emit("MapIterationAborted", {"index": other_index, "name": name})
                    running.clear()
                    frame.last_event_id = failed_at
                    raise first_error
        except Aborted:
            for other, (other_index, other_frame) in list(running.items()):
                self.engine.scheduler.cancel(other)
                other_frame.emit("MapIterationAborted", {"index": other_index, "name": name})
            raise
        except StatesError:
            if distributed:
                frame.emit("MapRunFailed")
            raise
        if distributed:
            frame.emit("MapRunSucceeded")
        frame.emit("MapStateSucceeded")
        return self.select_result(frame, state, ql, results, ctx)

    def map_item_input(self, frame: Frame, state: Mapping[str, Any], ql: str, selector_field: str | None,
                       effective: Any, item: Any, item_ctx: Mapping[str, Any]) -> Any:
        if selector_field is None:
            return item
        if ql == JSONATA:
            return self.jsonata(frame, state[selector_field], self.states_binding(effective, item_ctx), selector_field)
        return self.template(frame, state[selector_field], effective, item_ctx)


class FailState(StatesError):
    """A Fail state's error: ends the branch, not subject to its own Catch."""

    def __init__(self, error: Any, cause: Any) -> None:
        super().__init__(str(error) if error is not None else "", str(cause) if cause is not None else None)
        self.error = error  # None stays None: ExecutionFailed then has no error field


def compact_json_text(text: str | None) -> str | None:
    """A JSON text re-serialised compactly (how the lambda:invoke integration passes a function's error)."""
    if text is None:
        return None
    try:
        return to_json(json.loads(text))
    except ValueError:
        return text


def check_result_size(result: Any, resource_type: str) -> None:
    if len(to_json(result).encode("utf-8")) > MAX_PAYLOAD_BYTES:
        raise StatesError(E.DATA_LIMIT_EXCEEDED, f"The state/task '{resource_type}' returned a result with a size "
                                                 "exceeding the maximum number of bytes service limit.")


def display(value: Any) -> str:
    return value if isinstance(value, str) else to_json(value)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def string_matches(value: str, pattern: str) -> bool:
    regex = ""
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            regex += re.escape(pattern[i + 1])
            i += 2
            continue
        regex += ".*" if ch == "*" else re.escape(ch)
        i += 1
    return re.fullmatch(regex, value, re.DOTALL) is not None


def compare(operator: str, value: Any, operand: Any) -> bool:
    """One Choice comparison. A value of the wrong type never matches (no error), as on AWS."""
    if operator == "IsNull":
        return (value is None) == operand
    if operator == "IsPresent":
        return operand is True
    if operator == "IsNumeric":
        return is_number(value) == operand
    if operator == "IsString":
        return isinstance(value, str) == operand
    if operator == "IsBoolean":
        return isinstance(value, bool) == operand
    if operator == "IsTimestamp":
        return (parse_timestamp(value) is not None) == operand
    if operator.startswith("String"):
        if not isinstance(value, str) or not isinstance(operand, str):
            return False
        if operator == "StringMatches":
            return string_matches(value, operand)
        return _ordered(operator[len("String"):], value, operand)
    if operator.startswith("Numeric"):
        if not is_number(value) or not is_number(operand):
            return False
        return _ordered(operator[len("Numeric"):], value, operand)
    if operator.startswith("Boolean"):
        return isinstance(value, bool) and isinstance(operand, bool) and value == operand
    if operator.startswith("Timestamp"):
        left, right = parse_timestamp(value), parse_timestamp(operand)
        if left is None or right is None:
            return False
        return _ordered(operator[len("Timestamp"):], left, right)
    raise StatesError(E.RUNTIME, f"Unknown Choice operator '{operator}'")


def _ordered(relation: str, left: Any, right: Any) -> bool:
    if relation == "Equals":
        return bool(left == right)
    if relation == "LessThan":
        return bool(left < right)
    if relation == "GreaterThan":
        return bool(left > right)
    if relation == "LessThanEquals":
        return bool(left <= right)
    if relation == "GreaterThanEquals":
        return bool(left >= right)
    raise StatesError(E.RUNTIME, f"Unknown comparison '{relation}'")

