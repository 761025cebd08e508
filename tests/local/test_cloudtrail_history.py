"""CloudTrail's event history in the embedded AWS: LookupEvents as the API documents it, through boto3."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from irflow.local.world import World

from .conftest import MEMBER, ManualClock


def _record(world: World, minutes_ago: float, name: str, user: str = "bob", key: str = "AKIAEXAMPLE0000BOB01",
            region: str = "us-east-1", **extra: object) -> str:
    when = world.now() - timedelta(minutes=minutes_ago)
    event_id = f"00000000-0000-0000-0000-{int(minutes_ago * 60):012d}"
    world.cloudtrail.record(MEMBER, region, {
        "eventVersion": "1.08", "eventID": event_id, "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventName": name, "eventSource": "iam.amazonaws.com", "readOnly": name.startswith("List"),
        "userIdentity": {"type": "IAMUser", "userName": user, "accessKeyId": key,
                         "arn": f"arn:aws:iam::{MEMBER}:user/{user}"}, **extra})
    return event_id


def test_lookup_filters_orders_newest_first_and_pages(world: World) -> None:
    for minute in range(1, 61):
        _record(world, minute, "ListUsers" if minute % 2 else "CreateUser")
    _record(world, 5.5, "ListUsers", user="carol", key="AKIAEXAMPLE00CAROL01")
    cloudtrail = world.client("cloudtrail", MEMBER)

    first = cloudtrail.lookup_events(LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "bob"}])
    assert len(first["Events"]) == 50 and first["NextToken"]
    times = [e["EventTime"] for e in first["Events"]]
    assert times == sorted(times, reverse=True)
    pages = cloudtrail.get_paginator("lookup_events").paginate(
        LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": "AKIAEXAMPLE0000BOB01"}])
    assert sum(len(p["Events"]) for p in pages) == 60

    writes = cloudtrail.lookup_events(LookupAttributes=[{"AttributeKey": "ReadOnly", "AttributeValue": "false"}])
    assert {e["EventName"] for e in writes["Events"]} == {"CreateUser"} and len(writes["Events"]) == 30
    carol = cloudtrail.lookup_events(LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "carol"}])
    [event] = carol["Events"]
    assert event["AccessKeyId"] == "AKIAEXAMPLE00CAROL01" and event["EventSource"] == "iam.amazonaws.com"
    assert json.loads(event["CloudTrailEvent"])["userIdentity"]["userName"] == "carol"

    recent = cloudtrail.lookup_events(StartTime=world.now() - timedelta(minutes=10), EndTime=world.now(),
                                      MaxResults=5)
    assert len(recent["Events"]) == 5 and "NextToken" in recent


def test_events_are_per_account_and_region_and_not_visible_before_they_happen(world: World,
                                                                               clock: ManualClock) -> None:
    _record(world, -5, "CreateAccessKey")  # five minutes from now
    _record(world, 1, "ListUsers", region="eu-west-1")
    cloudtrail = world.client("cloudtrail", MEMBER)
    assert cloudtrail.lookup_events()["Events"] == []
    assert [e["EventName"] for e in world.client("cloudtrail", MEMBER, "eu-west-1").lookup_events()["Events"]] == [
        "ListUsers"]
    assert world.client("cloudtrail").lookup_events()["Events"] == []  # the central account has its own history
    clock.tick(600)
    assert [e["EventName"] for e in cloudtrail.lookup_events()["Events"]] == ["CreateAccessKey"]


@pytest.mark.parametrize(("request_args", "code"), [
    ({"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "a"},
                           {"AttributeKey": "EventName", "AttributeValue": "b"}]}, "InvalidLookupAttributesException"),
    ({"LookupAttributes": [{"AttributeKey": "Colour", "AttributeValue": "a"}]}, "InvalidLookupAttributesException"),
    ({"MaxResults": 51}, "InvalidMaxResultsException"),
    ({"NextToken": "forged"}, "InvalidNextTokenException"),
])
def test_requests_cloudtrail_refuses(world: World, request_args: dict[str, object], code: str) -> None:
    with pytest.raises(ClientError) as refused:
        world.client("cloudtrail", MEMBER).lookup_events(**request_args)
    assert refused.value.response["Error"]["Code"] == code


def test_a_start_after_the_end_is_refused(world: World) -> None:
    with pytest.raises(ClientError) as refused:
        world.client("cloudtrail", MEMBER).lookup_events(StartTime=world.now(),
                                                         EndTime=world.now() - timedelta(hours=1))
    assert refused.value.response["Error"]["Code"] == "InvalidTimeRangeException"


def test_a_record_without_its_identity_fields_is_refused(world: World) -> None:
    with pytest.raises(ValueError, match="eventID"):
        world.cloudtrail.record(MEMBER, "us-east-1", {"eventName": "ListUsers"})


def test_aws_managed_deny_all_exists_in_every_account(world: World) -> None:
    iam = world.client("iam", MEMBER)
    iam.create_user(UserName="mallory")
    iam.attach_user_policy(UserName="mallory", PolicyArn="arn:aws:iam::aws:policy/AWSDenyAll")
    policy = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AWSDenyAll")["Policy"]
    version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    document = version["Document"] if isinstance(version["Document"], dict) else json.loads(version["Document"])
    assert document["Statement"] == [{"Action": ["*"], "Effect": "Deny", "Resource": "*", "Sid": "DenyAll"}]
    assert [p["PolicyName"] for p in iam.list_attached_user_policies(UserName="mallory")["AttachedPolicies"]] == [
        "AWSDenyAll"]
