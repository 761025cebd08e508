"""Bucket policies on object requests: the caller and the real action decide, as on AWS."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from irflow.local.s3_object_access import ObjectRequest, action_of, evaluate
from irflow.local.world import DEFAULT_EXTERNAL_ID, World

from .conftest import MEMBER

BUCKET, KEY = "exports-222222222222", "crm/customers.csv"
MEMBER_ROLE = f"arn:aws:iam::{MEMBER}:role/IrflowMemberRole"
RESTRICT = {"Sid": "IrflowRestrict", "Effect": "Deny", "Principal": "*", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": f"arn:aws:s3:::{BUCKET}/{KEY}", "Condition": {"ArnNotEquals": {"aws:PrincipalArn": MEMBER_ROLE}}}


def _member_role_s3(world: World) -> Any:
    credentials = boto3.client("sts").assume_role(RoleArn=MEMBER_ROLE, RoleSessionName="irflow-test",
                                                  ExternalId=DEFAULT_EXTERNAL_ID)["Credentials"]
    return boto3.client("s3", aws_access_key_id=credentials["AccessKeyId"],
                        aws_secret_access_key=credentials["SecretAccessKey"],
                        aws_session_token=credentials["SessionToken"])


def _user_s3(world: World, name: str) -> Any:
    iam = world.client("iam", MEMBER)
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return boto3.client("s3", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])


@pytest.fixture
def restricted(world: World) -> World:
    s3 = world.client("s3", MEMBER)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"name,ssn\n")
    s3.put_object(Bucket=BUCKET, Key="readme.txt", Body=b"hello")
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [RESTRICT]}))
    return world


def test_the_responders_role_reads_a_restricted_object_and_others_do_not(restricted: World) -> None:
    member = _member_role_s3(restricted)
    assert member.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == b"name,ssn\n"
    app = _user_s3(restricted, "app")
    with pytest.raises(ClientError) as denied:
        app.get_object(Bucket=BUCKET, Key=KEY)
    assert denied.value.response["Error"]["Code"] in ("403", "AccessDenied")
    # other objects, and the restricted object's ACL and tags, are not what the statement denies
    assert app.get_object(Bucket=BUCKET, Key="readme.txt")["Body"].read() == b"hello"
    assert app.get_object_acl(Bucket=BUCKET, Key=KEY)["Grants"]
    assert app.get_object_tagging(Bucket=BUCKET, Key=KEY)["TagSet"] == []


@pytest.mark.parametrize(("method", "query", "action"), [
    ("GET", {}, "s3:GetObject"), ("HEAD", {}, "s3:GetObject"), ("GET", {"acl": [""]}, "s3:GetObjectAcl"),
    ("GET", {"tagging": [""]}, "s3:GetObjectTagging"), ("GET", {"versionId": ["v1"]}, "s3:GetObjectVersion"),
    ("PUT", {}, "s3:PutObject"), ("PUT", {"acl": [""]}, "s3:PutObjectAcl"), ("DELETE", {}, "s3:DeleteObject"),
    ("DELETE", {"versionId": ["v1"]}, "s3:DeleteObjectVersion"),
])
def test_the_action_s3_authorises(method: str, query: dict[str, list[str]], action: str) -> None:
    assert action_of(method, query) == action


def test_conditions_that_cannot_be_judged_fail_closed() -> None:
    request = ObjectRequest(MEMBER_ROLE, MEMBER, "s3:GetObject")
    resource = f"arn:aws:s3:::{BUCKET}/{KEY}"
    vpc_only = {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*",
                "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}}
    assert evaluate({"Statement": [vpc_only]}, resource, request) == "DENIED"
    allow_from_org = {**vpc_only, "Effect": "Allow", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-1"}}}
    assert evaluate({"Statement": [allow_from_org]}, resource, request) == "NEUTRAL"
    allow_account = {"Effect": "Allow", "Principal": {"AWS": MEMBER}, "Action": "s3:Get*", "Resource": "*"}
    assert evaluate({"Statement": [allow_account]}, resource, request) == "PERMITTED"
    assert evaluate({"Statement": [RESTRICT]}, resource, request) == "NEUTRAL"
    assert evaluate({"Statement": [RESTRICT]}, resource, ObjectRequest(f"arn:aws:iam::{MEMBER}:user/app", MEMBER,
                                                                      "s3:GetObject")) == "DENIED"
