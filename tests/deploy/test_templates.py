"""The generated templates: cfn-lint, what each must contain, determinism, and the IAM policy check."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint

from irflow.deploy import iam, templates
from irflow.deploy.templates import DeployError, Sources

from .helpers import ISOLATE_MEMBER_ACTIONS, playbook, spec

CENTRAL = "111111111111"
MEMBER = "222222222222"
REGION = "eu-west-1"


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def concrete(node: Any, values: dict[str, str]) -> Any:
    """Fn::Sub strings with their variables replaced (only what policies in these templates use)."""
    if isinstance(node, dict) and set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
        return re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)], node["Fn::Sub"])
    if isinstance(node, dict):
        return {k: concrete(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [concrete(v, values) for v in node]
    return node


# --- cfn-lint ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["central.template.json", "member.template.json", "org-trail.template.json"])
@pytest.mark.parametrize("which", ["real", "small"])
def test_cfn_lint_passes(name: str, which: str, sources: Sources, small: Sources) -> None:
    template = templates.templates(sources if which == "real" else small)[name]
    matches = lint(templates.render(template), config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    assert [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})" for m in matches] == []


def test_every_waived_rule_gives_its_reason(sources: Sources) -> None:
    """A resource that silences a cfn-lint rule says why, under Metadata.irflow-waivers."""
    for template in templates.templates(sources).values():
        for logical, resource in template["Resources"].items():
            metadata = resource.get("Metadata", {})
            waived = metadata.get("cfn-lint", {}).get("config", {}).get("ignore_checks", [])
            reasons = metadata.get("irflow-waivers", {})
            assert sorted(waived) == sorted(reasons), f"{logical}: waived {waived}, reasons for {sorted(reasons)}"
            assert all(len(str(r)) > 20 for r in reasons.values()), logical


def test_rendering_is_deterministic(small: Sources) -> None:
    first = {name: templates.render(t) for name, t in templates.templates(small).items()}
    again = {name: templates.render(t) for name, t in templates.templates(Sources(small.tasks, small.playbooks)).items()}
    assert first == again
    assert templates.render(templates.central_template(Sources.load())) == \
        templates.render(templates.central_template(Sources.load()))


# --- what the central template contains -----------------------------------------------------------------

@pytest.mark.parametrize("which", ["real", "small"])
def test_every_registered_task_has_a_function_and_its_own_role(which: str, sources: Sources, small: Sources) -> None:
    chosen = sources if which == "real" else small
    central = templates.central_template(chosen)
    functions = {f["Properties"]["FunctionName"]: f["Properties"]
                 for f in resources_of(central, "AWS::Lambda::Function").values()}
    roles = {k: r["Properties"]["RoleName"] for k, r in resources_of(central, "AWS::IAM::Role").items()}
    assert chosen.tasks
    for task in chosen.tasks:
        function = functions[f"irflow-{task.name}"]
        assert function["Handler"] == task.handler
        assert function["Runtime"] == "python3.11"
        assert function["Layers"] == [{"Ref": "PowertoolsLayerArn"}]
        assert function["Timeout"] == task.timeout_seconds
        assert roles[function["Role"]["Fn::GetAtt"][0]] == f"irflow-task-{task.name}"
        assert set(function["Environment"]["Variables"]) >= {
            "IRFLOW_EVIDENCE_BUCKET", "IRFLOW_INCIDENTS_TABLE", "IRFLOW_TOPIC_ARN", "IRFLOW_MEMBER_ROLE_NAME",
            "IRFLOW_EXTERNAL_ID"}
    approval = functions["irflow-approval-api"]
    assert approval["Handler"] == "tasks.approval_api.handler"
    assert len(functions) == len(chosen.tasks) + 1


@pytest.mark.parametrize("which", ["real", "small"])
def test_every_placeholder_resolves_to_a_resource_of_the_template(which: str, sources: Sources,
                                                                   small: Sources) -> None:
    chosen = sources if which == "real" else small
    central = templates.central_template(chosen)
    for book in chosen.playbooks:
        machine = central["Resources"][f"{templates.pascal(book.name)}StateMachine"]["Properties"]
        text, variables = machine["DefinitionString"]["Fn::Sub"]
        assert json.loads(text) == json.loads(book.definition)
        used = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", book.definition))
        assert used == set(variables), book.name
        policy = book.policy_values()
        for name, value in variables.items():
            if isinstance(value, str):
                assert name in policy and json.loads(f'"{value}"') == policy[name]
            else:
                target = value["Fn::GetAtt"][0] if "Fn::GetAtt" in value else value["Ref"]
                assert target in central["Resources"], (book.name, name, target)


def test_the_central_placeholders_are_the_ones_playbook_authors_are_told_about() -> None:
    from irflow.authoring.catalog import CENTRAL_PLACEHOLDERS

    assert set(templates.RESOURCE_PLACEHOLDERS) == CENTRAL_PLACEHOLDERS


def test_policy_values_are_escaped_into_the_definition(small: Sources) -> None:
    central = templates.central_template(small)
    text, variables = central["Resources"]["Ec2CompromiseStateMachine"]["Properties"]["DefinitionString"]["Fn::Sub"]
    filled = text.replace("${ApprovalNote}", variables["ApprovalNote"])
    assert json.loads(filled)["States"]["Approve"]["Parameters"]["Payload"]["note"] == 'say "why"'


@pytest.mark.parametrize("which", ["real", "small"])
def test_every_trigger_becomes_a_rule_that_starts_its_playbook(which: str, sources: Sources, small: Sources) -> None:
    chosen = sources if which == "real" else small
    central = templates.central_template(chosen)
    rules = resources_of(central, "AWS::Events::Rule")
    assert len(rules) == sum(len(b.triggers) for b in chosen.playbooks)
    for book in chosen.playbooks:
        machine = f"{templates.pascal(book.name)}StateMachine"
        for trigger in book.triggers:
            matching = [r["Properties"] for r in rules.values() if r["Properties"]["EventPattern"] == trigger]
            assert len(matching) == 1, (book.name, trigger)
            rule = matching[0]
            assert rule["EventBusName"] == {"Fn::GetAtt": ["EventBus", "Name"]}
            (target,) = rule["Targets"]
            assert target["Arn"] == {"Ref": machine}
            assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}
            assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
            role = central["Resources"][target["RoleArn"]["Fn::GetAtt"][0]]["Properties"]
            (statement,) = role["Policies"][0]["PolicyDocument"]["Statement"]
            assert statement["Action"] == "states:StartExecution" and statement["Resource"] == {"Ref": machine}
            invoke_roles = [r["Properties"]["Targets"][0]["RoleArn"] for r in rules.values()]
            assert invoke_roles.count(target["RoleArn"]) == 1  # each rule its own role


def test_execution_role_invokes_exactly_the_called_functions(small: Sources) -> None:
    central = templates.central_template(small)
    role = central["Resources"]["Ec2CompromiseExecutionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    by_sid = {s["Sid"]: s for s in role["Statement"]}
    invoked = {r["Fn::GetAtt"][0] for r in by_sid["InvokeTasks"]["Resource"] if "Fn::GetAtt" in r}
    assert invoked == {"ParseFindingFunction", "RequestApprovalFunction", "IsolateInstanceFunction"}
    assert by_sid["SnsActions"]["Action"] == "sns:Publish"
    assert by_sid["SnsActions"]["Resource"] == [{"Ref": "NotificationTopic"}]
    key_use = {s["Action"] for s in role["Statement"] if s["Resource"] == [{"Fn::GetAtt": ["IrflowKey", "Arn"]}]}
    assert key_use == {"kms:Decrypt", "kms:GenerateDataKey"}  # the topic is encrypted with the irflow key


def test_central_resources_are_protected_as_the_issue_asks(sources: Sources) -> None:
    """What moto's CloudFormation stores without acting on, checked in the template itself."""
    central = templates.central_template(sources)
    bucket = central["Resources"]["EvidenceBucket"]
    assert bucket["DeletionPolicy"] == "Retain"
    props = bucket["Properties"]
    assert props["ObjectLockEnabled"] is True
    assert props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert rule["SSEAlgorithm"] == "aws:kms"
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    policy = central["Resources"]["EvidenceBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    tls = next(s for s in policy if s["Sid"] == "TlsOnly")
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    no_delete = next(s for s in policy if s["Sid"] == "IrflowNeverDeletesEvidence")
    assert no_delete["Effect"] == "Deny" and {"s3:DeleteObject", "s3:DeleteObjectVersion"} <= set(no_delete["Action"])
    table = central["Resources"]["IncidentsTable"]["Properties"]
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    for function in resources_of(central, "AWS::Lambda::Function").values():
        assert function["Properties"]["TracingConfig"] == {"Mode": "Active"}
    for machine in resources_of(central, "AWS::StepFunctions::StateMachine").values():
        assert machine["Properties"]["LoggingConfiguration"]["Level"] == "ALL"
    alarms = resources_of(central, "AWS::CloudWatch::Alarm")
    assert "DeadLetterAlarm" in alarms
    assert {f"{templates.pascal(b.name)}FailedAlarm" for b in sources.playbooks} <= set(alarms)


def test_stack_sets_are_service_managed_with_automatic_deployment(small: Sources) -> None:
    central = templates.central_template(small)
    for logical, body in (("MemberStackSet", templates.member_template(small)),
                          ("TrailStackSet", templates.trail_template())):
        props = central["Resources"][logical]["Properties"]
        assert props["PermissionModel"] == "SERVICE_MANAGED"
        assert props["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
        assert json.loads(props["TemplateBody"]) == body
        assert len(props["TemplateBody"]) < 51_200  # CloudFormation's limit for an inline StackSet template


# --- generator refusals ------------------------------------------------------------------------------

def test_unknown_placeholder_is_refused(small: Sources) -> None:
    book = playbook("broken", {"A": {"Type": "Pass", "Result": "${NoSuchThing}", "End": True}}, [])
    with pytest.raises(DeployError, match="NoSuchThing"):
        templates.central_template(Sources(small.tasks, (book,)))


def test_task_call_to_an_unregistered_function_is_refused(small: Sources) -> None:
    book = playbook("broken", {"A": {"Type": "Task", "Resource": "${GhostFunctionArn}", "End": True}}, [])
    with pytest.raises(DeployError, match="GhostFunctionArn"):
        templates.central_template(Sources(small.tasks, (book,)))


@pytest.mark.parametrize(("action", "message"), [
    ("s3:DeleteObject", "never deletes"),
    ("s3:PutBucketPolicy", "never deletes"),
    ("sts:GetFederationToken", "member_permissions"),
    ("ssm:SendCommand", "member_permissions"),
])
def test_central_actions_without_a_central_resource_are_refused(action: str, message: str) -> None:
    with pytest.raises(DeployError, match=message):
        templates.central_template(Sources((spec("bad", central=(action,)),), ()))


# --- IAM ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["real", "small"])
def test_generated_policies_pass_the_iam_check(which: str, sources: Sources, small: Sources) -> None:
    chosen = sources if which == "real" else small
    for template in templates.templates(chosen).values():
        assert iam.policy_problems(template) == []


@pytest.mark.parametrize(("statement", "problem"), [
    ({"Action": "*", "Resource": "*"}, "wildcard action *"),
    ({"Action": "ec2:*", "Resource": "*"}, "wildcard action ec2:*"),
    ({"Action": "s3:Put*", "Resource": "arn:aws:s3:::b/*"}, "wildcard action s3:Put*"),
    ({"Action": "ec2:TerminateInstances", "Resource": "*"}, "can be limited to instance"),
    ({"Action": "dynamodb:PutItem", "Resource": "*"}, "can be limited to table"),
])
def test_the_iam_check_catches_broad_grants(statement: dict[str, Any], problem: str) -> None:
    template = {"Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [
        {"PolicyName": "p", "PolicyDocument": {"Statement": [{"Sid": "S", "Effect": "Allow", **statement}]}}]}}}}
    problems = iam.policy_problems(template)
    assert len(problems) == 1 and problem in problems[0]


