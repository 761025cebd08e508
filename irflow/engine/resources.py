"""Task resources: what a Task state's `Resource` ARN calls.

Lambda functions are Python callables registered with the engine and run in-process with a
Lambda-like context. AWS SDK integrations (`arn:aws:states:::aws-sdk:SERVICE:ACTION`) and the
optimised integrations irflow uses go through boto3, which tests point at moto.
"""

from __future__ import annotations

import base64
import json
import re
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from .errors import DefinitionError, StatesError

LAMBDA_ARN = re.compile(r"^arn:aws[\w-]*:lambda:([\w-]+):(\d{12}):function:([\w-]+)(?::([\w$-]+))?$")
STATES_ARN = re.compile(r"^arn:aws[\w-]*:states:[\w-]*:\d{0,12}:([\w-]+):([\w.:-]+?)(?:\.(sync:2|sync|waitForTaskToken))?$")
ACTIVITY_ARN = re.compile(r"^arn:aws[\w-]*:states:[\w-]+:\d{12}:activity:[\w-]+$")

# Optimised integrations: (service, action) -> boto3 client name and method.
OPTIMISED: dict[tuple[str, str], tuple[str, str]] = {
    ("sns", "publish"): ("sns", "publish"),
    ("sqs", "sendMessage"): ("sqs", "send_message"),
    ("dynamodb", "getItem"): ("dynamodb", "get_item"),
    ("dynamodb", "putItem"): ("dynamodb", "put_item"),
    ("dynamodb", "updateItem"): ("dynamodb", "update_item"),
    ("dynamodb", "deleteItem"): ("dynamodb", "delete_item"),
    ("events", "putEvents"): ("events", "put_events"),
    ("states", "startExecution"): ("stepfunctions", "start_execution"),
}
OPTIMISED_ERROR_PREFIX = {
    "sns": "SNS", "sqs": "SQS", "dynamodb": "DynamoDB", "events": "EventBridge", "states": "StepFunctions",
}
# AWS SDK service names that differ from boto3's client names.
SDK_SERVICE_ALIASES = {"sfn": "stepfunctions", "states": "stepfunctions", "eventbridge": "events"}


@dataclass(frozen=True, slots=True)
class Resource:
    """A parsed Task `Resource`."""

    arn: str
    kind: str  # "lambda" (bare function ARN), "lambda-invoke", "sdk", "optimised", "activity"
    service: str = ""
    action: str = ""
    pattern: str = "request"  # request | sync | waitForTaskToken
    function: str = ""  # for "lambda": the function ARN

    @property
    def resource_type(self) -> str:
        if self.kind == "lambda-invoke":
            return "lambda"
        if self.kind == "sdk":
            return f"aws-sdk:{self.service}"
        return self.service

    @property
    def event_resource(self) -> str:
        suffix = "" if self.pattern == "request" else f".{self.pattern}"
        return f"{self.action}{suffix}"


def parse_resource(arn: str) -> Resource:
    """Parse a Task resource ARN; unknown forms are refused at create time."""
    if not isinstance(arn, str):
        raise DefinitionError(f"Resource must be a string, got {type(arn).__name__}")
    if LAMBDA_ARN.match(arn):
        return Resource(arn, "lambda", service="lambda", function=arn)
    if ACTIVITY_ARN.match(arn):
        return Resource(arn, "activity", service="activity")
    match = STATES_ARN.match(arn)
    if match:
        service, rest, pattern = match.group(1), match.group(2), match.group(3) or "request"
        if service == "aws-sdk":
            sdk_service, _, action = rest.partition(":")
            if not sdk_service or not action:
                raise DefinitionError(f"Invalid AWS SDK resource '{arn}': expected arn:aws:states:::aws-sdk:SERVICE:ACTION")
            return Resource(arn, "sdk", service=sdk_service, action=action, pattern=pattern)
        if service == "lambda" and rest == "invoke":
            return Resource(arn, "lambda-invoke", service="lambda", action="invoke", pattern=pattern)
        if (service, rest) in OPTIMISED:
            return Resource(arn, "optimised", service=service, action=rest, pattern=pattern)
        raise DefinitionError(f"Unsupported resource '{arn}': irflow's engine supports Lambda, aws-sdk:* and "
                              f"{', '.join(f'{s}:{a}' for s, a in OPTIMISED)}")
    raise DefinitionError(f"Invalid resource ARN '{arn}'")


# --- Lambda functions run in-process ---------------------------------------------------------


class RawPayload:
    """A handler result sent back as these exact bytes (Lambda's response payload)."""

    def __init__(self, data: bytes | str) -> None:
        self.data = data.encode("utf-8") if isinstance(data, str) else data


class LambdaFunctionError(Exception):
    """An unhandled error as a Lambda function reports it (errorType, errorMessage, stackTrace)."""

    def __init__(self, error_type: str, error_message: str, stack_trace: list[str] | None = None) -> None:
        super().__init__(error_message)
        self.error_type = error_type
        self.error_message = error_message
        self.stack_trace = stack_trace


Handler = Callable[[Any, "LambdaContext"], Any]


@dataclass
class LocalFunction:
    name: str
    arn: str
    handler: Handler
    timeout_seconds: float = 900.0
    duration_seconds: float = 0.0


@dataclass
class LambdaContext:
    """What a Python Lambda handler receives as `context`, plus `simulate_duration`."""

    function_name: str
    invoked_function_arn: str
    timeout_seconds: float
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 128
    log_group_name: str = ""
    log_stream_name: str = ""
    elapsed_seconds: float = 0.0

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - self.elapsed_seconds) * 1000))

    def simulate_duration(self, seconds: float) -> None:
        """Declare that this invocation takes `seconds` more (virtual) time."""
        self.elapsed_seconds += max(0.0, float(seconds))


