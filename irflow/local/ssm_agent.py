"""Simulated SSM agent: managed instances, Run Command over simulated time, output in S3.

moto gap filled: moto 5.2.5 has no `DescribeInstanceInformation` or `ListCommandInvocations`,
its `SendCommand` reports Success at once for any instance (even one that does not exist),
writes nothing to S3, and `GetCommandInvocation` returns empty output (see `moto-notes.md`).

How it is filled: the world registers the instances that run the agent (`register`). This
module then patches moto's SSM response class (`moto.ssm.responses.SimpleSystemManagerResponse`):
`DescribeInstanceInformation` and `ListCommandInvocations` are added; `SendCommand` for
`AWS-RunShellScript` / `AWS-RunPowerShellScript` is checked as AWS checks it and then handed to
moto, whose `Command` object stays the single record of the command; every SSM read first lets
the agent catch up with the clock (`refresh`), rewriting that object's status and invocations.
moto's own `ListCommands` and `GetCommandInvocation` therefore read the simulated state.

Behaviour, per instance:
- registered, running: `Pending` (delivery, about a second) -> `InProgress` (the script's
  running time, from `ssm_output`) -> `Success` (or `Failed` when the script's last command
  fails). On completion the output is written where the real agent writes it:
  `<OutputS3KeyPrefix>/<CommandId>/<InstanceId>/awsrunShellScript/0.awsrunShellScript/stdout`
  (`awsrunPowerShellScript` on Windows; `stderr` beside it when there is any), and the
  invocation carries at most 24,000 characters of it, as `GetCommandInvocation` does.
- registered, stopped or stopping (agent offline, `PingStatus` ConnectionLost): the command is
  accepted, stays `Pending` (StatusDetails `Delayed`) and becomes `Undeliverable` after
  `UNDELIVERABLE_AFTER` seconds.
- not registered, unknown, shutting-down or terminated: `SendCommand` fails with
  `InvalidInstanceId` ("Instances [[i-...]] not in a valid state for account ..."), as on AWS.
- the document's platform does not match the instance: `UnsupportedPlatformType`.
- a script longer than the document's `executionTimeout` ends `TimedOut` ("Execution Timed Out")
  with the output written so far.
Other documents go to moto unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import ssm_output
from .patching import Patches

DOCUMENTS = {
    "AWS-RunShellScript": ("Linux", "aws:runShellScript"),
    "AWS-RunPowerShellScript": ("Windows", "aws:runPowerShellScript"),
}
DELIVERY_SECONDS = {"Linux": 1.2, "Windows": 2.0}
UNDELIVERABLE_AFTER = 30.0
OUTPUT_CONTENT_LIMIT = 24000  # GetCommandInvocation StandardOutputContent
PLUGIN_OUTPUT_LIMIT = 2500  # ListCommandInvocations CommandPlugins[].Output
TRUNCATED = "\n---Output truncated---"
AGENT_VERSION = "3.3.1142.0"
PLATFORMS = {
    "Linux": ("Amazon Linux", "2023"),
    "Windows": ("Microsoft Windows Server 2022 Datacenter", "10.0.20348"),
}

Writer = Callable[[str, str, str, bytes], None]  # account, bucket, key, body


def _ssm_error(code: str, message: str) -> Exception:
    from moto.ssm.exceptions import SSMException  # moto finds the error shape by the class's package

    return SSMException(code, message)


def _iso(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z" if when else ""


def _elapsed(start: datetime | None, end: datetime | None) -> str:
    return f"PT{(end - start).total_seconds():.3f}S" if start and end else ""


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(TRUNCATED)] + TRUNCATED


@dataclass
class Node:
    """An instance running the agent."""

    instance_id: str
    account: str
    region: str
    platform: str  # "Linux" | "Windows"
    registered_at: datetime
    remote_ips: tuple[str, ...] = ()


@dataclass
class Invocation:
    node: Node
    requested: datetime
    status: str = "Pending"
    details: str = "Pending"
    deliver_at: datetime | None = None
    started: datetime | None = None
    finish_at: datetime | None = None
    result: ssm_output.Result | None = None
    stdout_url: str = ""
    stderr_url: str = ""


@dataclass
class SimCommand:
    command: Any  # moto's Command, kept in step with the simulation
    account: str
    region: str
    plugin: str
    commands: list[str]
    execution_timeout: float = 3600.0  # the document's executionTimeout parameter
    invocations: dict[str, Invocation] = field(default_factory=dict)


class SsmAgent:
    """The agent on every registered instance, driven by the world's clock."""

    def __init__(self, now: Callable[[], datetime], writer: Writer) -> None:
        self._now = now
        self._write = writer
        self._nodes: dict[tuple[str, str, str], Node] = {}
        self._commands: dict[str, SimCommand] = {}

    # --- registration ---------------------------------------------------------------------
    def register(self, instance_id: str, account: str, region: str, platform: str = "Linux",
                 remote_ips: tuple[str, ...] = ()) -> None:
        """Install the agent on an instance (it then shows in DescribeInstanceInformation)."""
        if platform not in DELIVERY_SECONDS:
            raise ValueError(f"platform must be Linux or Windows, not {platform!r}")
        self._nodes[(account, region, instance_id)] = Node(instance_id, account, region, platform, self.now(),
                                                           remote_ips)

    def set_remote_ips(self, instance_id: str, remote_ips: tuple[str, ...]) -> None:
        """Name the attacker addresses the instance's findings report (used in its output)."""
        for key, node in self._nodes.items():
            if key[2] == instance_id:
                node.remote_ips = remote_ips

    def now(self) -> datetime:
        when = self._now()
        return when if when.tzinfo else when.replace(tzinfo=UTC)

    def commands(self) -> list[SimCommand]:
        return list(self._commands.values())

    # --- EC2 state, read from moto's backend -------------------------------------------------
    @staticmethod
    def _instance(account: str, region: str, instance_id: str) -> Any:
        from moto.ec2.models import ec2_backends

        try:
            return ec2_backends[account][region].get_instance(instance_id)
        except Exception:  # moto's InvalidInstanceIdError: no such instance
            return None

    def _state(self, node: Node) -> str:
        instance = self._instance(node.account, node.region, node.instance_id)
        return instance.state if instance is not None else "terminated"

    # --- the API ------------------------------------------------------------------------------
    def describe(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        """DescribeInstanceInformation for the caller's account and region."""
        wanted: dict[str, list[str]] = {}
        for item in params.get("InstanceInformationFilterList") or []:
            wanted[item["key"]] = item.get("valueSet") or []
        for item in params.get("Filters") or []:
            wanted[item["Key"]] = item.get("Values") or []
        known = {"InstanceIds", "PingStatus", "PlatformTypes", "ResourceType", "AgentVersion"}
        for key in wanted:
            if key not in known:
                raise _ssm_error("InvalidInstanceInformationFilterValue", f"The filter key {key} is not valid.")
        rows = []
        for (acct, reg, _), node in self._nodes.items():
            if (acct, reg) != (account, region):
                continue
            instance = self._instance(acct, reg, node.instance_id)
            if instance is None or instance.state == "terminated":
                continue
            rows.append(self._information(node, instance))
        for key, values in wanted.items():
            field_name = {"InstanceIds": "InstanceId", "PlatformTypes": "PlatformType"}.get(key, key)
            rows = [row for row in rows if row[field_name] in values]
        return _page(rows, "InstanceInformationList", params, default_size=50)

    def _information(self, node: Node, instance: Any) -> dict[str, Any]:
        online = instance.state == "running"
        name, version = PLATFORMS[node.platform]
        hostname = ssm_output.Host(node.instance_id, node.platform, instance.private_ip or "10.0.0.1").hostname
        return {
            "InstanceId": node.instance_id,
            "PingStatus": "Online" if online else "ConnectionLost",
            "LastPingDateTime": self.now() if online else node.registered_at,
            "AgentVersion": AGENT_VERSION,
            "IsLatestVersion": True,
            "PlatformType": node.platform,
            "PlatformName": name,
            "PlatformVersion": version,
            "ResourceType": "EC2Instance",
            "IPAddress": instance.private_ip or "",
            "ComputerName": hostname,
            "RegistrationDate": node.registered_at,
            "AssociationStatus": "Success",
            "SourceId": node.instance_id,
            "SourceType": "AWS::EC2::Instance",
        }

    def check_send(self, account: str, region: str, params: dict[str, Any]) -> str | None:
        """Validate a SendCommand as AWS does; returns the plugin name when the agent runs it."""
        document = params.get("DocumentName")
        if document not in DOCUMENTS:
            return None
        platform, plugin = DOCUMENTS[document]
        commands = (params.get("Parameters") or {}).get("commands")
        if not commands:
            raise _ssm_error("InvalidParameters", "Parameters provided are not valid: commands is required.")
        if params.get("Targets"):
            raise _ssm_error("InvalidParameters", "The local SSM agent supports InstanceIds, not Targets.")
        instance_ids = params.get("InstanceIds") or []
        if not instance_ids:
            raise _ssm_error("InvalidInstanceId", "InstanceIds must name at least one instance.")
        invalid = []
        for instance_id in instance_ids:
            node = self._nodes.get((account, region, instance_id))
            instance = self._instance(account, region, instance_id)
            if node is None or instance is None or instance.state in ("shutting-down", "terminated"):
                invalid.append(instance_id)
            elif node.platform != platform:
                raise _ssm_error("UnsupportedPlatformType",
                                 f"The document {document} does not support the platform type of {instance_id}.")
        if invalid:
            raise _ssm_error("InvalidInstanceId",
                             f"Instances [[{', '.join(invalid)}]] not in a valid state for account {account}")
        return plugin

    def accept(self, command: Any, account: str, region: str, plugin: str, params: dict[str, Any]) -> None:
        """Take over moto's freshly created Command: it is Pending until the agent picks it up."""
        now = self.now()
        # moto adds every instance of the account when Targets is empty; the command is for
        # exactly the instances named.
        command.instance_ids = list(dict.fromkeys(params["InstanceIds"]))
        command.target_count = len(command.instance_ids)
        command.requested_date_time = now
        command.expires_after = now + timedelta(seconds=command.timeout_seconds)
        sim = SimCommand(command, account, region, plugin, list(params["Parameters"]["commands"]),
                         _execution_timeout(params["Parameters"]))
        for instance_id in command.instance_ids:
            node = self._nodes[(account, region, instance_id)]
            sim.invocations[instance_id] = Invocation(node, now, deliver_at=now + timedelta(seconds=DELIVERY_SECONDS[node.platform]))
        self._commands[command.command_id] = sim
        self._sync(sim)

    # --- the passage of time ----------------------------------------------------------------
    def refresh(self) -> None:
        """Bring every command up to the current (simulated) time, writing finished output."""
        now = self.now()
        for sim in self._commands.values():
            changed = False
            for invocation in sim.invocations.values():
                changed |= self._step(sim, invocation, now)
            if changed:
                self._sync(sim)

    def _step(self, sim: SimCommand, inv: Invocation, now: datetime) -> bool:
        before = (inv.status, inv.details)
        if inv.status == "Pending" and inv.deliver_at is not None and now >= inv.deliver_at:
            if self._state(inv.node) == "running":
                inv.status, inv.details = "InProgress", "In Progress"
                inv.started = inv.deliver_at
                host = ssm_output.Host(inv.node.instance_id, inv.node.platform, self._private_ip(inv.node),
                                       inv.started, inv.node.remote_ips)
                inv.result = ssm_output.run(sim.commands, host)
                inv.finish_at = inv.started + timedelta(seconds=min(inv.result.seconds, sim.execution_timeout))
            elif now >= inv.requested + timedelta(seconds=UNDELIVERABLE_AFTER):
                inv.status = inv.details = "Undeliverable"
            else:
                inv.details = "Delayed"
        if inv.status == "InProgress" and inv.finish_at is not None and now >= inv.finish_at:
            assert inv.result is not None
            self._write_output(sim, inv)
            if inv.result.seconds > sim.execution_timeout:
                inv.status, inv.details = "TimedOut", "Execution Timed Out"
            else:
                inv.status = inv.details = "Success" if inv.result.exit_code == 0 else "Failed"
        return before != (inv.status, inv.details)

    def _private_ip(self, node: Node) -> str:
        instance = self._instance(node.account, node.region, node.instance_id)
        return (instance.private_ip if instance is not None else None) or "10.0.0.1"

    def _output_prefix(self, sim: SimCommand, instance_id: str) -> str:
        step = sim.plugin.replace(":", "")
        parts = [p for p in (sim.command.output_s3_key_prefix or "").split("/") if p]
        return "/".join([*parts, sim.command.command_id, instance_id, step, f"0.{step}"])

    def _write_output(self, sim: SimCommand, inv: Invocation) -> None:
        bucket = sim.command.output_s3_bucket_name
        if not bucket or inv.result is None:
            return
        prefix = self._output_prefix(sim, inv.node.instance_id)
        region = sim.command.output_s3_region or sim.region
        self._write(inv.node.account, bucket, f"{prefix}/stdout", inv.result.stdout.encode())
        inv.stdout_url = f"https://s3.{region}.amazonaws.com/{bucket}/{prefix}/stdout"
        if inv.result.stderr:
            self._write(inv.node.account, bucket, f"{prefix}/stderr", inv.result.stderr.encode())
            inv.stderr_url = f"https://s3.{region}.amazonaws.com/{bucket}/{prefix}/stderr"

    # --- keeping moto's Command in step ---------------------------------------------------------
    def _sync(self, sim: SimCommand) -> None:
        command = sim.command
        statuses = [inv.status for inv in sim.invocations.values()]
        done = [s for s in statuses if s not in ("Pending", "InProgress")]
        command.completed_count = len(done)
        command.error_count = sum(1 for s in statuses if s in ("Failed", "TimedOut"))
        if any(s in ("Pending", "InProgress") for s in statuses):
            command.status = "InProgress" if any(s != "Pending" for s in statuses) else "Pending"
            command.status_details = "In Progress" if command.status == "InProgress" else "Pending"
        elif all(s == "Success" for s in statuses):
            command.status = command.status_details = "Success"
        else:  # Undeliverable does not count as an error (MaxErrors); it leaves the command Incomplete
            command.status = "Failed"
            command.status_details = "Failed" if command.error_count else "Incomplete"
        command.invocations = [self._get_invocation(sim, iid, inv) for iid, inv in sim.invocations.items()]

    def _get_invocation(self, sim: SimCommand, instance_id: str, inv: Invocation) -> dict[str, Any]:
        """The GetCommandInvocation answer for one instance."""
        finished = inv.status in ("Success", "Failed", "TimedOut")
        result = inv.result if finished else None
        return {
            "CommandId": sim.command.command_id,
            "InstanceId": instance_id,
            "Comment": sim.command.comment,
            "DocumentName": sim.command.document_name,
            "DocumentVersion": "$DEFAULT",
            "PluginName": sim.plugin,
            "ResponseCode": result.exit_code if result else -1,
            "ExecutionStartDateTime": _iso(inv.started),
            "ExecutionElapsedTime": _elapsed(inv.started, inv.finish_at) if finished else "",
            "ExecutionEndDateTime": _iso(inv.finish_at) if finished else "",
            "Status": inv.status,
            "StatusDetails": inv.details,
            "StandardOutputContent": _truncate(result.stdout, OUTPUT_CONTENT_LIMIT) if result else "",
            "StandardOutputUrl": inv.stdout_url,
            "StandardErrorContent": _truncate(result.stderr, OUTPUT_CONTENT_LIMIT) if result else "",
            "StandardErrorUrl": inv.stderr_url,
            "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False},
        }

    def list_invocations(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        """ListCommandInvocations, newest command first, as AWS lists them."""
        command_id, instance_id = params.get("CommandId"), params.get("InstanceId")
        if command_id and command_id not in self._commands:
            raise _ssm_error("InvalidCommandId", "Invalid command id.")
        filters = {f["key"]: f["value"] for f in params.get("Filters") or []}
        rows = []
        for sim in reversed(list(self._commands.values())):
            if (sim.account, sim.region) != (account, region) or (command_id and sim.command.command_id != command_id):
                continue
            for iid, inv in sim.invocations.items():
                if instance_id and iid != instance_id:
                    continue
                if "Status" in filters and inv.status != filters["Status"]:
                    continue
                if "DocumentName" in filters and sim.command.document_name != filters["DocumentName"]:
                    continue
                rows.append(self._list_row(sim, iid, inv, bool(params.get("Details"))))
        return _page(rows, "CommandInvocations", params, default_size=50)

    def _list_row(self, sim: SimCommand, instance_id: str, inv: Invocation, details: bool) -> dict[str, Any]:
        command = sim.command
        finished = inv.status in ("Success", "Failed", "TimedOut")
        row: dict[str, Any] = {
            "CommandId": command.command_id,
            "InstanceId": instance_id,
            "InstanceName": "",
            "Comment": command.comment,
            "DocumentName": command.document_name,
            "DocumentVersion": "$DEFAULT",
            "RequestedDateTime": command.requested_date_time,
            "Status": inv.status,
            "StatusDetails": inv.details,
            "TraceOutput": "",
            "StandardOutputUrl": inv.stdout_url,
            "StandardErrorUrl": inv.stderr_url,
            "CommandPlugins": [],
            "ServiceRole": command.service_role_arn,
            "NotificationConfig": {"NotificationArn": "", "NotificationEvents": [], "NotificationType": ""},
            "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False},
        }
        if details:
            plugin: dict[str, Any] = {
                "Name": sim.plugin,
                "Status": inv.status,
                "StatusDetails": inv.details,
                "ResponseCode": inv.result.exit_code if finished and inv.result else -1,
                "Output": _truncate(inv.result.stdout, PLUGIN_OUTPUT_LIMIT) if finished and inv.result else "",
                "StandardOutputUrl": inv.stdout_url,
                "StandardErrorUrl": inv.stderr_url,
                "OutputS3Region": command.output_s3_region or sim.region,
                "OutputS3BucketName": command.output_s3_bucket_name,
                "OutputS3KeyPrefix": self._output_prefix(sim, instance_id).rsplit("/", 1)[0]
                if command.output_s3_bucket_name else "",
            }
            if inv.started:
                plugin["ResponseStartDateTime"] = inv.started
            if finished and inv.finish_at:
                plugin["ResponseFinishDateTime"] = inv.finish_at
            row["CommandPlugins"] = [plugin]
        return row

    # --- wiring into moto ------------------------------------------------------------------------
    def install(self, patches: Patches) -> None:
        """Patch moto's SSM response class so the API above answers for the embedded AWS."""
        from moto.core.responses import ActionResult
        from moto.ssm.responses import SimpleSystemManagerResponse as Response

        agent = self

        def describe_instance_information(self: Any) -> Any:
            return ActionResult(agent.describe(self.current_account, self.region, _params(self)))

        def list_command_invocations(self: Any) -> Any:
            agent.refresh()
            return ActionResult(agent.list_invocations(self.current_account, self.region, _params(self)))

        def send_command(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
            def wrapped(self: Any) -> Any:
                agent.refresh()
                params = _params(self)
                plugin = agent.check_send(self.current_account, self.region, params)
                result = original(self)
                if plugin is not None:
                    command = self.ssm_backend.get_command_by_id(result.result["Command"]["CommandId"])
                    agent.accept(command, self.current_account, self.region, plugin, params)
                    return ActionResult({"Command": command.response_object()})
                return result

            return wrapped

        def refreshing(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
            def wrapped(self: Any) -> Any:
                agent.refresh()
                return original(self)

            return wrapped

        patches.set(Response, "describe_instance_information", describe_instance_information)
        patches.set(Response, "list_command_invocations", list_command_invocations)
        patches.wrap(Response, "send_command", send_command)
        patches.wrap(Response, "get_command_invocation", refreshing)
        patches.wrap(Response, "list_commands", refreshing)


def _execution_timeout(parameters: dict[str, Any]) -> float:
    """The document's `executionTimeout` (seconds, a one-element list of text), 3600 by default."""
    value = parameters.get("executionTimeout") or ["3600"]
    try:
        return float(value[0] if isinstance(value, list) else value)
    except (TypeError, ValueError) as bad:
        raise _ssm_error("InvalidParameters", "Parameters provided are not valid: executionTimeout.") from bad


def _params(response: Any) -> dict[str, Any]:
    """The request's parameters (SSM speaks JSON)."""
    body = response.body
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    parsed = json.loads(body) if body else {}
    return parsed if isinstance(parsed, dict) else {}


def _page(rows: list[dict[str, Any]], key: str, params: dict[str, Any], default_size: int) -> dict[str, Any]:
    """One page of `rows` with AWS-style NextToken pagination."""
    size = int(params.get("MaxResults") or default_size)
    token = params.get("NextToken")
    try:
        start = int(token) if token else 0
    except ValueError as bad:
        raise _ssm_error("InvalidNextToken", "The specified token isn't valid.") from bad
    page: dict[str, Any] = {key: rows[start:start + size]}
    if start + size < len(rows):
        page["NextToken"] = str(start + size)
    return page