def test_the_iam_check_accepts_reads_that_aws_cannot_limit() -> None:
    template = {"Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [
        {"PolicyName": "p", "PolicyDocument": {"Statement": [
            {"Effect": "Allow", "Action": ["ec2:DescribeInstances", "ec2:Describe*"], "Resource": "*"}]}}]}}}}
    assert iam.policy_problems(template) == []


def test_task_roles_get_only_their_declared_actions_on_central_resources(small: Sources) -> None:
    central = templates.central_template(small)
    policy = central["Resources"]["IsolateInstanceRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    granted = {a for s in policy["Statement"] for a in iam._as_list(s["Action"])}
    assert granted == {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTelemetryRecords",
                       "xray:PutTraceSegments", "dynamodb:PutItem", "s3:PutObject", "sns:Publish",
                       "kms:GenerateDataKey", "kms:Decrypt", "sts:AssumeRole"}
    assume = next(s for s in policy["Statement"] if s["Action"] == ["sts:AssumeRole"])
    assert assume["Condition"] == {"StringEquals": {"aws:ResourceOrgID": {"Ref": "OrganizationId"}}}
    parse = central["Resources"]["ParseFindingRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    assert {a for s in parse["Statement"] for a in iam._as_list(s["Action"])} == {
        "logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTelemetryRecords", "xray:PutTraceSegments"}


def _member_role(sources: Sources) -> dict[str, Any]:
    return templates.member_template(sources)["Resources"]["IrflowMemberRole"]["Properties"]


def test_member_role_trusts_only_central_task_roles_with_external_id_in_the_organisation(small: Sources) -> None:
    (statement,) = _member_role(small)["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Condition"]["StringEquals"] == {"sts:ExternalId": {"Ref": "ExternalId"},
                                                      "aws:PrincipalOrgID": {"Ref": "OrganizationId"}}
    trusted = concrete(statement["Condition"]["ArnEquals"]["aws:PrincipalArn"],
                       {"AWS::Partition": "aws", "CentralAccountId": CENTRAL})
    assert trusted == [f"arn:aws:iam::{CENTRAL}:role/irflow-task-isolate-instance"]  # the only one acting there


def test_member_role_permissions_are_the_union_of_declared_member_actions(small: Sources) -> None:
    statements = _member_role(small)["Policies"][0]["PolicyDocument"]["Statement"]
    allowed = {a for s in statements if s["Effect"] == "Allow" for a in s["Action"]}
    assert allowed == set(templates.member_actions(small)) == set(ISOLATE_MEMBER_ACTIONS)


def _member_statements(sources: Sources) -> list[dict[str, Any]]:
    document = _member_role(sources)["Policies"][0]["PolicyDocument"]
    values = {"AWS::Partition": "aws", "AWS::AccountId": MEMBER, "CentralAccountId": CENTRAL}
    statements: list[dict[str, Any]] = concrete(document["Statement"], values)
    return statements


@pytest.mark.parametrize("which", ["real", "small", "greedy"])
def test_member_role_cannot_touch_the_evidence_bucket_or_itself(which: str, sources: Sources, small: Sources) -> None:
    """Even a registry that asked for s3 and IAM writes everywhere gets no way to either."""
    greedy = Sources((spec("greedy", ("s3:PutObject", "s3:DeleteObject", "s3:PutBucketPolicy", "s3:GetObject",
                                      *[a for a in iam.service_actions("iam") if "role" in a])),), ())
    statements = _member_statements({"real": sources, "small": small, "greedy": greedy}[which])
    bucket = f"irflow-evidence-{CENTRAL}-{REGION}"
    for action in iam.service_actions("s3"):
        for resource in (f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/incidents/i-1/report.md"):
            assert not iam.allows(statements, action, resource), (action, resource)
    own = f"arn:aws:iam::{MEMBER}:role/IrflowMemberRole"
    for action in iam.service_actions("iam"):
        if "role" in action and not action.startswith(("iam:get", "iam:list")):  # anything that changes it
            assert not iam.allows(statements, action, own), action
    if which == "greedy":  # the check is not vacuous: the same grants do reach other resources
        assert iam.allows(statements, "s3:PutObject", "arn:aws:s3:::workload-bucket/key")
        assert iam.allows(statements, "iam:PutRolePolicy", f"arn:aws:iam::{MEMBER}:role/web-server")


def test_member_actions_are_limited_to_their_resource_types(small: Sources) -> None:
    statements = _member_statements(small)
    instance = f"arn:aws:ec2:us-east-1:{MEMBER}:instance/i-0abc"
    assert iam.allows(statements, "ec2:ModifyInstanceAttribute", instance)
    assert not iam.allows(statements, "ec2:ModifyInstanceAttribute", f"arn:aws:ec2:us-east-1:{CENTRAL}:instance/i-0")
    assert iam.allows(statements, "ssm:SendCommand", "arn:aws:ssm:us-east-1::document/AWS-RunShellScript")
    assert iam.allows(statements, "ec2:CreateSnapshot", "arn:aws:ec2:us-east-1::snapshot/snap-1")
    assert iam.allows(statements, "ec2:DescribeInstances", "*")
    assert not iam.allows(statements, "ec2:TerminateInstances", instance)


def test_member_role_may_attach_only_aws_deny_all(sources: Sources) -> None:
    """Containment attaches AWSDenyAll; the member role can never attach a managed policy that grants."""
    (guard,) = [s for s in _member_statements(sources) if s.get("Sid") == "AttachOnlyDenyAll"]
    assert guard["Effect"] == "Deny" and guard["Resource"] == "*"
    assert set(guard["Action"]) == {"iam:AttachUserPolicy", "iam:AttachRolePolicy", "iam:AttachGroupPolicy"}
    assert guard["Condition"] == {"ArnNotEquals": {"iam:PolicyARN": "arn:aws:iam::aws:policy/AWSDenyAll"}}
