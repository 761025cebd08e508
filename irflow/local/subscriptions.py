"""Deliveries moto cannot make: CloudWatch Logs and SNS invoking irflow's functions, and a function starting a playbook.

moto gaps filled (see `moto-notes.md`): moto runs Lambda code only in Docker, so neither a
CloudWatch Logs subscription nor an SNS topic can invoke one of irflow's functions in the
embedded AWS; and a function that calls `states:StartExecution` would reach moto's own Step
Functions, not irflow's engine.

How they are filled:
- A scenario event that is what CloudWatch Logs sends a subscribed function
  (`{"awslogs": {"data": ...}}`: base64 of gzip of the subscription message) is delivered to the
  log-detection function as it is, however malformed. `logs_subscription:` gives the same
  message decoded, for people to read and write (`messageType`, `owner`, `logGroup`,
  `logStream`, `subscriptionFilters`, `logEvents`, a CloudTrail record's message may be written as
  a mapping); it is encoded exactly as CloudWatch Logs encodes it before delivery.
- A scenario event that is what SNS sends a subscribed function (`{"Records": [{"EventSource":
  "aws:sns", "Sns": {...}}]}`) is delivered to the alarm-router function, the function irflow
  subscribes to the alarm topic.
- Either way the function runs as the runtime runs every task (`Runtime.invoke`: simulated
  duration, output captured), and the events it put on the bus are then routed to the playbooks
  as EventBridge would (`Outcome.route`, through `EventRouter.deliver_pending`).
- `install` patches moto's Step Functions `StartExecution` so a function's call starts the
  execution in the engine (`Runtime.engine`), with the engine's answers and errors
  (`ExecutionAlreadyExists`, `StateMachineDoesNotExist`, ...). As on AWS the call only starts
  the execution: it runs after the function has returned (the engine, on its virtual clock,
  would otherwise run it inside the call).
- `register_function` creates one of irflow's functions in moto's Lambda service, as the deploy
  does, so a log group can be subscribed to it (`PutSubscriptionFilter` checks the function).
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import weakref
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .events import Delivery

LOGS_FUNCTION = "log-detection"  # what CloudWatch Logs subscriptions invoke
SNS_FUNCTION = "alarm-router"  # what the alarm topic invokes
KINDS = ("awslogs", "logs_subscription", "sns")


def kind(event: Any) -> str | None:
    """Which delivery a scenario event is, or None for an EventBridge event."""
    if not isinstance(event, dict):
        return None
    if set(event) == {"awslogs"}:
        return "awslogs"
    if set(event) == {"logs_subscription"}:
        return "logs_subscription"
    records = event.get("Records")
    if set(event) == {"Records"} and isinstance(records, list) and records and all(
            isinstance(r, dict) and r.get("EventSource") == "aws:sns" for r in records):
        return "sns"
    return None


def label(event: dict[str, Any]) -> str:
    """How the timeline names the delivery."""
    found = kind(event)
    if found == "sns":
        subjects = [str((r.get("Sns") or {}).get("Subject") or "(no subject)") for r in event["Records"]]
        return f"SNS notification to {SNS_FUNCTION}: {'; '.join(subjects)}"
    if found == "logs_subscription":
        message = event["logs_subscription"]
        return (f"CloudWatch Logs delivery to {LOGS_FUNCTION}: {len(message.get('logEvents') or [])} log event(s) "
                f"of {message.get('logGroup')}")
    data = event['awslogs'].get('data') if isinstance(event['awslogs'], dict) else None
    return f"CloudWatch Logs delivery to {LOGS_FUNCTION} (awslogs payload, {len(str(data or ''))} characters)"


def _event_id(message: Any, index: int) -> str:
    """A 56-digit log event id, as CloudWatch Logs writes them (stable for the same message)."""
    digest = hashlib.sha256(f"{index}:{message}".encode()).hexdigest()
    return str(int(digest, 16))[:56].rjust(56, "0")


def _record_millis(message: Any) -> int | None:
    if isinstance(message, dict) and isinstance(message.get("eventTime"), str):
        return int(datetime.fromisoformat(message["eventTime"].replace("Z", "+00:00")).timestamp() * 1000)
    if isinstance(message, str):
        fields = message.split()
        if len(fields) == 14 and fields[0] == "2" and fields[10].isdigit():
            return int(fields[10]) * 1000
    return None


def encode_message(message: dict[str, Any], now: datetime) -> str:
    """`awslogs.data` for a decoded subscription message (a record written as a mapping becomes its JSON)."""
    from tasks.log_detection.records import encode

    events = []
    for index, item in enumerate(message.get("logEvents") or []):
        text = item.get("message") if isinstance(item, dict) else item
        stamp = item.get("timestamp") if isinstance(item, dict) else None
        events.append({
            "id": str(item.get("id")) if isinstance(item, dict) and item.get("id") else _event_id(text, index),
            "timestamp": int(stamp) if isinstance(stamp, int | float) else (
                _record_millis(text) or int(now.timestamp() * 1000)),
            "message": json.dumps(text, separators=(",", ":")) if isinstance(text, dict) else str(text),
        })
    body = {"messageType": message.get("messageType", "DATA_MESSAGE"), "owner": str(message.get("owner", "")),
            "logGroup": message.get("logGroup", ""), "logStream": message.get("logStream", ""),
            "subscriptionFilters": message.get("subscriptionFilters", ["irflow-log-detection"]), "logEvents": events}
    return encode(body)


def event_time(event: dict[str, Any]) -> datetime | None:
    """When a delivery happened: the SNS notification's timestamp, the last log event's time."""
    found = kind(event)
    try:
        if found == "sns":
            stamp = str((event["Records"][-1].get("Sns") or {}).get("Timestamp") or "")
            return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None
        if found == "logs_subscription":
            times = [t for t in (_record_millis(e.get("message") if isinstance(e, dict) else e)
                                 for e in event["logs_subscription"].get("logEvents") or []) if t]
            return datetime.fromtimestamp(max(times) / 1000, UTC) if times else None
    except (ValueError, TypeError, AttributeError, KeyError, IndexError):
        return None
    return None


@dataclass
class Outcome:
    """What one delivery did: the function and its answer (or error)."""

    function: str
    response: Any
    error: str | None

    def route(self, runtime: Any) -> list[Delivery]:
        """Run the executions the function started, then start the playbooks for the events it put on the bus."""
        started = _starts(runtime.engine).run()
        return started + (list(runtime.router.deliver_pending()) if runtime.router is not None else [])

    def summary(self) -> str:
        if self.error:
            return f"{self.function} failed: {self.error}: {_short((self.response or {}).get('errorMessage'))}"
        response = self.response if isinstance(self.response, dict) else {}
        if self.function == LOGS_FUNCTION:
            status = response.get("status")
            if status == "refused":
                return f"{self.function} refused the delivery (recorded as {response.get('event_id')}): " \
                       f"{response.get('reason')}"
            found = ", ".join(sorted({d["rule"] for d in response.get("detections", [])})) or "no detection"
            metrics = "".join(f"; metric {m['name']} {m['dimensions']} +{m['value']}" for m in response.get("metrics", []))
            return f"{self.function}: {status}: {found}{metrics}"
        outcomes = [f"{r.get('outcome')}" + (f" ({_short(r.get('reason'), 90)})" if r.get("reason") else "")
                    for r in response.get("results", [])]
        return f"{self.function}: {', '.join(outcomes) or 'nothing'}"


def _short(text: Any, limit: int = 140) -> str:
    value = " ".join(str(text or "").split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def deliver(runtime: Any, event: dict[str, Any]) -> Outcome:
    """Invoke the subscribed function with the delivery (`Outcome.route` then starts what it put on the bus)."""
    found = kind(event)
    if found is None:
        raise ValueError("not a CloudWatch Logs or SNS delivery")
    function = SNS_FUNCTION if found == "sns" else LOGS_FUNCTION
    payload = event
    if found == "logs_subscription":
        payload = {"awslogs": {"data": encode_message(event["logs_subscription"], runtime.now())}}
    response, error = runtime.invoke(function, payload)
    return Outcome(function, response, error)


class Starts:
    """Executions a function asked to start, started in the engine once the function has returned."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.pending: dict[str, tuple[str, str, str]] = {}  # execution ARN -> (machine ARN, name, input)

    def request(self, machine_arn: str, name: str | None, text: str) -> dict[str, Any]:
        """StartExecution's answer: the ARN (and the engine's refusals), without running anything yet."""
        from irflow.engine import errors
        from irflow.engine.engine import NAME

        self.engine.describe_state_machine(stateMachineArn=machine_arn)  # StateMachineDoesNotExist, InvalidArn
        name = name or str(uuid.uuid4())
        if not NAME.match(name):
            raise errors.InvalidName(f"Invalid Name: '{name}'")
        arn = f"{machine_arn.replace(':stateMachine:', ':execution:')}:{name}"
        try:
            existing = self.engine.describe_execution(executionArn=arn)
        except errors.ExecutionDoesNotExist:
            existing = None
        earlier = existing["input"] if existing else self.pending.get(arn, (None, None, None))[2]
        if earlier is not None and earlier != text:
            raise errors.ExecutionAlreadyExists(f"Execution Already Exists: '{arn}'")
        if existing is None:
            self.pending.setdefault(arn, (machine_arn, name, text))
        return {"executionArn": arn, "startDate": self.engine.clock.now().timestamp()}

    def run(self) -> list[Delivery]:
        """Start what was asked (each runs until it ends or waits), as deliveries to their playbooks."""
        out = []
        while self.pending:
            arn, (machine_arn, name, text) = next(iter(self.pending.items()))
            del self.pending[arn]
            self.engine.start_execution(stateMachineArn=machine_arn, name=name, input=text)
            playbook = machine_arn.rsplit(":", 1)[-1].removeprefix("irflow-")
            out.append(Delivery(playbook, json.loads(text), name, arn, "started"))
        return out


