"""The CloudFormation templates, generated from the task registry and the playbooks.

The hand-written halves live in `deploy/*.yaml` (central resources, the member forwarder, the
CloudTrail template); this module adds what the registry and `workflows/` describe:

- per task: a Lambda function `irflow-<task>`, its log group, and a role `irflow-task-<task>`
  allowed exactly its declared central actions, each on the central resource it concerns (plus
  `sts:AssumeRole` on `IrflowMemberRole` inside the organisation when it acts in member accounts);
- per playbook: a state machine `irflow-<playbook>` whose `DefinitionString` is the definition
  with every `${Placeholder}` filled through `Fn::Sub` (task ARNs, central resources, policy
  values), its execution role (invoke exactly the functions it calls), log group and an alarm on
  failed or timed-out executions;
- per trigger in `playbook.yaml`: an EventBridge rule on the central bus with its own invoke role,
  a retry policy and the dead-letter queue;
- the member template's `IrflowMemberRole` (trust and permissions) and the two service-managed
  StackSets that carry the member and CloudTrail templates to the organisation.

Output is deterministic: the same registry and playbooks give the same bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from . import iam

Json = Any
REPO = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO / "deploy"
MEMBER_ROLE_NAME = "IrflowMemberRole"
TASK_ROLE_PREFIX = "irflow-task-"
RUNTIME = "python3.11"
MEMORY_MB = 256
APPROVAL_HANDLER = "tasks.approval_api.handler"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
LAMBDA_INVOKE = re.compile(r"^arn:aws[\w-]*:states:::lambda:invoke(\.waitForTaskToken)?$")
SNS_PUBLISH = re.compile(r"^arn:aws[\w-]*:states:::sns:publish(\.waitForTaskToken)?$")
DYNAMODB = re.compile(r"^arn:aws[\w-]*:states:::dynamodb:(getItem|putItem|updateItem|deleteItem)$")

# Central resources a definition may name, and what fills them (the local runtime fills the same).
RESOURCE_PLACEHOLDERS: dict[str, Json] = {
    "EvidenceBucketName": {"Ref": "EvidenceBucket"},
    "IncidentsTableName": {"Ref": "IncidentsTable"},
    "NotificationTopicArn": {"Ref": "NotificationTopic"},
}

def _environment() -> dict[str, Json]:
    """The environment every function gets (tasks/common/config.py and the approval code read these)."""
    return {
        "IRFLOW_EVIDENCE_BUCKET": {"Ref": "EvidenceBucket"},
        "IRFLOW_INCIDENTS_TABLE": {"Ref": "IncidentsTable"},
        "IRFLOW_TOPIC_ARN": {"Ref": "NotificationTopic"},
        "IRFLOW_MEMBER_ROLE_NAME": MEMBER_ROLE_NAME,
        "IRFLOW_EXTERNAL_ID": {"Ref": "ExternalId"},
        "IRFLOW_APPROVAL_URL": {"Fn::Sub": "https://${ApprovalApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/v1/approvals"},
        "IRFLOW_APPROVAL_KEY_SECRET_ARN": {"Ref": "ApprovalSigningKey"},
        "IRFLOW_APPROVERS_PARAMETER": {"Ref": "ApproversParameter"},
        "IRFLOW_EVENT_BUS": {"Fn::GetAtt": ["EventBus", "Name"]},
        "POWERTOOLS_SERVICE_NAME": "irflow",
        "POWERTOOLS_METRICS_NAMESPACE": "irflow",
    }


class DeployError(Exception):
    """The registry or a playbook cannot be deployed as it stands; the message says what to fix."""


class TaskLike(Protocol):
    """What the generator reads of a `tasks.registry.TaskSpec`."""

    @property
    def name(self) -> str: ...
    @property
    def handler(self) -> str: ...
    @property
    def placeholder(self) -> str: ...
    @property
    def member_permissions(self) -> Any: ...
    @property
    def central_permissions(self) -> Any: ...
    @property
    def timeout_seconds(self) -> int: ...


class PlaybookLike(Protocol):
    """What the generator reads of a playbook (`irflow.local.playbooks.Playbook`)."""

    @property
    def name(self) -> str: ...
    @property
    def definition(self) -> str: ...
    @property
    def triggers(self) -> list[dict[str, Any]]: ...

    def policy_values(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class ApprovalApiSpec:
    """The approval API's function when the registry does not register it as a task."""

    name: str = "approval-api"
    handler: str = APPROVAL_HANDLER
    placeholder: str = "ApprovalApiFunctionArn"
    member_permissions: tuple[str, ...] = ()
    central_permissions: tuple[str, ...] = (
        "states:SendTaskSuccess", "states:SendTaskFailure",
        "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query",
        "s3:GetObject", "secretsmanager:GetSecretValue", "ssm:GetParameter", "sns:Publish",
    )
    timeout_seconds: int = 30


