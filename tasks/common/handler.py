"""Lambda glue shared by every task: validation, Powertools logging/metrics/tracing, error names.

`task_handler(spec, Model, run)` returns the `handler(event, context)` Lambda calls. It validates
the event against the task's pydantic model (a mismatch fails as `irflow.InvalidInput`, or the
error the task names, with a cause listing the bad fields), logs with the incident id as the
correlation id, runs the plain function, and turns AWS throttling into `irflow.Throttled` (which
the playbooks retry) and access errors into `irflow.AccessDenied`. Powertools is imported on the
first invocation, not at import, and the X-Ray tracer only when tracing is on, so importing a
task module stays cheap (Lambda cold start).
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, TypeVar, cast

from pydantic import BaseModel, ValidationError

from .aws import error_code, error_message, is_access_denied, is_throttling
from .errors import AccessDenied, InvalidInput, IrflowError, Throttled

if TYPE_CHECKING:
    from tasks.registry import TaskSpec

M = TypeVar("M", bound=BaseModel)
MAX_REPORTED_ERRORS = 3
MAX_VALUE_CHARS = 80


class CurrentStdout(io.TextIOBase):
    """Writes to whatever `sys.stdout` is at the time (Lambda's log stream; a test's or runtime's capture)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@dataclass
class Tools:
    logger: Any
    metrics: Any
    tracer: Any  # None when tracing is off


_tools: Tools | None = None


def tracing_enabled() -> bool:
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true")
    return not disabled and bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def tools() -> Tools:
    """Powertools Logger, Metrics and (when tracing) Tracer, created once per process."""
    global _tools
    if _tools is None:
        from aws_lambda_powertools import Logger, Metrics

        service = os.environ.get("POWERTOOLS_SERVICE_NAME", "irflow")
        tracer = None
        if tracing_enabled():
            from aws_lambda_powertools import Tracer

            tracer = Tracer(service=service)
        _tools = Tools(Logger(service=service, stream=cast(IO[str], CurrentStdout())),
                       Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "irflow"), service=service),
                       tracer)
    return _tools


def describe_validation(error: ValidationError, prefix: str = "") -> str:
    """`detail.resource.instanceDetails.instanceId: Field required; ...` for the first few errors."""
    problems = error.errors()
    parts = []
    for problem in problems[:MAX_REPORTED_ERRORS]:
        path = [*(prefix.split(".") if prefix else []), *problem["loc"]]
        where = ".".join(str(p) for p in path) or "(input)"
        text = f"{where}: {problem['msg']}"
        value = problem.get("input")
        if problem["type"] != "missing" and isinstance(value, str | int | float | bool):
            shown = repr(value)
            text += f" (got {shown[:MAX_VALUE_CHARS]}{'...' if len(shown) > MAX_VALUE_CHARS else ''})"
        parts.append(text)
    if len(problems) > MAX_REPORTED_ERRORS:
        parts.append(f"and {len(problems) - MAX_REPORTED_ERRORS} more")
    return "; ".join(parts)


def validate(model: type[M], event: Any, invalid: type[IrflowError] = InvalidInput, prefix: str = "") -> M:
    """`model` from `event`, or `invalid` with a cause naming the bad fields."""
    try:
        return model.model_validate(event)
    except ValidationError as error:
        raise invalid(describe_validation(error, prefix)) from None


def _incident_id(data: BaseModel) -> str | None:
    incident = getattr(data, "incident", None)
    value = getattr(incident, "incident_id", None) or getattr(data, "incident_id", None)
    return str(value) if value else None


def task_handler(spec: TaskSpec, model: type[M], run: Callable[[M], dict[str, Any]],
                 invalid: type[IrflowError] = InvalidInput) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda entry point for a task: `run(validated input) -> JSON-able result`."""

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        t = tools()
        logger, metrics = t.logger, t.metrics
        logger.remove_keys(["incident_id"])
        logger.append_keys(task=spec.name, function_request_id=getattr(context, "aws_request_id", None))
        metrics.add_dimension(name="task", value=spec.name)
        started = time.perf_counter()
        outcome = "TaskFailed"
        try:
            data = validate(model, event, invalid)
            incident_id = _incident_id(data)
            if incident_id:
                logger.set_correlation_id(incident_id)
                logger.append_keys(incident_id=incident_id)
            result = _traced(t, spec.name, run, data, incident_id)
            outcome = "TaskSucceeded"
            logger.info("task finished", extra={"result_keys": sorted(result)})
            return result
        except IrflowError as error:
            logger.warning("task failed", extra={"error": error.error_name, "cause": str(error)})
            raise
        finally:
            metrics.add_metric(name=outcome, unit="Count", value=1)
            metrics.add_metric(name="TaskDuration", unit="Milliseconds", value=(time.perf_counter() - started) * 1000)
            metrics.flush_metrics()

    handler.__doc__ = f"Lambda handler for the {spec.name} task."
    return handler


def _traced(t: Tools, name: str, run: Callable[[M], dict[str, Any]], data: M, incident_id: str | None) -> dict[str, Any]:
    if t.tracer is None:
        return _aws_errors(run, data)
    with t.tracer.provider.in_subsegment(f"## {name}") as subsegment:
        if incident_id:
            subsegment.put_annotation("incident_id", incident_id)
        return _aws_errors(run, data)


def _aws_errors(run: Callable[[M], dict[str, Any]], data: M) -> dict[str, Any]:
    """Run the task, naming AWS throttling and access errors the way the playbooks route on them."""
    from botocore.exceptions import ClientError

    try:
        return run(data)
    except ClientError as error:
        operation = getattr(error, "operation_name", "an AWS call")
        if is_throttling(error):
            raise Throttled(f"{operation} was throttled ({error_code(error)}): {error_message(error)}") from None
        if is_access_denied(error):
            raise AccessDenied(f"{operation} was refused ({error_code(error)}): {error_message(error)}") from None
        raise
