"""The templates deployed into moto's CloudFormation, next to the local runtime's embedded AWS.

One moto holds both: the local runtime's `World` (central account 111111111111, as `irflow
simulate` provisions it) and, in another account, the central stack as `irflow deploy` would
create it, inside an AWS Organization whose OU gets the member and CloudTrail StackSets. The
resources moto's CloudFormation skips are created with their API calls from their resolved
properties (`cfn_moto.apply_unsupported`), then everything is read back from moto.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from irflow.deploy import package, templates
from irflow.deploy.templates import Sources
from irflow.engine.engine import Engine
from irflow.local.world import World

from . import cfn_moto

CENTRAL = "210987654321"
REGION = "us-east-1"
SECOND_REGION = "eu-west-1"
EXTERNAL_ID = "0123456789abcdef0123"
# What moto 5.2.5's CloudFormation does not create; each is created through its API instead.
SKIPPED_BY_MOTO = {"AWS::CloudWatch::Alarm", "AWS::SecretsManager::Secret", "AWS::S3::BucketPolicy",
                   "AWS::SQS::QueuePolicy", "AWS::Events::EventBusPolicy", "AWS::CloudFormation::StackSet"}


def role_policy(iam: Any, role: str, name: str) -> dict[str, Any]:
    """An inline role policy as a dict.

    moto's CloudFormation stores a policy given as a template object as its Python repr (a
    distortion: AWS stores the JSON), which botocore then hands back as a string.
    """
    document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    if isinstance(document, str):
        return dict(ast.literal_eval(document)) if document.startswith("{'") else dict(json.loads(document))
    return dict(document)


@dataclass
class Deployment:
    world: World
    sources: Sources
    template: dict[str, Any]
    deployed: cfn_moto.Deployed
    organization: str
    members: list[str]

    def client(self, service: str, account: str = CENTRAL, region: str = REGION) -> Any:
        return self.world.client(service, account, region)


@pytest.fixture(scope="module", params=["real", "small"])
def deployment(request: pytest.FixtureRequest, sources: Sources, small: Sources) -> Iterator[Deployment]:
    """The real registry and playbooks, and the small made-up set (which has a playbook for sure)."""
    sources = sources if request.param == "real" else small
    with World(member_actions=templates.member_actions(sources)) as world:
        def client(service: str, account: str = CENTRAL) -> Any:
            return world.client(service, account)

        organizations = client("organizations")
        organization = organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"]
        root = organizations.list_roots()["Roots"][0]["Id"]
        ou = organizations.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
        members = []
        for n in (1, 2):
            account = organizations.create_account(Email=f"m{n}@example.com", AccountName=f"m{n}")
            members.append(account["CreateAccountStatus"]["AccountId"])
            organizations.move_account(AccountId=members[-1], SourceParentId=root, DestinationParentId=ou)

        built = package.build(templates.REPO)
        client("s3").create_bucket(Bucket="irflow-artifacts")
        client("s3").put_object(Bucket="irflow-artifacts", Key=f"code/{built.sha256}.zip", Body=built.data)
        template = templates.central_template(sources)
        deployed = cfn_moto.deploy(client("cloudformation"), "irflow", template, {
            "ArtifactBucket": "irflow-artifacts", "CodeKey": f"code/{built.sha256}.zip",
            "PowertoolsLayerArn": f"arn:aws:lambda:{REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python311-x86_64:27",
            "OrganizationId": organization, "ExternalId": EXTERNAL_ID, "OrganizationalUnitIds": ou,
            "MemberRegions": f"{REGION},{SECOND_REGION}", "TrailRegions": REGION, "StackSetCallAs": "SELF",
        })
        cfn_moto.apply_unsupported(client, deployed)
        yield Deployment(world, sources, template, deployed, organization, members)


def test_moto_skips_only_the_types_the_test_creates_another_way(deployment: Deployment) -> None:
    assert {kind for kind, _ in deployment.deployed.skipped.values()} == SKIPPED_BY_MOTO


def test_every_task_is_a_function_with_its_role_and_environment(deployment: Deployment) -> None:
    lam, iam = deployment.client("lambda"), deployment.client("iam")
    for task in deployment.sources.functions():
        config = lam.get_function(FunctionName=f"irflow-{task.name}")["Configuration"]
        assert config["Handler"] == task.handler and config["Runtime"] == "python3.11"
        role = iam.get_role(RoleName=f"irflow-task-{task.name}")["Role"]
        assert config["Role"] == role["Arn"]
        env = config["Environment"]["Variables"]
        assert env["IRFLOW_EVIDENCE_BUCKET"] == f"irflow-evidence-{CENTRAL}-{REGION}"
        assert env["IRFLOW_INCIDENTS_TABLE"] == "irflow-incidents"
        assert env["IRFLOW_TOPIC_ARN"] == f"arn:aws:sns:{REGION}:{CENTRAL}:irflow-notifications"
        assert env["IRFLOW_MEMBER_ROLE_NAME"] == "IrflowMemberRole"
        assert env["IRFLOW_EXTERNAL_ID"] == EXTERNAL_ID
        text = json.dumps(role_policy(iam, role["RoleName"], "task"))
        assert "${" not in text and "Fn::" not in text


def test_task_roles_name_the_deployed_resources(deployment: Deployment) -> None:
    iam = deployment.client("iam")
    table = deployment.client("dynamodb").describe_table(TableName="irflow-incidents")["Table"]["TableArn"]
    for task in deployment.sources.functions():
        if not any(a.startswith("dynamodb:") for a in task.central_permissions):
            continue
        document = role_policy(iam, f"irflow-task-{task.name}", "task")
        dynamo = next(s for s in document["Statement"] if any(a.startswith("dynamodb:") for a in s["Action"]))
        assert table in dynamo["Resource"], task.name


def test_state_machines_are_valid_and_call_deployed_functions(deployment: Deployment) -> None:
    sfn, lam = deployment.client("stepfunctions"), deployment.client("lambda")
    functions = {f["FunctionArn"] for f in lam.list_functions()["Functions"]}
    engine = Engine(account_id=CENTRAL, region=REGION)
    for book in deployment.sources.playbooks:
        arn = f"arn:aws:states:{REGION}:{CENTRAL}:stateMachine:irflow-{book.name}"
        machine = sfn.describe_state_machine(stateMachineArn=arn)
        definition = machine["definition"]
        assert "${" not in definition
        assert engine.validate_state_machine_definition(definition=definition)["result"] == "OK"
        called = set(re.findall(r"arn:aws:lambda:[^\"]+", definition))
        assert called and called <= functions, called - functions
        assert machine["roleArn"].endswith(f":role/irflow-{book.name}-execution")


def test_every_trigger_is_a_rule_on_the_central_bus_with_retry_and_dead_letters(deployment: Deployment) -> None:
    events, sqs = deployment.client("events"), deployment.client("sqs")
    dlq = sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName="irflow-dead-letters")["QueueUrl"],
                                   AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rules = {r["Name"]: r for r in events.list_rules(EventBusName="irflow-events")["Rules"]}
    for book in deployment.sources.playbooks:
        for index, trigger in enumerate(book.triggers, start=1):
            rule = rules[f"irflow-{book.name}-{index}"]
            assert json.loads(rule["EventPattern"]) == trigger
            (target,) = events.list_targets_by_rule(Rule=rule["Name"], EventBusName="irflow-events")["Targets"]
            assert target["Arn"] == f"arn:aws:states:{REGION}:{CENTRAL}:stateMachine:irflow-{book.name}"
            assert target["DeadLetterConfig"]["Arn"] == dlq
            assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
            role = target["RoleArn"].rsplit("/", 1)[1]
            document = role_policy(deployment.client("iam"), role, "start-playbook")
            assert document["Statement"][0]["Resource"] == target["Arn"]


def test_alarms_watch_deployed_resources_and_notify_the_topic(deployment: Deployment) -> None:
    alarms = {a["AlarmName"]: a for a in deployment.client("cloudwatch").describe_alarms()["MetricAlarms"]}
    topic = f"arn:aws:sns:{REGION}:{CENTRAL}:irflow-notifications"
    dead = alarms["irflow-dead-lettered-events"]
    assert dead["AlarmActions"] == [topic]
    assert dead["Dimensions"] == [{"Name": "QueueName", "Value": "irflow-dead-letters"}]
    for book in deployment.sources.playbooks:
        alarm = alarms[f"irflow-{book.name}-failed-executions"]
        assert alarm["AlarmActions"] == [topic]
        dimensions = [d for m in alarm["Metrics"] if "MetricStat" in m
                      for d in m["MetricStat"]["Metric"]["Dimensions"]]
        assert {d["Value"] for d in dimensions} == {f"arn:aws:states:{REGION}:{CENTRAL}:stateMachine:irflow-{book.name}"}


def test_resource_policies_land_on_their_resources(deployment: Deployment) -> None:
    bucket = f"irflow-evidence-{CENTRAL}-{REGION}"
    policy = json.loads(deployment.client("s3").get_bucket_policy(Bucket=bucket)["Policy"])
    assert {s["Sid"] for s in policy["Statement"]} == {"TlsOnly", "IrflowNeverDeletesEvidence",
                                                       "OrganizationWritesCommandOutput"}
    bus = json.loads(deployment.client("events").describe_event_bus(Name="irflow-events")["Policy"])
    assert bus["Statement"][0]["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": deployment.organization}}
    sqs = deployment.client("sqs")
    queue = json.loads(sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName="irflow-dead-letters")["QueueUrl"],
                                                AttributeNames=["Policy"])["Attributes"]["Policy"])
    assert queue["Statement"][0]["Principal"] == {"Service": "events.amazonaws.com"}
    secret = deployment.client("secretsmanager").describe_secret(SecretId="irflow/approval-signing-key")
    assert secret["KmsKeyId"]
    approvers = deployment.client("ssm").get_parameter(Name="/irflow/approvers")["Parameter"]
    assert json.loads(approvers["Value"]) == {}


def test_approval_api_reaches_the_approval_function(deployment: Deployment) -> None:
    api = deployment.client("apigateway")
    (rest,) = [a for a in api.get_rest_apis()["items"] if a["name"] == "irflow-approvals"]
    paths = {r["path"]: r for r in api.get_resources(restApiId=rest["id"])["items"]}
    resource = paths["/approvals/{approvalId}"]
    assert set(resource["resourceMethods"]) == {"GET", "POST"}
    function = deployment.client("lambda").get_function(FunctionName="irflow-approval-api")["Configuration"]
    for method in ("GET", "POST"):
        integration = api.get_integration(restApiId=rest["id"], resourceId=resource["id"], httpMethod=method)
        assert integration["type"] == "AWS_PROXY" and function["FunctionArn"] in integration["uri"]
    assert deployment.deployed.outputs["ApprovalApiUrl"].startswith(f"https://{rest['id']}.execute-api.{REGION}.")


def test_member_stack_set_puts_the_role_and_forwarder_in_every_member_account(deployment: Deployment) -> None:
    instances = deployment.client("cloudformation").list_stack_instances(
        StackSetName="irflow-member", CallAs="SELF")["Summaries"]
    assert {(i["Account"], i["Region"]) for i in instances} == {
        (m, r) for m in deployment.members for r in (REGION, SECOND_REGION)}
    actors = sorted(t.name for t in deployment.sources.tasks if t.member_permissions)
    for member in deployment.members:
        role = deployment.client("iam", member).get_role(RoleName="IrflowMemberRole")["Role"]
        (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"AWS": f"arn:aws:iam::{CENTRAL}:root"}
        assert trust["Condition"]["StringEquals"] == {"sts:ExternalId": EXTERNAL_ID,
                                                      "aws:PrincipalOrgID": deployment.organization}
        assert sorted(trust["Condition"]["ArnEquals"]["aws:PrincipalArn"]) == [
            f"arn:aws:iam::{CENTRAL}:role/irflow-task-{name}" for name in actors]
        for region in (REGION, SECOND_REGION):
            events = deployment.client("events", member, region)
            (target,) = events.list_targets_by_rule(Rule="irflow-forward-findings")["Targets"]
            assert target["Arn"] == f"arn:aws:events:{REGION}:{CENTRAL}:event-bus/irflow-events"
            assert target["RoleArn"] == f"arn:aws:iam::{member}:role/irflow-forwarder-{region}"
    # IAM is global: the role exists once per account, from the central region's instance only.
    assert len([r for r in deployment.client("iam", deployment.members[0]).list_roles()["Roles"]
                if r["RoleName"] == "IrflowMemberRole"]) == 1


def test_trail_stack_set_reaches_the_trail_regions(deployment: Deployment) -> None:
    instances = deployment.client("cloudformation").list_stack_instances(
        StackSetName="irflow-trail", CallAs="SELF")["Summaries"]
    assert {(i["Account"], i["Region"]) for i in instances} == {(m, REGION) for m in deployment.members}
    for member in deployment.members:
        groups = deployment.client("logs", member).describe_log_groups(logGroupNamePrefix="/irflow/cloudtrail")
        assert [g["logGroupName"] for g in groups["logGroups"]] == ["/irflow/cloudtrail"]


def test_trail_template_in_a_member_account(deployment: Deployment) -> None:
    """What the trail StackSet's instances hold, with the types moto skips created through their APIs."""
    account = "333344445555"

    def client(service: str, _account: str = account) -> Any:
        return deployment.client(service, account)

    deployed = cfn_moto.deploy(client("cloudformation"), "irflow-trail", templates.trail_template(),
                               {"CentralRegion": REGION})
    assert {kind for kind, _ in deployed.skipped.values()} == {
        "AWS::S3::BucketPolicy", "AWS::CloudTrail::Trail", "AWS::Logs::MetricFilter", "AWS::CloudWatch::Alarm"}
    cfn_moto.apply_unsupported(client, deployed)
    (trail,) = client("cloudtrail").describe_trails()["trailList"]
    assert trail["Name"] == "irflow" and trail["IncludeGlobalServiceEvents"] is True
    assert trail["S3BucketName"] == f"irflow-trail-{account}-{REGION}"
    assert trail["CloudWatchLogsLogGroupArn"].startswith(f"arn:aws:logs:{REGION}:{account}:log-group:/irflow/cloudtrail")
    assert client("cloudtrail").get_trail_status(Name="irflow")["IsLogging"] is True
    filters = client("logs").describe_metric_filters(logGroupName="/irflow/cloudtrail")["metricFilters"]
    metrics = {f["metricTransformations"][0]["metricName"] for f in filters}
    alarms = client("cloudwatch").describe_alarms(AlarmNamePrefix="irflow-detect-")["MetricAlarms"]
    assert metrics == {a["MetricName"] for a in alarms} and len(metrics) == 4