@dataclass(frozen=True)
class Sources:
    """Everything the templates are generated from."""

    tasks: tuple[TaskLike, ...]
    playbooks: tuple[PlaybookLike, ...]

    @classmethod
    def load(cls, root: Path = REPO) -> Sources:
        """The real registry (`tasks.registry.all_tasks()`) and every playbook under `root/workflows`."""
        from irflow.local.playbooks import load_all
        from tasks.registry import all_tasks

        tasks = tuple(sorted(all_tasks().values(), key=lambda t: t.name))
        playbooks = tuple(load_all(root / "workflows").values())
        return cls(tasks, tuple(sorted(playbooks, key=lambda p: p.name)))

    def functions(self) -> tuple[TaskLike, ...]:
        """The tasks plus the approval API function, unless a task already serves that handler."""
        if any(t.handler == APPROVAL_HANDLER for t in self.tasks):
            return self.tasks
        return (*self.tasks, ApprovalApiSpec())


# --- names ------------------------------------------------------------------------------------------

def pascal(name: str) -> str:
    """`ec2-compromise` -> `Ec2Compromise` (CloudFormation logical ids are alphanumeric)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part)


def ident(task: TaskLike) -> str:
    """Logical-id stem of a task's resources; the approval API's are fixed (`Approval...`) for central.yaml."""
    return "Approval" if task.handler == APPROVAL_HANDLER else pascal(task.name)


def function_name(task: str) -> str:
    return f"irflow-{task}"


def task_role_name(task: str) -> str:
    return f"{TASK_ROLE_PREFIX}{task}"


def _sub(text: str) -> Json:
    return {"Fn::Sub": text} if "${" in text else text


def _permissions(value: Any) -> list[str]:
    return sorted({str(a) for a in (value or ())})


# --- YAML halves -------------------------------------------------------------------------------------

def load_base(name: str) -> dict[str, Json]:
    """A hand-written template from `deploy/` (plain YAML, long-form intrinsics)."""
    data: dict[str, Json] = yaml.safe_load((DEPLOY_DIR / name).read_text(encoding="utf-8"))
    return data


def render(template: Mapping[str, Json]) -> str:
    """The template as JSON text, stable byte for byte."""
    return json.dumps(template, indent=1, ensure_ascii=False) + "\n"


def _compact(template: Mapping[str, Json]) -> str:
    return json.dumps(template, separators=(",", ":"), ensure_ascii=False)


# --- central task roles ------------------------------------------------------------------------------

_S3_BUCKET_LEVEL = re.compile(r"^(ListBucket|GetBucket|GetEncryptionConfiguration|GetObjectLockConfiguration)")
_S3_FORBIDDEN = re.compile(r"^(Delete|PutLifecycle|PutBucket|PutObjectRetention|PutObjectLegalHold|BypassGovernance)")
# Services whose only central resources are irflow's own (the cases above).
_IRFLOW_SERVICES = frozenset({"s3", "dynamodb", "sns", "kms", "secretsmanager", "ssm", "states", "events", "sts"})
# Step Functions callbacks carry a task token, not a resource: AWS cannot limit them to an ARN.
_STATES_UNSCOPED = frozenset({"SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"})


def _central_resources(action: iam.Action) -> list[Json]:
    """The central resource(s) an action of a task concerns; a task may act on nothing else."""
    service, name = action.service, action.name
    if service == "s3":
        if _S3_FORBIDDEN.match(name):
            raise DeployError(f"{action}: irflow never deletes or unprotects evidence")
        if _S3_BUCKET_LEVEL.match(name):
            return [{"Fn::GetAtt": ["EvidenceBucket", "Arn"]}]
        return [{"Fn::Sub": "${EvidenceBucket.Arn}/*"}]
    if service == "dynamodb":
        return [{"Fn::GetAtt": ["IncidentsTable", "Arn"]}, {"Fn::Sub": "${IncidentsTable.Arn}/index/*"}]
    if service == "sns":
        return [{"Ref": "NotificationTopic"}]
    if service == "kms":
        return [{"Fn::GetAtt": ["IrflowKey", "Arn"]}]
    if service == "secretsmanager":
        return [{"Ref": "ApprovalSigningKey"}]
    if service == "ssm" and name.startswith("GetParameter"):
        return [{"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/irflow/*"}]
    if service == "states":
        if name in _STATES_UNSCOPED:
            return ["*"]
        return [{"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:irflow-*"},
                {"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:irflow-*:*"}]
    if service == "events" and name == "PutEvents":
        return [{"Fn::GetAtt": ["EventBus", "Arn"]}]
    if service == "sts" and name == "AssumeRole":
        return [{"Fn::Sub": f"arn:${{AWS::Partition}}:iam::*:role/{MEMBER_ROLE_NAME}"}]
    if service in _IRFLOW_SERVICES:
        raise DeployError(f"central action {action}: no central irflow resource of service {service!r} to limit it "
                          "to; member-account actions belong in member_permissions")
    # A service of the security account itself (GuardDuty as delegated administrator, say): the
    # action's resource types in this account, or "*" where AWS allows nothing narrower.
    return [_sub(arn) for arn in iam.limited_resources(action)]


def _key_use(actions: Iterable[iam.Action]) -> list[iam.Action]:
    """The KMS actions on the irflow key that using the encrypted bucket, topic or secret takes."""
    needed: set[str] = set()
    for action in actions:
        if action.service in ("s3", "sns"):
            needed.update({"GenerateDataKey", "Decrypt"})
        if action.service == "secretsmanager":
            needed.add("Decrypt")
    return [iam.Action("kms", name) for name in sorted(needed)]


def task_policy(task: TaskLike) -> dict[str, Json]:
    """The least-privilege policy of one task's role."""
    actions = [iam.Action.parse(a) for a in _permissions(task.central_permissions)]
    if _permissions(task.member_permissions):
        actions.append(iam.Action("sts", "AssumeRole"))
    actions.extend(_key_use(actions))
    grouped: dict[str, tuple[list[Json], set[str]]] = {}
    for action in sorted(set(actions), key=str):
        resources = _central_resources(action)
        key = json.dumps(resources, sort_keys=True)
        grouped.setdefault(key, (resources, set()))[1].add(str(action))
    statements: list[Json] = [{
        "Sid": "WriteOwnLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": {"Fn::GetAtt": [f"{ident(task)}LogGroup", "Arn"]},
    }, {
        "Sid": "Tracing",
        "Effect": "Allow",
        "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
        "Resource": "*",
    }]
    for resources, grouped_actions in grouped.values():
        statement: dict[str, Json] = {
            "Effect": "Allow",
            "Action": sorted(grouped_actions),
            "Resource": resources[0] if resources == ["*"] else resources,
        }
        if grouped_actions == {"sts:AssumeRole"}:
            statement["Sid"] = "AssumeMemberRoleInOrganization"
            statement["Condition"] = {"StringEquals": {"aws:ResourceOrgID": {"Ref": "OrganizationId"}}}
        statements.append(statement)
    return {"Version": "2012-10-17", "Statement": iam.with_sids(statements)}


