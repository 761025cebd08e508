"""Deploy a template into moto's CloudFormation, and check what moto cannot create another way.

moto's `create_stack` builds the resource types it models and lets every other type reach
CREATE_COMPLETE without creating anything (see ../shared/moto-notes.md). So a deployment here
also resolves, through moto's own intrinsic-function evaluation, the properties of each resource
moto skips: every intrinsic inside them becomes a stack output (a "probe"). The test then creates
each skipped resource with the ordinary API call its type stands for (`apply_unsupported`), with
those resolved properties: the properties must be a valid API request and name resources that
exist in the deployment, which is what CloudFormation itself would need.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

INTRINSICS = {"Ref", "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::If", "Fn::Select", "Fn::Split"}
LIST_SEPARATOR = "|~|"


def moto_types() -> set[str]:
    """Resource types moto's CloudFormation creates."""
    from moto.cloudformation.parsing import get_model_map

    return set(get_model_map())


@dataclass
class Deployed:
    """A stack in moto, with the resolved properties of every resource moto did not create."""

    stack_name: str
    outputs: dict[str, str]
    physical: dict[str, str]  # logical id -> physical id
    skipped: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # logical -> (type, props)


def _is_intrinsic(node: Any) -> bool:
    return isinstance(node, dict) and len(node) == 1 and next(iter(node)) in INTRINSICS


def deploy(cfn: Any, stack_name: str, template: Mapping[str, Any], parameters: Mapping[str, str]) -> Deployed:
    """create_stack, with probes for the properties of the resources moto skips."""
    template = copy.deepcopy(dict(template))
    supported = moto_types()
    list_parameters = {name for name, spec in template.get("Parameters", {}).items()
                       if str(spec.get("Type", "")).startswith("CommaDelimitedList")}
    probes: dict[str, Any] = {}

    def probe(node: Any) -> Any:
        if _is_intrinsic(node):
            key = f"Probe{len(probes)}"
            is_list = "Ref" in node and node["Ref"] in list_parameters
            probes[key] = {"Fn::Join": [LIST_SEPARATOR, node]} if is_list else node
            return {"__probe__": key, "list": is_list}
        if isinstance(node, dict):
            return {k: probe(v) for k, v in node.items()}
        if isinstance(node, list):
            return [probe(v) for v in node]
        return node

    skipped: dict[str, tuple[str, Any, str | None]] = {}
    for logical, resource in template["Resources"].items():
        if resource["Type"] not in supported:
            skipped[logical] = (resource["Type"], probe(resource.get("Properties", {})), resource.get("Condition"))
    outputs = template.setdefault("Outputs", {})
    for key, node in probes.items():
        outputs[key] = {"Value": node}
    for logical, (_, _, condition) in skipped.items():
        if condition:
            outputs[f"Exists{logical}"] = {"Value": {"Fn::If": [condition, "yes", "no"]}}
    cfn.create_stack(StackName=stack_name, TemplateBody=json.dumps(template),
                     Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
                     Capabilities=["CAPABILITY_NAMED_IAM"])
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack["StackStatus"]
    values = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def resolve(node: Any) -> Any:
        if isinstance(node, dict) and "__probe__" in node:
            value = values[node["__probe__"]]
            return [v for v in value.split(LIST_SEPARATOR) if v] if node["list"] else value
        if isinstance(node, dict):
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
                for r in cfn.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]}
    deployed = Deployed(stack_name, {k: v for k, v in values.items() if not k.startswith(("Probe", "Exists"))},
                        physical)
    for logical, (kind, properties, condition) in skipped.items():
        if condition and values[f"Exists{logical}"] != "yes":
            continue
        deployed.skipped[logical] = (kind, resolve(properties))
    return deployed


# --- what each skipped type is, as API calls -----------------------------------------------------------

Client = Callable[[str], Any]


def _alarm(client: Client, p: dict[str, Any]) -> None:
    client("cloudwatch").put_metric_alarm(**p)


def _secret(client: Client, p: dict[str, Any]) -> None:
    sm = client("secretsmanager")
    generate = p.get("GenerateSecretString", {})
    secret = sm.get_random_password(**generate)["RandomPassword"]
    sm.create_secret(Name=p["Name"], Description=p.get("Description", ""), KmsKeyId=p["KmsKeyId"],
                     SecretString=secret)


def _bucket_policy(client: Client, p: dict[str, Any]) -> None:
    client("s3").put_bucket_policy(Bucket=p["Bucket"], Policy=json.dumps(p["PolicyDocument"]))


def _queue_policy(client: Client, p: dict[str, Any]) -> None:
    for url in p["Queues"]:
        client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(p["PolicyDocument"])})


def _bus_policy(client: Client, p: dict[str, Any]) -> None:
    statement = {"Sid": p["StatementId"], **p["Statement"]}
    client("events").put_permission(EventBusName=p["EventBusName"],
                                    Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))


