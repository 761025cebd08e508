"""The STS guard: AssumeRole is refused unless the role exists and its trust policy allows it."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from irflow.local.sts_guard import AssumeRequest, Caller, trust_allows
from irflow.local.world import DEFAULT_EXTERNAL_ID, World

MEMBER = "222222222222"

ROLE = f"arn:aws:iam::{MEMBER}:role/IrflowMemberRole"


def _assume(**kwargs: str) -> dict:
    return boto3.client("sts").assume_role(RoleArn=ROLE, RoleSessionName="irflow-inc-1", **kwargs)


def test_right_external_id_lands_in_the_member_account(world: World) -> None:
    creds = _assume(ExternalId=DEFAULT_EXTERNAL_ID)["Credentials"]
    sts = boto3.client("sts", aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                       aws_session_token=creds["SessionToken"])
    identity = sts.get_caller_identity()
    assert identity["Account"] == MEMBER
    assert identity["Arn"].endswith(":assumed-role/IrflowMemberRole/irflow-inc-1")


@pytest.mark.parametrize("kwargs", [{"ExternalId": "wrong"}, {}])
def test_wrong_or_missing_external_id_is_access_denied(world: World, kwargs: dict) -> None:
    with pytest.raises(ClientError) as caught:
        _assume(**kwargs)
    error = caught.value.response
    assert error["Error"]["Code"] == "AccessDenied"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error["Error"]["Message"] == (
        f"User: arn:aws:iam::111111111111:user/irflow-local is not authorized to perform: sts:AssumeRole "
        f"on resource: {ROLE}")


def test_missing_role_is_access_denied_and_creates_nothing(world: World) -> None:
    world.add_member("333333333333", role=False)
    with pytest.raises(ClientError) as caught:
        boto3.client("sts").assume_role(RoleArn="arn:aws:iam::333333333333:role/IrflowMemberRole",
                                        RoleSessionName="irflow-inc-1", ExternalId=DEFAULT_EXTERNAL_ID)
    assert caught.value.response["Error"]["Code"] == "AccessDenied"
    from moto.sts.models import sts_backends

    assert sts_backends["333333333333"]["aws"].assumed_roles == []


def test_role_trusting_another_account_refuses_the_central_account(world: World) -> None:
    iam = world.client("iam", MEMBER)
    iam.create_role(RoleName="OtherRole", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
                       "Action": "sts:AssumeRole"}]}))
    with pytest.raises(ClientError):
        boto3.client("sts").assume_role(RoleArn=f"arn:aws:iam::{MEMBER}:role/OtherRole", RoleSessionName="x-1")


def test_guard_is_removed_when_the_world_closes() -> None:
    with World() as w:
        w.add_member(MEMBER, role=False)
    from moto import mock_aws

    with mock_aws():  # plain moto again: any role can be assumed
        boto3.client("sts", region_name="us-east-1").assume_role(RoleArn=ROLE, RoleSessionName="irflow-x")


CALLER = Caller("111111111111", "arn:aws:sts::111111111111:assumed-role/irflow-task/fn", "arn:aws:iam::111111111111:role/irflow-task")


def _policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(principal: object = "arn:aws:iam::111111111111:root", **extra: object) -> dict:
    return {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole", **extra}


@pytest.mark.parametrize(("statement", "external_id", "allowed"), [
    (_allow(), None, True),
    (_allow("111111111111"), None, True),
    (_allow(["arn:aws:iam::222:root", "arn:aws:iam::111111111111:role/irflow-task"]), None, True),
    (_allow("arn:aws:iam::111111111111:role/other"), None, False),
    (_allow(Condition={"StringEquals": {"sts:ExternalId": "x"}}), "x", True),
    (_allow(Condition={"StringEquals": {"sts:ExternalId": ["a", "x"]}}), "x", True),
    (_allow(Condition={"StringEquals": {"sts:ExternalId": "x"}}), "y", False),
    (_allow(Condition={"StringLike": {"sts:ExternalId": "x-*"}}), "x-1", True),
    (_allow(Condition={"StringEqualsIfExists": {"sts:ExternalId": "x"}}), None, True),
    (_allow(Condition={"Null": {"sts:ExternalId": "false"}}), None, False),
    (_allow(Condition={"StringEquals": {"aws:PrincipalOrgID": "o-123"}}), None, False),  # fails closed
    ({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}, None, False),
    ({"Effect": "Allow", "Principal": "*", "Action": "sts:*"}, None, True),
])
def test_trust_policy_evaluation(statement: dict, external_id: str | None, allowed: bool) -> None:
    request = AssumeRequest("arn:aws:iam::222:role/r", external_id, "s")
    assert trust_allows(_policy(statement), CALLER, request) is allowed


def test_explicit_deny_wins() -> None:
    policy = _policy(_allow(), {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})
    assert not trust_allows(policy, CALLER, AssumeRequest("arn:aws:iam::222:role/r", None, "s"))