def _function_resources(task: TaskLike) -> dict[str, Json]:
    stem = ident(task)
    return {
        f"{stem}LogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": f"/aws/lambda/{function_name(task.name)}",
                           "RetentionInDays": {"Ref": "LogRetentionDays"}},
        },
        f"{stem}Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": task_role_name(task.name),
                "Description": f"irflow task {task.name}: only the actions its registry entry declares.",
                "AssumeRolePolicyDocument": _service_trust("lambda.amazonaws.com"),
                "Policies": [{"PolicyName": "task", "PolicyDocument": task_policy(task)}],
            },
        },
        f"{stem}Function": {
            "Type": "AWS::Lambda::Function",
            "DependsOn": [f"{stem}LogGroup"],
            "Properties": {
                "FunctionName": function_name(task.name),
                "Description": f"irflow task {task.name}",
                "Runtime": RUNTIME,
                "Architectures": ["x86_64"],
                "Handler": task.handler,
                "Code": {"S3Bucket": {"Ref": "ArtifactBucket"}, "S3Key": {"Ref": "CodeKey"}},
                "Layers": [{"Ref": "PowertoolsLayerArn"}],
                "Role": {"Fn::GetAtt": [f"{stem}Role", "Arn"]},
                "Timeout": task.timeout_seconds,
                "MemorySize": MEMORY_MB,
                "TracingConfig": {"Mode": "Active"},
                "Environment": {"Variables": _environment()},
            },
        },
    }