def _stack_set(client: Client, p: dict[str, Any]) -> None:
    cfn = client("cloudformation")
    cfn.create_stack_set(StackSetName=p["StackSetName"], Description=p.get("Description", ""),
                         TemplateBody=p["TemplateBody"], Parameters=p["Parameters"],
                         PermissionModel=p["PermissionModel"], AutoDeployment=p["AutoDeployment"],
                         Capabilities=p["Capabilities"], ManagedExecution=p["ManagedExecution"], CallAs="SELF")
    for group in p["StackInstancesGroup"]:
        cfn.create_stack_instances(StackSetName=p["StackSetName"], DeploymentTargets=group["DeploymentTargets"],
                                   Regions=group["Regions"], OperationPreferences=p["OperationPreferences"],
                                   CallAs="SELF")


def _flag(value: Any) -> bool:
    """A boolean property, whether literal or resolved through an output (moto writes "True")."""
    return value is True or str(value).lower() == "true"


def _trail(client: Client, p: dict[str, Any]) -> None:
    trails = client("cloudtrail")
    trails.create_trail(Name=p["TrailName"], S3BucketName=p["S3BucketName"],
                        IsMultiRegionTrail=p["IsMultiRegionTrail"],
                        IncludeGlobalServiceEvents=_flag(p["IncludeGlobalServiceEvents"]),
                        EnableLogFileValidation=p["EnableLogFileValidation"],
                        CloudWatchLogsLogGroupArn=p["CloudWatchLogsLogGroupArn"],
                        CloudWatchLogsRoleArn=p["CloudWatchLogsRoleArn"])
    if p.get("IsLogging"):
        trails.start_logging(Name=p["TrailName"])


def _metric_filter(client: Client, p: dict[str, Any]) -> None:
    client("logs").put_metric_filter(logGroupName=p["LogGroupName"], filterName=p["FilterName"],
                                     filterPattern=p["FilterPattern"], metricTransformations=[
                                         {"metricNamespace": t["MetricNamespace"], "metricName": t["MetricName"],
                                          "metricValue": t["MetricValue"], "defaultValue": t["DefaultValue"]}
                                         for t in p["MetricTransformations"]])


APPLY: dict[str, Callable[[Client, dict[str, Any]], None]] = {
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::S3::BucketPolicy": _bucket_policy,
    "AWS::SQS::QueuePolicy": _queue_policy,
    "AWS::Events::EventBusPolicy": _bus_policy,
    "AWS::CloudFormation::StackSet": _stack_set,
    "AWS::CloudTrail::Trail": _trail,
    "AWS::Logs::MetricFilter": _metric_filter,
}


def apply_unsupported(client: Client, deployed: Deployed) -> None:
    """Create every resource moto skipped with its API call; a type without one fails the test."""
    for logical, (kind, properties) in deployed.skipped.items():
        if kind not in APPLY:
            raise AssertionError(f"{logical}: moto's CloudFormation skips {kind} and the test knows no API for it")
        APPLY[kind](client, properties)


@contextmanager
def requests_over_tls() -> Iterator[None]:
    """Bucket-policy statements with a `Bool` condition, read the way AWS reads them, over TLS.

    moto 5.2.5 knows only the StringEquals operator: a `Bool` condition counts as met whatever the
    request, and a statement whose condition fails counts as DENIED. So a TLS-only statement (Deny
    when aws:SecureTransport is false) refuses every request in moto. boto3 reaches moto through
    https endpoints as it reaches AWS: in this block a `Bool`-only statement is checked against
    `aws:SecureTransport: true` and, when its condition does not hold, ignored, as AWS does. So a
    bucket keeps its TLS-only policy in the tests as in production.
    """
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    original = IAMPolicyStatement.is_action_permitted

    def is_action_permitted(self: Any, action: str, resource: str = "*", principal: str | None = None,
                            incoming_condition_values: dict[str, str] | None = None) -> Any:
        condition = self._statement.get("Condition")
        if not condition or set(condition) != {"Bool"}:
            return original(self, action, resource, principal, incoming_condition_values)
        context = {"aws:SecureTransport": "true", **(incoming_condition_values or {})}
        if not all(str(context.get(key, "")).lower() == str(value).lower() for key, value in condition["Bool"].items()):
            return PermissionResult.NEUTRAL
        unconditional = IAMPolicyStatement({k: v for k, v in self._statement.items() if k != "Condition"})
        return original(unconditional, action, resource, principal, incoming_condition_values)

    IAMPolicyStatement.is_action_permitted = is_action_permitted  # type: ignore[method-assign]
    try:
        yield
    finally:
        IAMPolicyStatement.is_action_permitted = original  # type: ignore[method-assign]
