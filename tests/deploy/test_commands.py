"""`irflow package`, `irflow deploy` and `irflow destroy` against moto, with the real boto3 calls.

moto runs change sets (create, describe, execute, delete, and FAILED "didn't contain changes"
when nothing changed) and stack deletion with DeletionPolicy, so the whole flow runs here. What it
does not model: a failing resource raises out of moto instead of leaving CREATE_FAILED events, so
the message built from AWS's events is tested on events shaped as AWS returns them.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from irflow.deploy import commands, package, stack, templates
from irflow.deploy.commands import CommandError, DeployOptions

from . import cfn_moto

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
NOW = stack.Waiting(interval=0)


@pytest.fixture
def session() -> Iterator[Any]:
    with mock_aws(), cfn_moto.requests_over_tls():
        yield boto3.Session(region_name=REGION, aws_access_key_id="k", aws_secret_access_key="s")


@pytest.fixture
def organisation(session: Any) -> str:
    return str(session.client("organizations").create_organization(FeatureSet="ALL")["Organization"]["Id"])


@pytest.fixture
def layer(session: Any) -> str:
    """A Powertools layer in moto's account (AWS's public one is not in moto)."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("python/aws_lambda_powertools/__init__.py", "")
    published = session.client("lambda").publish_layer_version(
        LayerName="AWSLambdaPowertoolsPythonV3-python311-x86_64", Content={"ZipFile": archive.getvalue()},
        CompatibleRuntimes=["python3.11"])
    return str(published["LayerVersionArn"])


def deploy(session: Any, **options: Any) -> tuple[stack.Outcome, str]:
    out = io.StringIO()
    layer = session.client("lambda").list_layers()["Layers"][0]["LatestMatchingVersion"]["LayerVersionArn"]
    options.setdefault("powertools_layer_arn", layer)
    outcome = commands.deploy_command(session, DeployOptions(**options), out, waiting=NOW)
    return outcome, out.getvalue()


# --- package --------------------------------------------------------------------------------------------

def test_package_is_deterministic_small_and_holds_the_tasks(tmp_path: Path) -> None:
    first, again = package.build(templates.REPO), package.build(templates.REPO)
    assert first.data == again.data
    assert first.size < package.SIZE_TARGET
    names = zipfile.ZipFile(io.BytesIO(first.data)).namelist()
    assert "tasks/registry.py" in names and "tasks/common/config.py" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert not any(n.startswith(("boto3/", "botocore/", "aws_lambda_powertools/", "pydantic/")) for n in names)
    for task in templates.Sources.load().tasks:  # a module, or a package (log-detection, with its rules)
        module = task.handler.rsplit(".", 1)[0].replace(".", "/")
        assert module + ".py" in names or module + "/__init__.py" in names
    assert "tasks/log_detection/rules/root-console-sign-in.yaml" in names


def test_package_vendors_what_lambda_lacks_and_nothing_it_has(tmp_path: Path) -> None:
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "t.py").write_text("import json\nimport boto3\nimport pydantic\nimport yaml\nimport jsonata\n")
    assert package.third_party_distributions(package.imported_top_levels([tmp_path / "tasks" / "t.py"])) == \
        ["jsonata-python", "pyyaml"]
    names = zipfile.ZipFile(io.BytesIO(package.build(tmp_path).data)).namelist()
    assert "yaml/__init__.py" in names and not any(n.endswith(".so") for n in names)  # libyaml's binding is optional
    (tmp_path / "tasks" / "t.py").write_text("import markupsafe\n")
    with pytest.raises(package.PackageError, match="compiled code"):
        package.build(tmp_path)  # a wheel's C extension is not for the Lambda platform


def test_package_command_writes_zip_and_templates(tmp_path: Path) -> None:
    out = io.StringIO()
    built, written = commands.package_command(tmp_path / "irflow-tasks.zip", out)
    assert (tmp_path / "irflow-tasks.zip").read_bytes() == built.data
    assert {p.name for p in written} == {"central.template.json", "member.template.json", "org-trail.template.json"}
    assert json.loads((tmp_path / "central.template.json").read_text())["Resources"]["EvidenceBucket"]
    assert f"{built.size:,} bytes (within the 1,000,000-byte target)" in out.getvalue()


# --- deploy ---------------------------------------------------------------------------------------------