def _service_trust(service: str) -> dict[str, Json]:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}


# --- state machines ----------------------------------------------------------------------------------

def _task_states(states: Mapping[str, Json]) -> Iterator[Mapping[str, Json]]:
    for state in states.values():
        if state.get("Type") == "Task":
            yield state
        for branch in state.get("Branches", []) or []:
            yield from _task_states(branch.get("States", {}))
        for key in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(key), dict):
                yield from _task_states(state[key].get("States", {}))


def _placeholder_in(value: Any) -> str | None:
    match = PLACEHOLDER.fullmatch(value) if isinstance(value, str) else None
    return match.group(1) if match else None


def called_tasks(definition: Mapping[str, Json], tasks_by_placeholder: Mapping[str, TaskLike],
                 playbook: str) -> tuple[set[str], set[str]]:
    """(task names the definition invokes, other service integrations it uses, as IAM actions)."""
    invoked: set[str] = set()
    integrations: set[str] = set()
    for state in _task_states(definition.get("States", {})):
        resource = str(state.get("Resource", ""))
        arguments = state.get("Parameters") or state.get("Arguments") or {}
        target = _placeholder_in(resource)
        if target is None and LAMBDA_INVOKE.match(resource):
            name = arguments.get("FunctionName") if isinstance(arguments, dict) else None
            target = _placeholder_in(name) or _placeholder_in(str(name).split(":")[0] if name else None)
        if target is not None:
            if target not in tasks_by_placeholder:
                raise DeployError(f"playbook {playbook}: a Task calls ${{{target}}}, which is no registered task")
            invoked.add(tasks_by_placeholder[target].name)
        elif SNS_PUBLISH.match(resource):
            integrations.add("sns:Publish")
        elif match := DYNAMODB.match(resource):
            integrations.add("dynamodb:" + match.group(1)[:1].upper() + match.group(1)[1:])
        else:
            raise DeployError(f"playbook {playbook}: Task resource {resource!r} is not one the deploy can grant "
                              "(a task placeholder, lambda:invoke, sns:publish or dynamodb item calls)")
    return invoked, integrations


def _definition_string(playbook: PlaybookLike, tasks: Sequence[TaskLike]) -> Json:
    """`Fn::Sub` of the compact definition with one variable per placeholder it uses."""
    try:
        parsed = json.loads(playbook.definition)
    except ValueError as error:
        raise DeployError(f"playbook {playbook.name}: definition is not JSON: {error}") from error
    text = json.dumps(parsed, separators=(",", ":"), ensure_ascii=False)
    by_placeholder = {t.placeholder: t for t in tasks}
    policy = playbook.policy_values()
    variables: dict[str, Json] = {}
    for name in sorted(set(PLACEHOLDER.findall(text))):
        if name in by_placeholder:
            variables[name] = {"Fn::GetAtt": [f"{ident(by_placeholder[name])}Function", "Arn"]}
        elif name in RESOURCE_PLACEHOLDERS:
            variables[name] = RESOURCE_PLACEHOLDERS[name]
        elif name in policy:
            variables[name] = json.dumps(policy[name], ensure_ascii=False)[1:-1]
        else:
            raise DeployError(f"playbook {playbook.name}: placeholder ${{{name}}} is neither a registered task's, "
                              "a central resource's nor a policy value's")
    return {"Fn::Sub": [text, variables]} if variables else text


