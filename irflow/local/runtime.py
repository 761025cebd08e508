"""The local runtime: every playbook on irflow's engine, every task as a local Lambda, one embedded AWS.

`Runtime.start()` makes the engine (virtual clock by default), the embedded AWS (`World`, on the
engine's clock, so the simulated SSM agent and the playbooks share one time), registers each task
of `tasks.registry.all_tasks()` as a Lambda function `irflow-<task name>` in the central account,
renders each `workflows/*/` definition with its placeholders filled (task ARNs, central resource
names, policy values) and creates its state machine `irflow-<playbook>`, and routes EventBridge
events to playbooks by their trigger patterns (`events.EventRouter`).

Simulated Lambda time: an invocation takes what a warm Python function takes (`BASE_SECONDS`),
plus the round trip of each AWS API call it actually made (`LATENCY`, per service, counted from
the requests moto answered during the call), plus `COLD_START_SECONDS` the first time each
function runs. So a task that makes fifteen EC2 calls takes longer than one that parses an event,
as it would on AWS, and the time from finding to containment the runtime reports follows the
work the playbook really does. An event reaches its execution `EVENTBRIDGE_DELIVERY_SECONDS` after
it is put. Tasks stamp their records with the same clock
(`tasks.common.clock.use`). Task output on stdout (Powertools logs, EMF metrics) is kept in
`Runtime.logs`, not mixed with the caller's output.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from . import subscriptions
from .events import Delivery, EventRouter
from .playbooks import Playbook, PlaybookError, load_all
from .world import DEFAULT_REGION, DEFAULT_SECURITY_ACCOUNT, World

if TYPE_CHECKING:
    from irflow.engine.scheduler import Clock

BASE_SECONDS = 0.045
COLD_START_SECONDS = 0.9
DEFAULT_LATENCY = 0.06
LATENCY = {  # seconds per request, from inside a Lambda function in the same region
    "dynamodb": 0.012, "s3": 0.04, "sns": 0.035, "sqs": 0.02, "sts": 0.11, "iam": 0.13, "ec2": 0.14,
    "auto-scaling": 0.12, "elastic-load-balancing-v2": 0.09, "ssm": 0.08, "events": 0.03, "sfn": 0.04,
    "lambda": 0.05, "kms": 0.02,
}
DEFAULT_TASK_TIMEOUT = 300.0
EVENTBRIDGE_DELIVERY_SECONDS = 0.5  # PutEvents to StartExecution, typical for a Step Functions target
REPO = Path(__file__).resolve().parents[2]

Handler = Callable[[Any, Any], Any]


class TaskLike(Protocol):
    """What the runtime needs of a `tasks.registry.TaskSpec`."""

    @property
    def name(self) -> str: ...

    @property
    def placeholder(self) -> str: ...

    @property
    def member_permissions(self) -> tuple[str, ...]: ...


@dataclass
class Invocation:
    """One local Lambda invocation, for timelines: which task, which AWS calls, how long."""

    task: str
    calls: list[tuple[str, str]]
    seconds: float
    cold: bool


@dataclass
class Runtime:
    """Engine + embedded AWS + playbooks + tasks; use as a context manager."""

    security_account: str = DEFAULT_SECURITY_ACCOUNT
    region: str = DEFAULT_REGION
    clock: str | Clock = "virtual"  # "virtual", "real", or a clock (a faster real clock for demos)
    start_time: datetime | None = None
    workflows_dir: Path = REPO / "workflows"
    tasks: Mapping[str, TaskLike] | None = None
    load_handler: Callable[[Any], Handler] | None = None
    logs: io.StringIO = field(default_factory=io.StringIO)
    invocations: list[Invocation] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.engine: Any = None
        self.world: World | None = None
        self.playbooks: dict[str, Playbook] = {}
        self.state_machines: dict[str, str] = {}  # playbook -> state machine ARN
        self.functions: dict[str, str] = {}  # task name -> function ARN
        self.router: EventRouter | None = None
        self._warm: set[str] = set()

    # --- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> Runtime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> Runtime:
        from irflow.engine.engine import Engine

        self.engine = Engine(clock=self.clock, region=self.region, account_id=self.security_account,
                             start_time=self.start_time)
        if self.tasks is None or self.load_handler is None:
            with contextlib.redirect_stdout(self.logs):
                from tasks.registry import all_tasks, load_handler

                self.tasks = self.tasks if self.tasks is not None else all_tasks()
                self.load_handler = self.load_handler or load_handler
        assert self.tasks is not None
        self.world = World(self.security_account, self.region, now=self.engine.clock.now,
                           member_actions=_member_actions(self.tasks.values())).start()
        _use_clock(self.engine.clock.now)
        try:
            self._register_tasks()
            self.playbooks = load_all(self.workflows_dir)
            self.router = EventRouter(self.world, self._deliver)
            subscriptions.install(self)  # a task's StartExecution reaches the engine
            for playbook in self.playbooks.values():
                self._create_state_machine(playbook)
                self.router.add_playbook(playbook.name, playbook.triggers)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        try:
            _use_clock(None)
            if self.engine is not None:
                self.engine.close()
        finally:
            if self.world is not None:
                self.world.close()
                self.world = None

    @property
    def aws(self) -> World:
        if self.world is None:
            raise RuntimeError("the runtime is not started")
        return self.world

    # --- tasks as local Lambda functions ---------------------------------------------------------
    def function_arn(self, task: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.security_account}:function:irflow-{task}"

    def _register_tasks(self) -> None:
        assert self.tasks is not None and self.load_handler is not None
        for spec in self.tasks.values():
            with contextlib.redirect_stdout(self.logs):  # Powertools binds its log stream at import
                handler = self.load_handler(spec)
            arn = self.function_arn(spec.name)
            self.engine.register_lambda(arn, self._timed(spec.name, handler),
                                        timeout_seconds=float(getattr(spec, "timeout_seconds", DEFAULT_TASK_TIMEOUT)))
            self.functions[spec.name] = arn

    def _timed(self, task: str, handler: Handler) -> Handler:
        """The handler, taking the simulated time its AWS calls would take, its output captured."""

        def invoke(event: Any, context: Any) -> Any:
            calls = self.aws.calls
            mark = len(calls)
            cold = task not in self._warm
            self._warm.add(task)
            try:
                with contextlib.redirect_stdout(self.logs):
                    return handler(event, context)
            finally:
                made = calls[mark:]
                seconds = (COLD_START_SECONDS if cold else 0.0) + BASE_SECONDS + sum(
                    LATENCY.get(service, DEFAULT_LATENCY) for service, _ in made)
                context.simulate_duration(seconds)
                self.invocations.append(Invocation(task, list(made), round(seconds, 3), cold))

        return invoke

    # --- playbooks ---------------------------------------------------------------------------------
    def placeholder_values(self, playbook: Playbook) -> dict[str, str]:
        central = self.aws.central
        assert central is not None and self.tasks is not None
        values = {spec.placeholder: self.function_arn(spec.name) for spec in self.tasks.values()}
        values.update({
            "IncidentsTableName": central.incidents_table,
            "EvidenceBucketName": central.evidence_bucket,
            "NotificationTopicArn": central.topic_arn,
        })
        values.update(playbook.policy_values())
        return values

    def _create_state_machine(self, playbook: Playbook) -> None:
        definition = playbook.render(self.placeholder_values(playbook))
        arn = self.engine.create_state_machine(
            name=f"irflow-{playbook.name}", definition=definition,
            roleArn=f"arn:aws:iam::{self.security_account}:role/irflow-{playbook.name}-execution",
        )["stateMachineArn"]
        self.state_machines[playbook.name] = arn

    def start_playbook(self, playbook: str, payload: Any, name: str | None = None) -> str:
        """Start a playbook by hand (the responder's manual run); returns the execution ARN."""
        if playbook not in self.state_machines:
            raise PlaybookError(f"no playbook named {playbook!r} (have: {', '.join(sorted(self.state_machines))})")
        kwargs: dict[str, Any] = {"stateMachineArn": self.state_machines[playbook], "input": json.dumps(payload)}
        if name:
            kwargs["name"] = name
        arn: str = self.engine.start_execution(**kwargs)["executionArn"]
        return arn

    def _deliver(self, playbook: str, name: str, payload: str) -> tuple[str, str]:
        """EventBridge's Step Functions target: start, or recognise a redelivery."""
        from irflow.engine.errors import ExecutionAlreadyExists

        machine = self.state_machines[playbook]
        existing = f"{machine.replace(':stateMachine:', ':execution:')}:{name}"
        known = any(e["executionArn"] == existing for e in self.engine.list_executions(stateMachineArn=machine)["executions"])
        if self.engine.virtual:
            self.engine.advance(EVENTBRIDGE_DELIVERY_SECONDS)
        try:
            arn = self.engine.start_execution(stateMachineArn=machine, name=name, input=payload)["executionArn"]
        except ExecutionAlreadyExists:
            return existing, "exists"
        return arn, "duplicate" if known else "started"

    def put_event(self, event: dict[str, Any]) -> list[Delivery]:
        """Send an EventBridge event; every playbook whose trigger matches starts (or joins)."""
        assert self.router is not None
        return self.router.put(event)

    def invoke(self, task: str, payload: Any) -> tuple[Any, str | None]:
        """Invoke a task's function directly, as `aws lambda invoke` does: (response, FunctionError).

        The simulated clock moves on by the invocation's duration.
        """
        from irflow.engine.resources import invoke_local

        function = self.engine.lookup_lambda(self.functions[task])
        outcome = invoke_local(function, payload)
        if self.engine.virtual:
            self.engine.advance(outcome.duration)
        return json.loads(outcome.payload), outcome.function_error

    # --- people and time -----------------------------------------------------------------------------
    def pending_approvals(self) -> list[dict[str, Any]]:
        from tasks.common.incidents import list_pending_approvals

        with contextlib.redirect_stdout(self.logs):
            pending: list[dict[str, Any]] = list_pending_approvals()
        return pending

    def decide(self, approval_id: str, decision: str, by: str, reason: str | None = None) -> Any:
        """Approve or reject through the same code path as the deployed approval API."""
        from tasks.common.approvals import decide

        with contextlib.redirect_stdout(self.logs):
            return decide(approval_id, decision, by, sfn_client=self.engine, reason=reason)

    def advance(self, seconds: float) -> None:
        self.engine.advance(seconds)

    def run_until_idle(self) -> None:
        self.engine.run_until_idle()

    def now(self) -> datetime:
        now: datetime = self.engine.clock.now()
        return now

    def executions(self) -> list[dict[str, Any]]:
        """Every execution of every playbook, oldest first, as DescribeExecution shows it."""
        out = []
        for playbook, machine in self.state_machines.items():
            for item in reversed(self.engine.list_executions(stateMachineArn=machine)["executions"]):
                described = self.engine.describe_execution(executionArn=item["executionArn"])
                out.append({"playbook": playbook, **described})
        out.sort(key=lambda e: e["startDate"])
        return out

    def incidents(self) -> list[dict[str, Any]]:
        from tasks.common.incidents import list_incidents, load_incident

        with contextlib.redirect_stdout(self.logs):
            return [load_incident(_incident_id(item)) for item in list_incidents()]


def _use_clock(source: Callable[[], datetime] | None) -> None:
    """Tasks stamp incidents with `tasks.common.clock`: make it the engine's (virtual) clock."""
    from tasks.common import clock

    clock.use(source)


def _incident_id(item: Any) -> str:
    return str(item["id"]) if isinstance(item, dict) else str(item)


def _member_actions(specs: Iterable[TaskLike]) -> list[str]:
    actions: set[str] = set()
    for spec in specs:
        actions.update(getattr(spec, "member_permissions", ()) or ())
    return sorted(actions)