def test_deploy_creates_the_stack_through_a_change_set(session: Any, organisation: str, layer: str) -> None:
    outcome, text = deploy(session)
    assert outcome.result == "created"
    assert "(create) for stack irflow" in text and "IAM check passed" in text
    assert "  Add     EvidenceBucket" in text
    cfn = session.client("cloudformation")
    described = cfn.describe_stacks(StackName="irflow")["Stacks"][0]
    assert described["StackStatus"] == "CREATE_COMPLETE"
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]}
    assert parameters["OrganizationId"] == organisation
    assert parameters["StackSetCallAs"] == "SELF"  # moto's organisation is managed from this account
    assert len(parameters["ExternalId"]) == 40
    bucket = f"irflow-artifacts-{ACCOUNT}-{REGION}"
    keys = [o["Key"] for o in session.client("s3").list_objects_v2(Bucket=bucket)["Contents"]]
    assert parameters["CodeKey"] in keys and any(k.startswith("templates/irflow-") for k in keys)
    lam = session.client("lambda")
    for task in templates.Sources.load().functions():
        assert lam.get_function(FunctionName=f"irflow-{task.name}")["Configuration"]["Handler"] == task.handler
    assert cfn.list_change_sets(StackName="irflow")["Summaries"][0]["ExecutionStatus"] == "EXECUTE_COMPLETE"


def test_redeploy_updates_and_keeps_the_external_id(session: Any, organisation: str, layer: str) -> None:
    deploy(session)
    cfn = session.client("cloudformation")
    first = {p["ParameterKey"]: p["ParameterValue"] for p in cfn.describe_stacks(StackName="irflow")["Stacks"][0]["Parameters"]}
    # The list parameters are given again: moto 5.2.5 fails on UsePreviousValue for a CommaDelimitedList
    # (it splits the stored list a second time); the string ones keep their previous value as on AWS.
    outcome, text = deploy(session, notification_email="soc@example.com", org_units=[], trail_regions=[],
                           member_regions=[REGION])
    assert outcome.result == "updated" and "(update)" in text
    after = {p["ParameterKey"]: p["ParameterValue"] for p in cfn.describe_stacks(StackName="irflow")["Stacks"][0]["Parameters"]}
    assert after["ExternalId"] == first["ExternalId"]
    assert after["NotificationEmail"] == "soc@example.com"
    assert cfn.describe_stacks(StackName="irflow")["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"


def test_redeploy_of_the_same_code_and_settings_changes_nothing(session: Any, organisation: str, layer: str) -> None:
    same = {"org_units": [], "trail_regions": [], "member_regions": [REGION]}
    deploy(session, **same)
    outcome, text = deploy(session, **same)
    assert outcome.result == "unchanged" and "No changes" in text
    cfn = session.client("cloudformation")
    assert cfn.describe_stacks(StackName="irflow")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    assert len(cfn.list_change_sets(StackName="irflow")["Summaries"]) == 1  # the failed one was deleted


def test_dry_run_of_a_new_stack_changes_no_stack(session: Any, organisation: str, layer: str) -> None:
    outcome, text = deploy(session, dry_run=True)
    assert outcome.result == "dry-run" and "Dry run" in text
    assert any(c.logical_id == "EvidenceBucket" and c.action == "Add" for c in outcome.changes)
    cfn = session.client("cloudformation")
    assert stack.stack_status(cfn, "irflow") is None  # the REVIEW_IN_PROGRESS shell is gone too
    assert session.client("lambda").list_functions()["Functions"] == []


def test_dry_run_of_an_update_leaves_the_stack_as_it_was(session: Any, organisation: str, layer: str) -> None:
    deploy(session)
    cfn = session.client("cloudformation")
    outcome, _ = deploy(session, dry_run=True, notification_email="soc@example.com", org_units=[], trail_regions=[],
                           member_regions=[REGION])
    assert outcome.result == "dry-run"
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in cfn.describe_stacks(StackName="irflow")["Stacks"][0]["Parameters"]}
    assert parameters["NotificationEmail"] == ""
    assert [s["ChangeSetName"] for s in cfn.list_change_sets(StackName="irflow")["Summaries"]
            if s["ExecutionStatus"] != "EXECUTE_COMPLETE"] == []


def test_deploy_without_an_organisation_asks_for_its_id(session: Any, layer: str) -> None:
    with pytest.raises(CommandError, match="--organization-id"):
        deploy(session)
    outcome, _ = deploy(session, organization_id="o-abcdefghij", dry_run=True)
    assert outcome.result == "dry-run"


def test_member_regions_always_include_the_central_region(session: Any, organisation: str, layer: str) -> None:
    _, text = deploy(session, member_regions=["eu-west-1"])
    parameters = {p["ParameterKey"]: p["ParameterValue"]
                  for p in session.client("cloudformation").describe_stacks(StackName="irflow")["Stacks"][0]["Parameters"]}
    assert parameters["MemberRegions"] in ("us-east-1,eu-west-1", "['us-east-1', 'eu-west-1']")  # moto shows lists raw
    assert "added us-east-1" in text