def _execution_policy(playbook: PlaybookLike, tasks: Sequence[TaskLike]) -> dict[str, Json]:
    by_placeholder = {t.placeholder: t for t in tasks}
    invoked, integrations = called_tasks(json.loads(playbook.definition), by_placeholder, playbook.name)
    functions: list[Json] = []
    for stem in sorted(ident(t) for t in tasks if t.name in invoked):
        functions.extend([{"Fn::GetAtt": [f"{stem}Function", "Arn"]}, {"Fn::Sub": f"${{{stem}Function.Arn}}:*"}])
    statements: list[Json] = []
    if functions:
        statements.append({"Sid": "InvokeTasks", "Effect": "Allow", "Action": "lambda:InvokeFunction",
                           "Resource": functions})
    used = [iam.Action.parse(a) for a in sorted(integrations)]
    for action in [*used, *_key_use(used)]:
        statements.append({"Effect": "Allow", "Action": str(action), "Resource": _central_resources(action)})
    statements.append({
        "Sid": "DeliverLogs", "Effect": "Allow",
        # CloudWatch Logs delivery for Step Functions cannot be limited to a log group.
        "Action": ["logs:CreateLogDelivery", "logs:DeleteLogDelivery", "logs:DescribeLogGroups",
                   "logs:DescribeResourcePolicies", "logs:GetLogDelivery", "logs:ListLogDeliveries",
                   "logs:PutResourcePolicy", "logs:UpdateLogDelivery"],
        "Resource": "*",
    })
    statements.append({"Sid": "Tracing", "Effect": "Allow",
                       "Action": ["xray:GetSamplingRules", "xray:GetSamplingTargets", "xray:PutTelemetryRecords",
                                  "xray:PutTraceSegments"],
                       "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": iam.with_sids(statements)}


def _playbook_resources(playbook: PlaybookLike, tasks: Sequence[TaskLike]) -> dict[str, Json]:
    stem = pascal(playbook.name)
    machine = f"{stem}StateMachine"
    out: dict[str, Json] = {
        f"{stem}LogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": f"/aws/vendedlogs/states/irflow-{playbook.name}",
                           "RetentionInDays": {"Ref": "LogRetentionDays"}},
        },
        f"{stem}ExecutionRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": f"irflow-{playbook.name}-execution",
                "Description": f"irflow playbook {playbook.name}: invokes its tasks.",
                "AssumeRolePolicyDocument": _service_trust("states.amazonaws.com"),
                "Policies": [{"PolicyName": "execution", "PolicyDocument": _execution_policy(playbook, tasks)}],
            },
        },
        machine: {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": f"irflow-{playbook.name}",
                "StateMachineType": "STANDARD",
                "RoleArn": {"Fn::GetAtt": [f"{stem}ExecutionRole", "Arn"]},
                "DefinitionString": _definition_string(playbook, tasks),
                "LoggingConfiguration": {
                    "Level": "ALL", "IncludeExecutionData": True,
                    "Destinations": [{"CloudWatchLogsLogGroup": {
                        "LogGroupArn": {"Fn::GetAtt": [f"{stem}LogGroup", "Arn"]}}}],
                },
                "TracingConfiguration": {"Enabled": True},
            },
        },
        f"{stem}FailedAlarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": f"irflow-{playbook.name}-failed-executions",
                "AlarmDescription": f"An execution of playbook {playbook.name} failed or timed out.",
                "Metrics": [
                    _execution_metric("failed", "ExecutionsFailed", machine),
                    _execution_metric("timedout", "ExecutionsTimedOut", machine),
                    {"Id": "unfinished", "Expression": "failed + timedout", "Label": "failed or timed out",
                     "ReturnData": True},
                ],
                "EvaluationPeriods": 1,
                "Threshold": 0,
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": [{"Ref": "NotificationTopic"}],
            },
        },
    }
    for index, pattern in enumerate(playbook.triggers, start=1):
        out.update(_trigger_resources(playbook, index, pattern, machine))
    return out