@dataclass
class InvokeOutcome:
    payload: bytes
    function_error: str | None  # "Unhandled" when the function raised
    duration: float
    request_id: str
    timed_out: bool = False


def invoke_local(function: LocalFunction, event: Any) -> InvokeOutcome:
    """Run a handler as Lambda would and return the response payload bytes."""
    context = LambdaContext(function.name, function.arn, function.timeout_seconds)
    context.simulate_duration(function.duration_seconds)
    error: str | None = "Unhandled"
    try:
        result = function.handler(event, context)
    except LambdaFunctionError as exc:
        payload = _error_payload(exc.error_type, exc.error_message, context.aws_request_id, exc.stack_trace or [])
    except Exception as exc:  # the handler's own failure, reported the way the Python runtime reports it
        frames = traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:])
        payload = _error_payload(type(exc).__name__, str(exc), context.aws_request_id, frames)
    else:
        try:
            payload = result.data if isinstance(result, RawPayload) else json.dumps(result).encode("utf-8")
            error = None
        except (TypeError, ValueError) as exc:  # what the Python runtime reports for a result it can't serialise
            payload = _error_payload("Runtime.MarshalError", f"Unable to marshal response: {exc}",
                                     context.aws_request_id, None)
    timed_out = context.elapsed_seconds > function.timeout_seconds
    if timed_out:
        payload = _error_payload(
            "Sandbox.Timedout", f"Task timed out after {function.timeout_seconds:.2f} seconds", context.aws_request_id, None
        )
        error = "Unhandled"
    return InvokeOutcome(payload, error, min(context.elapsed_seconds, function.timeout_seconds),
                         context.aws_request_id, timed_out)


def _error_payload(error_type: str, message: str, request_id: str, stack: list[str] | None) -> bytes:
    body: dict[str, Any] = {"errorMessage": message, "errorType": error_type, "requestId": request_id}
    if stack is not None:
        body["stackTrace"] = stack
    return json.dumps(body, separators=(", ", ": ")).encode("utf-8")


def function_error(outcome: InvokeOutcome) -> StatesError:
    """The Step Functions error for a function that failed: errorType -> Error, payload -> Cause."""
    text = outcome.payload.decode("utf-8", errors="replace")
    if outcome.timed_out:
        return StatesError("Sandbox.Timedout", text)
    try:
        body = json.loads(text)
        error = body.get("errorType") if isinstance(body, dict) else None
    except ValueError:
        error = None
    return StatesError(str(error) if error else "Lambda.Unknown", text)


def not_found(function_arn: str, region: str, account: str) -> StatesError:
    qualified = function_arn if function_arn.startswith("arn:") else f"arn:aws:lambda:{region}:{account}:function:{function_arn}"
    if qualified.count(":") == 6:
        qualified += ":$LATEST"
    return StatesError(
        "Lambda.ResourceNotFoundException",
        f"Function not found: {qualified} (Service: AWSLambda; Status Code: 404; Error Code: "
        f"ResourceNotFoundException; Request ID: {uuid.uuid4()}; Proxy: null)",
    )


def invoke_response(outcome: InvokeOutcome, payload_value: Any) -> dict[str, Any]:
    """The result of `arn:aws:states:::lambda:invoke`, shaped like AWS returns it."""
    headers = {
        "Connection": "keep-alive",
        "Content-Length": str(len(outcome.payload)),
        "Content-Type": "application/json",
        "Date": format_datetime(datetime.now(UTC), usegmt=True),
        "X-Amz-Executed-Version": "$LATEST",
        "x-amzn-Remapped-Content-Length": "0",
        "x-amzn-RequestId": outcome.request_id,
        "X-Amzn-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]};Sampled=0",
    }
    return {
        "ExecutedVersion": "$LATEST",
        "Payload": payload_value,
        "SdkHttpMetadata": {
            "AllHttpHeaders": {k: [v] for k, v in headers.items()},
            "HttpHeaders": headers,
            "HttpStatusCode": 200,
        },
        "SdkResponseMetadata": {"RequestId": outcome.request_id},
        "StatusCode": 200,
    }


# --- boto3-backed integrations ---------------------------------------------------------------


def snake_case(action: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", action).lower()


def pascal(name: str) -> str:
    """A service id as the AWS SDK names it in error names: "DynamoDB" -> "DynamoDb", "ACM PCA" -> "AcmPca"."""
    humps = re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+\d*|\d+", name)
    return "".join(h[:1].upper() + h[1:].lower() for h in humps)


def jsonable(value: Any) -> Any:
    """boto3 responses as Step Functions returns them: no ResponseMetadata, ISO dates, base64 bytes."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if hasattr(value, "read"):
        return value.read().decode("utf-8", errors="replace")
    return value


def sdk_error(service_label: str, exc: Exception) -> StatesError:
    """Name a boto3 ClientError the way Step Functions names SDK integration errors."""
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    code = str(error.get("Code") or type(exc).__name__)
    if not code.endswith("Exception"):
        code += "Exception"
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400) if isinstance(response, dict) else 400
    message = error.get("Message") or str(exc)
    cause = f"{message} (Service: {service_label}, Status Code: {status}, Request ID: {uuid.uuid4()})"
    return StatesError(f"{service_label}.{code}", cause)