_STARTS: weakref.WeakKeyDictionary[Any, Starts] = weakref.WeakKeyDictionary()


def _starts(engine: Any) -> Starts:
    return _STARTS.setdefault(engine, Starts(engine))


def install(runtime: Any) -> None:
    """Route moto's Step Functions StartExecution to the runtime's engine (undone with the world)."""
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.responses import StepFunctionResponse

    from irflow.engine.errors import ClientError

    starts = _starts(runtime.engine)

    def start_execution(response: Any) -> Any:
        try:
            answer = starts.request(response._get_param("stateMachineArn"), response._get_param("name"),
                                    response._get_param("input", if_none="{}"))
        except ClientError as error:
            raise AWSError(str(error), exception_type=error.code) from None
        return 200, {}, json.dumps(answer)

    runtime.aws.patches.set(StepFunctionResponse, "start_execution", start_execution)


def register_function(world: Any, task: str, account: str, region: str) -> str:
    """irflow's function for `task` in moto's Lambda service (once), as the deploy creates it; returns its ARN."""
    lam = world.client("lambda", account, region)
    name = f"irflow-{task}"
    try:
        arn: str = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        return arn
    except lam.exceptions.ResourceNotFoundException:
        pass
    iam = world.client("iam", account)
    role_name = f"irflow-task-{task}"
    try:
        role_arn = iam.get_role(RoleName=role_name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role_arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                    "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:  # the code runs in the engine; moto only needs a package
        archive.writestr("README.txt", f"irflow task {task}: runs in irflow's local engine\n")
    created = lam.create_function(FunctionName=name, Runtime="python3.11", Role=role_arn,
                                  Handler=f"tasks.{task.replace('-', '_')}.handler", Code={"ZipFile": code.getvalue()},
                                  Description=f"irflow task {task}", Timeout=60)
    function_arn: str = created["FunctionArn"]
    return function_arn