def _execution_metric(metric_id: str, metric: str, machine: str) -> dict[str, Json]:
    return {"Id": metric_id, "ReturnData": False, "MetricStat": {
        "Metric": {"Namespace": "AWS/States", "MetricName": metric,
                   "Dimensions": [{"Name": "StateMachineArn", "Value": {"Ref": machine}}]},
        "Period": 300, "Stat": "Sum"}}


def _trigger_resources(playbook: PlaybookLike, index: int, pattern: Mapping[str, Json], machine: str) -> dict[str, Json]:
    stem = f"{pascal(playbook.name)}Trigger{index}"
    return {
        f"{stem}Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": f"irflow-{playbook.name}-trigger-{index}",
                "Description": f"Lets trigger {index} of playbook {playbook.name} start it.",
                "AssumeRolePolicyDocument": _service_trust("events.amazonaws.com"),
                "Policies": [{"PolicyName": "start-playbook", "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{"Sid": "StartPlaybook", "Effect": "Allow", "Action": "states:StartExecution",
                                   "Resource": {"Ref": machine}}]}}],
            },
        },
        f"{stem}Rule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Name": f"irflow-{playbook.name}-{index}",
                "Description": f"Starts playbook {playbook.name} (trigger {index} of playbook.yaml).",
                "EventBusName": {"Fn::GetAtt": ["EventBus", "Name"]},
                "EventPattern": dict(pattern),
                "State": "ENABLED",
                "Targets": [{
                    "Id": "playbook",
                    "Arn": {"Ref": machine},
                    "RoleArn": {"Fn::GetAtt": [f"{stem}Role", "Arn"]},
                    "RetryPolicy": {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 3600},
                    "DeadLetterConfig": {"Arn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}},
                }],
            },
        },
    }


# --- member template -----------------------------------------------------------------------------------

def member_actions(sources: Sources) -> list[str]:
    """Union of the member actions the registered tasks declare."""
    return sorted({a for t in sources.tasks for a in _permissions(t.member_permissions)})


def member_template(sources: Sources) -> dict[str, Json]:
    """`deploy/member.yaml` with IrflowMemberRole's trust and permissions filled in."""
    template = load_base("member.yaml")
    actors = sorted(t.name for t in sources.tasks if _permissions(t.member_permissions))
    role = template["Resources"]["IrflowMemberRole"]["Properties"]
    role["AssumeRolePolicyDocument"] = {"Version": "2012-10-17", "Statement": [{
        "Sid": "CentralTasksOnly",
        "Effect": "Allow",
        "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${CentralAccountId}:root"}},
        "Action": "sts:AssumeRole",
        "Condition": {
            "StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"},
                             "aws:PrincipalOrgID": {"Ref": "OrganizationId"}},
            "ArnEquals": {"aws:PrincipalArn": [
                {"Fn::Sub": f"arn:${{AWS::Partition}}:iam::${{CentralAccountId}}:role/{task_role_name(name)}"}
                for name in actors]},
        },
    }]}
    allowed = [{**s, "Resource": _sub(s["Resource"]) if isinstance(s["Resource"], str)
                else [_sub(r) for r in s["Resource"]]} for s in iam.account_statements(member_actions(sources))]
    role["Policies"] = [{"PolicyName": "irflow-response", "PolicyDocument": {
        "Version": "2012-10-17", "Statement": [*allowed, *member_denials()]}}]
    return template