# --- one source of truth ----------------------------------------------------------------------------------

def test_deployed_resources_are_what_the_local_runtime_provisions(deployment: Deployment) -> None:
    """Names, keys and settings agree between the stack and `World` (irflow simulate's embedded AWS).

    The local runtime has no single description of what it provisions (World._provision_central
    makes the calls), so this compares what both leave in moto. Where moto's CloudFormation drops a
    property (S3 versioning, Object Lock and public-access block), the template's value stands in.
    """
    world, local = deployment.world, deployment.world.central
    assert local is not None
    ddb_local = world.client("dynamodb").describe_table(TableName=local.incidents_table)["Table"]
    ddb_deployed = deployment.client("dynamodb").describe_table(TableName="irflow-incidents")["Table"]
    for key in ("TableName", "KeySchema", "AttributeDefinitions"):
        assert ddb_local[key] == ddb_deployed[key], key
    assert ddb_local["BillingModeSummary"]["BillingMode"] == ddb_deployed["BillingModeSummary"]["BillingMode"]

    assert local.evidence_bucket == f"irflow-evidence-{world.security_account}-{world.region}"
    assert deployment.deployed.outputs["EvidenceBucketName"] == f"irflow-evidence-{CENTRAL}-{REGION}"
    s3 = world.client("s3")
    bucket = deployment.template["Resources"]["EvidenceBucket"]["Properties"]
    assert s3.get_bucket_versioning(Bucket=local.evidence_bucket)["Status"] == bucket["VersioningConfiguration"]["Status"]
    lock = s3.get_object_lock_configuration(Bucket=local.evidence_bucket)["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == bucket["ObjectLockConfiguration"]["ObjectLockEnabled"]
    retention = deployment.template["Parameters"]["EvidenceRetentionDays"]["Default"]
    assert lock["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"
    assert lock["Rule"]["DefaultRetention"]["Days"] == retention
    block = s3.get_public_access_block(Bucket=local.evidence_bucket)["PublicAccessBlockConfiguration"]
    assert block == bucket["PublicAccessBlockConfiguration"]

    assert local.topic_arn.rsplit(":", 1)[1] == deployment.deployed.outputs["NotificationTopicArn"].rsplit(":", 1)[1]
    assert local.member_role_name == templates.MEMBER_ROLE_NAME

    env = deployment.client("lambda").get_function(FunctionName="irflow-parse-finding")["Configuration"][
        "Environment"]["Variables"]
    local_env = {"IRFLOW_EVIDENCE_BUCKET": local.evidence_bucket, "IRFLOW_INCIDENTS_TABLE": local.incidents_table,
                 "IRFLOW_TOPIC_ARN": local.topic_arn, "IRFLOW_MEMBER_ROLE_NAME": local.member_role_name}
    for name, value in local_env.items():
        assert env[name] == value.replace(world.security_account, CENTRAL), name

    member = deployment.members[0]
    world.add_member("222222222222")
    local_role = world.client("iam", "222222222222").get_role(RoleName=local.member_role_name)["Role"]
    local_actions = role_policy(world.client("iam", "222222222222"), local.member_role_name,
                                "irflow-response")["Statement"][0]["Action"]
    deployed_policy = role_policy(deployment.client("iam", member), "IrflowMemberRole", "irflow-response")["Statement"]
    deployed_actions = {a for s in deployed_policy if s["Effect"] == "Allow" for a in s["Action"]}
    assert set(local_actions) == deployed_actions
    (local_trust,) = local_role["AssumeRolePolicyDocument"]["Statement"]
    assert "sts:ExternalId" in local_trust["Condition"]["StringEquals"]


def test_evidence_encryption_agrees(deployment: Deployment) -> None:
    local = deployment.world.central
    assert local is not None
    rules = deployment.world.client("s3").get_bucket_encryption(Bucket=local.evidence_bucket)[
        "ServerSideEncryptionConfiguration"]["Rules"]
    deployed = deployment.template["Resources"]["EvidenceBucket"]["Properties"]["BucketEncryption"][
        "ServerSideEncryptionConfiguration"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == \
        deployed[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