def test_deploy_refuses_a_powertools_layer_that_is_not_there(session: Any, organisation: str, layer: str) -> None:
    missing = f"arn:aws:lambda:{REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python311-x86_64:999"
    with pytest.raises(CommandError, match="--powertools-layer-arn"):
        deploy(session, powertools_layer_arn=missing)
    assert session.client("s3").list_buckets()["Buckets"] == []  # refused before anything was uploaded


# --- destroy --------------------------------------------------------------------------------------------

def test_destroy_keeps_the_evidence_and_says_so(session: Any, organisation: str, layer: str) -> None:
    deploy(session)
    out = io.StringIO()
    outcome = commands.destroy_command(session, "irflow", dry_run=False, out=out, waiting=NOW)
    text = out.getvalue()
    bucket = f"irflow-evidence-{ACCOUNT}-{REGION}"
    assert outcome.result == "deleted"
    assert f"Retained by design: EvidenceBucket (AWS::S3::Bucket) {bucket}: the evidence stays under Object Lock" in text
    assert "Retained by design: IrflowKey (AWS::KMS::Key)" in text
    s3 = session.client("s3")
    s3.head_bucket(Bucket=bucket)  # still there
    assert all(b["Name"] != f"irflow-artifacts-{ACCOUNT}-{REGION}" for b in s3.list_buckets()["Buckets"])
    assert stack.stack_status(session.client("cloudformation"), "irflow") is None
    assert session.client("lambda").list_functions()["Functions"] == []
    assert "irflow: DELETE_COMPLETE" in text


def test_destroy_dry_run_deletes_nothing(session: Any, organisation: str, layer: str) -> None:
    deploy(session)
    out = io.StringIO()
    outcome = commands.destroy_command(session, "irflow", dry_run=True, out=out, waiting=NOW)
    assert outcome.result == "dry-run"
    assert all(c.logical_id != "EvidenceBucket" for c in outcome.changes)  # retained, so not listed as deleted
    assert any(c.logical_id == "IncidentsTable" for c in outcome.changes)
    assert stack.stack_status(session.client("cloudformation"), "irflow") == "CREATE_COMPLETE"


def test_destroy_of_a_missing_stack_says_so(session: Any) -> None:
    out = io.StringIO()
    assert commands.destroy_command(session, "irflow", dry_run=False, out=out, waiting=NOW).result == "absent"
    assert "nothing to destroy" in out.getvalue()


# --- what moto cannot show: AWS's failure events and refusals -------------------------------------------

def _event(logical: str, status: str, reason: str = "", kind: str = "AWS::Lambda::Function") -> dict[str, Any]:
    return {"StackName": "irflow", "LogicalResourceId": logical, "ResourceType": kind, "ResourceStatus": status,
            "ResourceStatusReason": reason, "Timestamp": datetime(2025, 1, 1, tzinfo=UTC), "EventId": logical + status}


def test_failure_names_the_first_failed_resource_not_the_cancellations() -> None:
    events = [
        _event("irflow", "CREATE_IN_PROGRESS", "User Initiated", "AWS::CloudFormation::Stack"),
        _event("ParseFindingFunction", "CREATE_IN_PROGRESS"),
        _event("EnrichInstanceFunction", "CREATE_FAILED",
               "Resource handler returned message: \"Layer version arn:aws:lambda:us-east-1:017000801446:layer:"
               "X:99 does not exist.\" (RequestToken: 1, HandlerErrorCode: InvalidRequest)"),
        _event("ParseFindingFunction", "CREATE_FAILED", "Resource creation cancelled"),
        _event("irflow", "ROLLBACK_IN_PROGRESS", "The following resource(s) failed to create: [EnrichInstanceFunction]",
               "AWS::CloudFormation::Stack"),
    ]
    message = stack.failure_message("irflow", "ROLLBACK_COMPLETE", events)
    assert message.startswith("stack irflow ended ROLLBACK_COMPLETE: EnrichInstanceFunction (AWS::Lambda::Function) "
                              "CREATE_FAILED: Resource handler returned message: \"Layer version")


def test_a_rolled_back_or_busy_stack_is_refused_before_anything_changes(session: Any) -> None:
    for status, message in (("ROLLBACK_COMPLETE", "irflow destroy"), ("UPDATE_IN_PROGRESS", "busy")):
        with pytest.raises(stack.StackError, match=message):
            stack._ensure_settled(status, "irflow")
