"""parse-s3-finding, enrich-bucket and remediate-bucket-exposure, against the embedded AWS's member account."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from irflow.local.world import World
from tasks import enrich_bucket, parse_s3_finding, remediate_bucket_exposure
from tasks.common import incidents
from tasks.common.buckets import (
    BucketInput,
    BucketNotFound,
    BucketRef,
    RemediateBucketInput,
    S3Policy,
    public_statement,
)
from tasks.common.errors import InvalidFinding
from tasks.common.models import Decision, Incident

from .conftest import MEMBER, CallLog, ManualClock, evidence_body
from .issue5_checks import assert_declared

APPROVAL = Decision(approval_id="0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", decision="approved", by="alice@example.com")
BUCKET = "exports-222222222222"
KEY = "crm/customers-2025-04.csv"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def macie(**detail: Any) -> dict[str, Any]:
    event = copy.deepcopy(parse_s3_finding.TASK.example["event"])
    event["detail"].update(detail)
    return event


def guardduty(finding_type: str = "Policy:S3/BucketBlockPublicAccessDisabled") -> dict[str, Any]:
    return {"version": "0", "id": "a1b2c3d4-0000-1111-2222-333344445555", "detail-type": "GuardDuty Finding",
            "source": "aws.guardduty", "account": MEMBER, "time": "2025-04-08T10:00:00Z", "region": "us-east-1",
            "resources": [], "detail": {
                "schemaVersion": "2.0", "accountId": MEMBER, "region": "us-east-1", "partition": "aws",
                "id": "76c0a1e2b3d4f5a6b7c8d9e0f1a2b3c4", "arn": "arn:aws:guardduty:us-east-1:222222222222:detector/d/finding/f",
                "type": finding_type, "severity": 2, "title": "Amazon S3 Block Public Access was disabled.",
                "resource": {"resourceType": "S3Bucket", "s3BucketDetails": [{"name": BUCKET, "type": "Destination",
                                                                             "arn": f"arn:aws:s3:::{BUCKET}"}],
                             "accessKeyDetails": {"userName": "ops-admin", "userType": "IAMUser"}},
                "service": {"serviceName": "guardduty", "action": {"actionType": "AWS_API_CALL", "awsApiCallAction": {
                    "api": "PutBucketPublicAccessBlock", "remoteIpDetails": {"ipAddressV4": "203.0.113.5"}}}}}}


def opened(event: dict[str, Any]) -> tuple[Incident, BucketRef]:
    out = parse_s3_finding.parse(event, {})
    incident = Incident.model_validate(out["incident"])
    incidents.open_incident(incident.model_dump(), {}, None)
    return incident, BucketRef.model_validate(out["bucket"])


def exposed_bucket(world: World) -> Any:
    """A bucket as a careless export job leaves it: public policy and ACL, a public object, one private statement."""
    s3 = world.client("s3", MEMBER)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False, "RestrictPublicBuckets": False})
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{BUCKET}/*"},
        {"Sid": "Analytics", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::333333333333:root"},
         "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{BUCKET}"}]}))
    s3.put_bucket_acl(Bucket=BUCKET, ACL="public-read")
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"name,ssn\nJane,078-05-1120\n", ACL="public-read")
    s3.put_object(Bucket=BUCKET, Key="readme.txt", Body=b"exports")
    s3.put_object_tagging(Bucket=BUCKET, Key=KEY, Tagging={"TagSet": [{"Key": "job", "Value": "crm-export"}]})
    return s3


# --- parse-s3-finding ----------------------------------------------------------------------------------


def test_parse_a_macie_sensitive_data_finding() -> None:
    out = parse_s3_finding.parse(parse_s3_finding.TASK.example["event"], parse_s3_finding.TASK.example["policy"])
    assert out["incident"]["source"] == "Macie" and out["incident"]["resource_id"] == BUCKET
    assert out["incident"]["severity"] == 5.0 and out["incident"]["severity_band"] == "medium"
    assert out["bucket"] == {"name": BUCKET, "key": KEY, "sensitive_data": [
        "PERSONAL_INFORMATION: USA_SOCIAL_SECURITY_NUMBER x206", "PERSONAL_INFORMATION: NAME x206"]}
    assert out["policy"]["restrict_object"] is True


def test_parse_macie_policy_and_guardduty_s3_findings() -> None:
    public = parse_s3_finding.parse(macie(type="Policy:IAMUser/S3BucketPublic", category="POLICY",
                                          severity={"score": 3, "description": "High"}), {})
    assert public["incident"]["severity"] == 8.0 and public["bucket"]["key"] is None
    finding = parse_s3_finding.parse(guardduty(), {})
    assert finding["incident"]["source"] == "GuardDuty" and finding["incident"]["severity_band"] == "low"
    assert finding["bucket"]["name"] == BUCKET and finding["incident"]["remote_ips"] == ["203.0.113.5"]


@pytest.mark.parametrize(("event", "field"), [
    (macie(type="Policy:IAMUser/S3BucketEncryptionDisabled"), "not a data-exposure finding"),
    (guardduty("Discovery:S3/MaliciousIPCaller"), "not a data-exposure finding"),
    (macie(resourcesAffected={"s3Bucket": {"name": BUCKET}}), "resourcesAffected.s3Object"),
    (macie(severity={"score": 4, "description": "Critical"}), "detail.severity.description"),
    ({**macie(), "source": "aws.inspector2"}, "source: expected aws.macie or aws.guardduty"),
    (macie(resourcesAffected={"s3Bucket": {"name": "Not_A_Bucket"}}), "detail.resourcesAffected.s3Bucket.name"),
])
def test_parse_refuses_other_findings(event: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidFinding) as refused:
        parse_s3_finding.handler({"event": event, "policy": {}}, None)
    assert field in str(refused.value)


@pytest.mark.parametrize(("statement", "public"), [
    ({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}, True),
    ({"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": "s3:GetObject"}, True),
    ({"Effect": "Allow", "Principal": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}, False),
    ({"Effect": "Allow", "Principal": "*", "Condition": {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}}, True),
    ({"Effect": "Allow", "Principal": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}}, False),
    ({"Effect": "Allow", "Principal": "*", "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-abc123"}}}, True),
    ({"Effect": "Allow", "Principal": "*", "Condition": {"StringLike": {"aws:SourceVpce": "vpce-*"}}}, True),
    ({"Effect": "Deny", "Principal": "*", "Action": "s3:*"}, False),
    ({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::333333333333:root"}}, False),
])
def test_what_makes_a_statement_public(statement: dict[str, Any], public: bool) -> None:
    assert public_statement(statement) is public


# --- enrich-bucket ---------------------------------------------------------------------------------------


def test_enrich_an_exposed_bucket_keeps_its_configuration_as_evidence(world: World, clock: ManualClock,
                                                                      calls: CallLog) -> None:
    exposed_bucket(world)
    incident, ref = opened(parse_s3_finding.TASK.example["event"])
    calls.mark()
    facts = enrich_bucket.enrich(BucketInput(incident=incident, bucket=ref))
    assert_declared(calls, "enrich-bucket")
    assert facts["public"] is True and facts["guardrails_off"] is True and facts["policy_is_public"] is True
    assert facts["public_statements"] == ["PublicRead"] and facts["public_acl_grants"] == ["AllUsers:READ"]
    assert facts["object_public_grants"] == ["AllUsers:READ"] and facts["object_exists"] is True
    assert "PUBLIC" in facts["summary"] and "USA_SOCIAL_SECURITY_NUMBER" in facts["summary"]
    stored = json.loads(evidence_body(world, facts["evidence"]["uri"]))
    assert [s["Sid"] for s in stored["policy"]["Statement"]] == ["PublicRead", "Analytics"]
    assert stored["object"]["tags"] == {"job": "crm-export"} and stored["object"]["size"] == 26
    assert stored["sensitive_data"] == ref.sensitive_data
    assert [e["uri"] for e in incidents.load_incident(incident.incident_id)["evidence"]] == [facts["evidence"]["uri"]]


def test_a_bucket_whose_block_neutralises_its_grants_is_not_public(world: World, clock: ManualClock) -> None:
    s3 = world.client("s3", MEMBER)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_acl(Bucket=BUCKET, ACL="public-read")  # moto accepts it; IgnorePublicAcls makes it void on AWS
    s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": False})
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "irflow:exempt", "Value": "true"}]})
    incident, ref = opened(guardduty())
    facts = enrich_bucket.enrich(BucketInput(incident=incident, bucket=ref))
    assert facts["public"] is False and facts["guardrails_off"] is True and facts["exempt"] is True


def test_enrich_a_bucket_that_is_gone_and_an_object_that_is_gone(world: World, clock: ManualClock) -> None:
    incident, ref = opened(parse_s3_finding.TASK.example["event"])
    with pytest.raises(BucketNotFound, match="no longer exists"):
        enrich_bucket.enrich(BucketInput(incident=incident, bucket=ref))
    world.client("s3", MEMBER).create_bucket(Bucket=BUCKET)
    facts = enrich_bucket.enrich(BucketInput(incident=incident, bucket=ref))
    assert facts["object_exists"] is False and f"object {KEY} no longer exists" in facts["notes"]


# --- remediate-bucket-exposure ---------------------------------------------------------------------------


def test_remediate_closes_the_bucket_and_restricts_the_object(world: World, clock: ManualClock, calls: CallLog) -> None:
    s3 = exposed_bucket(world)
    incident, ref = opened(parse_s3_finding.TASK.example["event"])
    calls.mark()
    result = remediate_bucket_exposure.remediate(RemediateBucketInput(incident=incident, bucket=ref, approval=APPROVAL))
    assert_declared(calls, "remediate-bucket-exposure")
    assert result["verified"] is True and result["policy_is_public"] is False

    assert all(s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"].values())
    assert s3.get_bucket_policy_status(Bucket=BUCKET)["PolicyStatus"]["IsPublic"] is False
    statements = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])["Statement"]
    assert [s["Sid"] for s in statements][0] == "Analytics"  # the private statement is kept
    [restriction] = [s for s in statements if s["Sid"].startswith("IrflowRestrict")]
    assert restriction["Effect"] == "Deny" and restriction["Resource"] == f"arn:aws:s3:::{BUCKET}/{KEY}"
    assert restriction["Condition"] == {"ArnNotEquals": {
        "aws:PrincipalArn": "arn:aws:iam::222222222222:role/IrflowMemberRole"}}
    assert not any(g["Grantee"].get("URI") == ALL_USERS for g in s3.get_bucket_acl(Bucket=BUCKET)["Grants"])
    assert not any(g["Grantee"].get("URI") == ALL_USERS for g in s3.get_object_acl(Bucket=BUCKET, Key=KEY)["Grants"])
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=BUCKET, Key=KEY)["TagSet"]}
    assert tags == {"job": "crm-export", "irflow:incident": incident.incident_id, "irflow:status": "restricted"}

    record = incidents.load_incident(incident.incident_id)
    assert record["status"] == "remediated"
    assert [(a["name"], a["result"].split(":")[0]) for a in record["actions"]] == [
        ("block-public-access", "done"), ("remove-public-policy-statements", "done"),
        ("remove-public-acl-grants", "done"), ("remove-public-object-grants", "done"), ("restrict-object", "done")]
    original = incidents.get_original_state(incident.incident_id, f"s3-bucket/{BUCKET}")
    assert original is not None and [s["Sid"] for s in original["policy"]["Statement"]] == ["PublicRead", "Analytics"]
    assert original["public_access_block"]["BlockPublicPolicy"] is False


def test_remediating_twice_changes_nothing_the_second_time(world: World, clock: ManualClock) -> None:
    s3 = exposed_bucket(world)
    incident, ref = opened(parse_s3_finding.TASK.example["event"])
    data = RemediateBucketInput(incident=incident, bucket=ref, approval=APPROVAL)
    remediate_bucket_exposure.remediate(data)
    policy = s3.get_bucket_policy(Bucket=BUCKET)["Policy"]
    second = remediate_bucket_exposure.remediate(data)
    assert second["changed"] is False and second["verified"] is True
    assert s3.get_bucket_policy(Bucket=BUCKET)["Policy"] == policy
    original = incidents.get_original_state(incident.incident_id, f"s3-bucket/{BUCKET}")
    assert original is not None and original["policy_is_public"] is True  # still the first run's record


def test_a_public_only_policy_is_deleted_when_no_object_is_named(world: World, clock: ManualClock) -> None:
    s3 = world.client("s3", MEMBER)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Web", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{BUCKET}/*"}]}))
    incident, ref = opened(guardduty("Policy:S3/BucketAnonymousAccessGranted"))
    remediate_bucket_exposure.remediate(RemediateBucketInput(incident=incident, bucket=ref, approval=APPROVAL,
                                                             policy=S3Policy(restrict_object=False)))
    with pytest.raises(Exception) as absent:
        s3.get_bucket_policy(Bucket=BUCKET)
    assert "NoSuchBucketPolicy" in str(absent.value)


def test_remediate_a_bucket_that_is_gone_changes_nothing(world: World, clock: ManualClock) -> None:
    incident, ref = opened(guardduty())
    with pytest.raises(BucketNotFound):
        remediate_bucket_exposure.remediate(RemediateBucketInput(incident=incident, bucket=ref, approval=APPROVAL))
    assert incidents.load_incident(incident.incident_id)["actions"] == []
