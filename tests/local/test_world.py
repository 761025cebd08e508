"""What the embedded AWS provisions, read back from moto, and that closing it leaves no trace."""

from __future__ import annotations

import json
import os

import boto3
import pytest

from irflow.local.world import DEFAULT_EXTERNAL_ID, World

MEMBER = "222222222222"


def test_central_resources_are_provisioned_like_the_stack(world: World) -> None:
    central = world.central
    assert central is not None
    s3 = boto3.client("s3")
    assert s3.get_bucket_versioning(Bucket=central.evidence_bucket)["Status"] == "Enabled"
    lock = s3.get_object_lock_configuration(Bucket=central.evidence_bucket)["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    assert lock["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"
    block = s3.get_public_access_block(Bucket=central.evidence_bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    table = boto3.client("dynamodb").describe_table(TableName=central.incidents_table)["Table"]
    assert [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]] == [("pk", "HASH"), ("sk", "RANGE")]
    assert central.topic_arn in [t["TopicArn"] for t in boto3.client("sns").list_topics()["Topics"]]


def test_tasks_settings_come_from_the_environment(world: World) -> None:
    central = world.central
    assert central is not None
    assert os.environ["IRFLOW_EVIDENCE_BUCKET"] == central.evidence_bucket
    assert os.environ["IRFLOW_INCIDENTS_TABLE"] == central.incidents_table
    assert os.environ["IRFLOW_TOPIC_ARN"] == central.topic_arn
    assert os.environ["IRFLOW_EXTERNAL_ID"] == DEFAULT_EXTERNAL_ID
    assert boto3.client("sts").get_caller_identity()["Account"] == "111111111111"


def test_member_role_trusts_the_central_account_with_the_external_id(world: World) -> None:
    role = world.client("iam", MEMBER).get_role(RoleName="IrflowMemberRole")["Role"]
    statement = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::111111111111:root"}
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": DEFAULT_EXTERNAL_ID}}


def test_member_role_carries_the_actions_it_is_given() -> None:
    with World(member_actions=["ec2:StopInstances", "ec2:CreateSnapshot", "ec2:StopInstances"]) as w:
        w.add_member(MEMBER)
        policy = w.client("iam", MEMBER).get_role_policy(RoleName="IrflowMemberRole", PolicyName="irflow-response")
        assert policy["PolicyDocument"]["Statement"][0]["Action"] == ["ec2:CreateSnapshot", "ec2:StopInstances"]


def test_notifications_are_drained_in_order(world: World) -> None:
    sns = boto3.client("sns")
    sns.publish(TopicArn=world.central.topic_arn, Subject="first", Message=json.dumps({"n": 1}))
    sns.publish(TopicArn=world.central.topic_arn, Subject="second", Message="two")
    drained = world.drain_notifications()
    assert [n["subject"] for n in drained] == ["first", "second"]
    assert world.drain_notifications() == []
    assert [n["subject"] for n in world.notified] == ["first", "second"]


def test_closing_restores_the_environment() -> None:
    before = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "IRFLOW_EVIDENCE_BUCKET", "AWS_REGION")}
    with World():
        assert os.environ["IRFLOW_EVIDENCE_BUCKET"]
    assert {k: os.environ.get(k) for k in before} == before


def test_structured_notifications_read_as_an_sqs_subscriber_reads_them(world: World) -> None:
    boto3.client("sns").publish(TopicArn=world.central.topic_arn, Subject="s", MessageStructure="json",
                                Message=json.dumps({"default": "plain", "email": "mail", "sqs": "queue"}))
    boto3.client("sns").publish(TopicArn=world.central.topic_arn, Subject="t", MessageStructure="json",
                                Message=json.dumps({"default": "plain", "email": "mail"}))
    assert [n["message"] for n in world.drain_notifications()] == ["queue", "plain"]


def test_a_world_left_open_is_closed_by_the_next() -> None:
    leaked = World().start()
    leaked.add_member(MEMBER)
    with pytest.warns(RuntimeWarning, match="still open"), World() as fresh:
        assert fresh.client("iam", MEMBER).list_roles()["Roles"] == []