def member_denials() -> list[dict[str, Json]]:
    """What IrflowMemberRole may never do, whatever its Allow statements say."""
    return [{
        "Sid": "NeverTouchEvidence",
        "Effect": "Deny",
        "Action": "s3:*",
        "Resource": [{"Fn::Sub": "arn:${AWS::Partition}:s3:::irflow-evidence-${CentralAccountId}-*"},
                     {"Fn::Sub": "arn:${AWS::Partition}:s3:::irflow-evidence-${CentralAccountId}-*/*"}],
    }, {
        "Sid": "AttachOnlyDenyAll",
        "Effect": "Deny",
        # Containment attaches AWSDenyAll and nothing else: no managed policy can be used to grant.
        "Action": ["iam:AttachUserPolicy", "iam:AttachRolePolicy", "iam:AttachGroupPolicy"],
        "Resource": "*",
        "Condition": {"ArnNotEquals": {"iam:PolicyARN": {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSDenyAll"}}},
    }, {
        "Sid": "NeverChangeItself",
        "Effect": "Deny",
        # Everything but reading: its trust policy, its permissions, its tags, passing or deleting it.
        "NotAction": ["iam:Get*", "iam:List*"],
        "Resource": {"Fn::Sub": f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/{MEMBER_ROLE_NAME}"},
    }]


def trail_template() -> dict[str, Json]:
    return load_base("org-trail.yaml")


# --- central template ------------------------------------------------------------------------------------

def _stack_set(name: str, condition: str, template: Mapping[str, Json], parameters: Mapping[str, Json],
               regions: str, description: str) -> dict[str, Json]:
    return {
        "Type": "AWS::CloudFormation::StackSet",
        "Condition": condition,
        "Properties": {
            "StackSetName": name,
            "Description": description,
            "PermissionModel": "SERVICE_MANAGED",
            "CallAs": {"Ref": "StackSetCallAs"},
            "AutoDeployment": {"Enabled": True, "RetainStacksOnAccountRemoval": False},
            "Capabilities": ["CAPABILITY_NAMED_IAM"],
            "ManagedExecution": {"Active": True},
            "OperationPreferences": {"FailureTolerancePercentage": 10, "MaxConcurrentPercentage": 25,
                                     "RegionConcurrencyType": "PARALLEL"},
            "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            "StackInstancesGroup": [{
                "DeploymentTargets": {"OrganizationalUnitIds": {"Ref": "OrganizationalUnitIds"}},
                "Regions": {"Ref": regions},
            }],
            "TemplateBody": _compact(template),
        },
    }


def central_template(sources: Sources) -> dict[str, Json]:
    """`deploy/central.yaml` plus every function, state machine, trigger and the StackSets."""
    template = load_base("central.yaml")
    template["Parameters"]["StackSetCallAs"] = {
        "Type": "String", "Default": "DELEGATED_ADMIN", "AllowedValues": ["SELF", "DELEGATED_ADMIN"],
        "Description": "SELF when deploying from the management account, DELEGATED_ADMIN from the security "
                       "account registered as StackSets delegated administrator.",
    }
    resources = template["Resources"]
    functions = sources.functions()
    placeholders = [t.placeholder for t in functions]
    duplicates = sorted({p for p in placeholders if placeholders.count(p) > 1})
    if duplicates:
        raise DeployError(f"two tasks share placeholder(s) {', '.join(duplicates)}")
    for task in functions:
        resources.update(_function_resources(task))
    for playbook in sources.playbooks:
        resources.update(_playbook_resources(playbook, sources.tasks))
        template["Outputs"][f"{pascal(playbook.name)}StateMachineArn"] = {
            "Description": f"Playbook {playbook.name}", "Value": {"Ref": f"{pascal(playbook.name)}StateMachine"}}
    resources["MemberStackSet"] = _stack_set(
        "irflow-member", "DeployToOrganization", member_template(sources),
        {"CentralAccountId": {"Ref": "AWS::AccountId"}, "CentralRegion": {"Ref": "AWS::Region"},
         "OrganizationId": {"Ref": "OrganizationId"}, "ExternalId": {"Ref": "ExternalId"},
         "CentralEventBusArn": {"Fn::GetAtt": ["EventBus", "Arn"]}},
        "MemberRegions", "irflow member role and finding forwarder in every account of the organisation.")
    resources["TrailStackSet"] = _stack_set(
        "irflow-trail", "DeployTrail", trail_template(),
        {"CentralRegion": {"Ref": "AWS::Region"}, "LogRetentionDays": {"Ref": "LogRetentionDays"}},
        "TrailRegions", "irflow CloudTrail to CloudWatch Logs with log detections in every account.")
    return template


def templates(sources: Sources) -> dict[str, dict[str, Json]]:
    """Every template by file name."""
    return {
        "central.template.json": central_template(sources),
        "member.template.json": member_template(sources),
        "org-trail.template.json": trail_template(),
    }


def write(sources: Sources, directory: Path) -> list[Path]:
    """Write every template into `directory`; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, template in templates(sources).items():
        path = directory / name
        path.write_text(render(template), encoding="utf-8")
        written.append(path)
    return written
