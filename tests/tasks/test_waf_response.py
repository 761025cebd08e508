"""read-sampled-requests, block-ip-addresses, unblock-ip-addresses and describe-protected-resource against the embedded AWS.

The member account has a web ACL with AWS's managed SQL injection rules; WAF's sampled requests
come from the world's GetSampledRequests gap filler (moto has none). Every test reads the world
back through the member account: the IP sets and their addresses, the web ACL's rules, the
evidence objects and their digests, the claims and original state in the incidents table.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest

from irflow.local.world import World
from tasks.block_ip_addresses import BlockInput, block
from tasks.common import waf
from tasks.common.incidents import get_original_state, load_incident, open_incident
from tasks.common.models import Incident
from tasks.describe_protected_resource import ProtectedResourceInput, ResourceGone, describe
from tasks.read_sampled_requests import ReadSampledRequestsInput, read
from tasks.unblock_ip_addresses import UnblockInput, unblock
from tests.tasks.conftest import MEMBER, REGION, CallLog, ManualClock, evidence_body

INCIDENT = Incident(incident_id="inc-4268e8f0cb1e6e96", finding_id="shop-sqli#2025-03-14T09:25:00Z",
                    finding_type="CloudWatchAlarm:WAF/SQLInjection", severity=7, severity_band="high",
                    account_id=MEMBER, region=REGION, source="CloudWatch alarm", resource_type="waf-web-acl",
                    resource_id="shop-acl")
APPROVAL = {"approval_id": "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "decision": "approved", "by": "alice@example.com"}


def sample(ip: str, weight: int, at: str = "2025-03-14T09:20:00Z", uri: str = "/search", country: str = "NL") -> dict[str, Any]:
    return {"Request": {"ClientIP": ip, "Country": country, "URI": uri, "Method": "GET", "HTTPVersion": "HTTP/1.1",
                        "Headers": [{"Name": "Host", "Value": "shop.example.com"}]},
            "Weight": weight, "Timestamp": at, "Action": "BLOCK",
            "RuleNameWithinRuleGroup": "AWS#AWSManagedRulesSQLiRuleSet#SQLi_QUERYARGUMENTS"}


@pytest.fixture(autouse=True)
def opened(world: World, clock: ManualClock) -> None:
    """The alarm's incident, as open-incident leaves it."""
    open_incident(INCIDENT.model_dump(), {}, None)


@pytest.fixture
def acl(world: World) -> dict[str, Any]:
    """shop-acl in the member account (metric name shop-acl), its SQL injection rule at priority 0."""
    summary = world.client("wafv2", MEMBER).create_web_acl(
        Name="shop", Scope="REGIONAL", DefaultAction={"Allow": {}}, Description="the shop",
        VisibilityConfig={"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": "shop-acl"},
        Rules=[{"Name": "sqli", "Priority": 0, "OverrideAction": {"None": {}},
                "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": "AWSManagedRulesSQLiRuleSet"}},
                "VisibilityConfig": {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True,
                                     "MetricName": "SQLiRuleSet"}}])["Summary"]
    world.waf_samples.add(summary["ARN"], "SQLiRuleSet", [
        sample("198.51.100.7", 12), sample("198.51.100.7", 9, uri="/products"), sample("203.0.113.45", 8, country="US"),
        sample("10.20.3.7", 30), sample("192.0.2.10", 6), sample("192.0.2.99", 1), sample("2001:db8::21", 4),
        sample("198.51.100.250", 40, at="2025-03-14T07:00:00Z")])
    return dict(summary)


def reading(**policy: Any) -> ReadSampledRequestsInput:
    return ReadSampledRequestsInput.model_validate({
        "incident": INCIDENT.model_dump(), "state_time": "2025-03-14T09:25:00Z", "period": 300,
        "web_acl": {"metric_name": "shop-acl", "rule_metric_name": "SQLiRuleSet", "scope": "REGIONAL", "region": REGION},
        "policy": {"never_block": ["192.0.2.0/28"], **policy}})


def test_sampled_requests_are_kept_and_their_sources_ranked(world: World, acl: dict[str, Any], clock: ManualClock,
                                                           calls: CallLog) -> None:
    with calls.checking("read-sampled-requests"):
        result = read(reading())
    assert result["addresses"] == ["198.51.100.7", "203.0.113.45", "2001:db8::21"]
    assert result["offenders"][0]["requests"] == 21 and result["offenders"][0]["uris"] == ["/search", "/products"]
    assert {e["address"]: e["reason"].split(" ")[0] for e in result["excluded"]} == {
        "10.20.3.7": "not", "192.0.2.10": "in", "192.0.2.99": "only"}  # private; never_block; below min_requests
    assert result["sampled"] == 7 and result["population"] == 70  # the 07:00 burst is outside the window
    body = evidence_body(world, result["evidence"]["uri"])
    assert hashlib.sha256(body).hexdigest() == result["evidence"]["sha256"]
    kept = json.loads(body)
    assert kept["webAcl"]["ARN"] == acl["ARN"] and len(kept["response"]["SampledRequests"]) == 7
    assert "198.51.100.7" in result["proposal"] and "for 24 hours" in result["proposal"]
    assert load_incident(INCIDENT.incident_id)["evidence"] == [result["evidence"]]


def test_few_requests_and_the_address_cap_keep_addresses_out(world: World, acl: dict[str, Any], clock: ManualClock) -> None:
    result = read(reading(min_requests=5, max_addresses=1, never_block=[]))
    assert result["addresses"] == ["198.51.100.7"]
    reasons = {e["address"]: e["reason"] for e in result["excluded"]}
    assert reasons["203.0.113.45"] == "beyond max_addresses 1" and reasons["2001:db8::21"].startswith("only 4 request")


def test_a_web_acl_that_is_gone_is_named_as_such(world: World, clock: ManualClock) -> None:
    with pytest.raises(waf.WebAclNotFound, match="shop-acl"):
        read(reading())


def test_get_sampled_requests_refuses_what_aws_refuses(world: World, acl: dict[str, Any], clock: ManualClock) -> None:
    from botocore.exceptions import ClientError

    client = world.client("wafv2", MEMBER)
    window = {"StartTime": clock() - timedelta(hours=4), "EndTime": clock() - timedelta(hours=3, minutes=30)}
    for request, code in (({"TimeWindow": window, "MaxItems": 10}, "WAFInvalidParameterException"),
                          ({"TimeWindow": {"StartTime": clock() - timedelta(minutes=5), "EndTime": clock()},
                            "MaxItems": 501}, "WAFInvalidParameterException")):
        with pytest.raises(ClientError) as refused:
            client.get_sampled_requests(WebAclArn=acl["ARN"], RuleMetricName="SQLiRuleSet", Scope="REGIONAL", **request)
        assert refused.value.response["Error"]["Code"] == code
    with pytest.raises(ClientError) as missing:
        client.get_sampled_requests(WebAclArn=acl["ARN"].replace("shop", "gone"), RuleMetricName="SQLiRuleSet",
                                    Scope="REGIONAL", MaxItems=10,
                                    TimeWindow={"StartTime": clock() - timedelta(minutes=5), "EndTime": clock()})
    assert missing.value.response["Error"]["Code"] == "WAFNonexistentItemException"


# --- blocking and the expiry ----------------------------------------------------------------------


def blocking(acl: dict[str, Any], addresses: list[str], incident: Incident = INCIDENT, seconds: int = 3600) -> BlockInput:
    return BlockInput.model_validate({
        "incident": incident.model_dump(), "addresses": addresses, "block_seconds": seconds, "approval": APPROVAL,
        "web_acl": {"arn": acl["ARN"], "name": acl["Name"], "id": acl["Id"], "scope": "REGIONAL", "region": REGION}})


def ip_set(world: World, name: str) -> list[str]:
    client = world.client("wafv2", MEMBER)
    found = waf.find_ip_set(client, "REGIONAL", name)
    assert found is not None, name
    return sorted(client.get_ip_set(Name=name, Scope="REGIONAL", Id=found["Id"])["IPSet"]["Addresses"])


def rules(world: World, acl: dict[str, Any]) -> list[tuple[str, int, str]]:
    found = world.client("wafv2", MEMBER).get_web_acl(Name=acl["Name"], Scope="REGIONAL", Id=acl["Id"])["WebACL"]
    return [(r["Name"], r["Priority"], next(iter(r.get("Action") or r.get("OverrideAction")))) for r in
            sorted(found["Rules"], key=lambda r: r["Priority"])]


def test_blocking_adds_the_addresses_through_irflows_ip_sets(world: World, acl: dict[str, Any], clock: ManualClock,
                                                            calls: CallLog) -> None:
    with calls.checking("block-ip-addresses"):
        result = block(blocking(acl, ["198.51.100.7", "203.0.113.45", "2001:db8::21"]))
    assert result["expires_at"] == "2025-03-14T10:30:00Z"
    assert ip_set(world, "irflow-blocked-ipv4") == ["198.51.100.7/32", "203.0.113.45/32"]
    assert ip_set(world, "irflow-blocked-ipv6") == ["2001:db8::21/128"]
    assert rules(world, acl) == [("irflow-blocked-ipv6", 0, "Block"), ("irflow-blocked-ipv4", 1, "Block"),
                                 ("sqli", 2, "None")]
    acl_state = get_original_state(INCIDENT.incident_id, f"waf-web-acl:{acl['ARN']}")
    assert acl_state is not None and [r["Name"] for r in acl_state["rules"]] == ["sqli"]  # before irflow's rules
    set_arn = result["ip_sets"][0]["arn"]
    assert get_original_state(INCIDENT.incident_id, f"waf-ip-set:{set_arn}") == {"addresses": [],
                                                                                "created_by_irflow": True}
    (action,) = load_incident(INCIDENT.incident_id)["action_detail"]
    assert action["name"] == "block-ip-addresses" and action["detail"]["approved_by"] == "alice@example.com"
    again = block(blocking(acl, ["198.51.100.7"]))  # a rerun adds nothing, changes no rule
    assert again["rules_added"] == [] and ip_set(world, "irflow-blocked-ipv4") == ["198.51.100.7/32", "203.0.113.45/32"]


def test_the_expiry_removes_only_what_nobody_blocks_any_longer(world: World, acl: dict[str, Any],
                                                              clock: ManualClock, calls: CallLog) -> None:
    first = block(blocking(acl, ["198.51.100.7", "203.0.113.45"], seconds=3600))
    clock.tick(1800)
    later = INCIDENT.model_copy(update={"incident_id": "inc-0000000000000002"})
    open_incident(later.model_dump(), {}, None)
    block(blocking(acl, ["203.0.113.45"], incident=later, seconds=7200))  # blocked again, until 12:00
    clock.tick(1800)
    with calls.checking("unblock-ip-addresses"):
        result = unblock(UnblockInput.model_validate({"incident": INCIDENT.model_dump(), "ip_sets": first["ip_sets"],
                                                      "expires_at": first["expires_at"]}))
    assert result["removed"] == ["198.51.100.7/32"]
    assert result["kept"] == [{"address": "203.0.113.45/32", "until": "2025-03-14T12:00:00Z", "by": later.incident_id}]
    assert ip_set(world, "irflow-blocked-ipv4") == ["203.0.113.45/32"]
    unblock(UnblockInput.model_validate({"incident": INCIDENT.model_dump(), "ip_sets": first["ip_sets"],
                                         "expires_at": first["expires_at"]}))  # twice: nothing more removed
    assert ip_set(world, "irflow-blocked-ipv4") == ["203.0.113.45/32"]


def test_addresses_someone_else_blocked_are_left_alone(world: World, acl: dict[str, Any], clock: ManualClock) -> None:
    world.client("wafv2", MEMBER).create_ip_set(Name="irflow-blocked-ipv4", Scope="REGIONAL", IPAddressVersion="IPV4",
                                                 Addresses=["198.51.100.7/32"], Description="added by hand")
    result = block(blocking(acl, ["198.51.100.7", "203.0.113.45"]))
    assert result["left_alone"] == ["198.51.100.7/32"] and result["blocked"] == ["203.0.113.45/32"]
    clock.tick(3600)
    unblock(UnblockInput.model_validate({"incident": INCIDENT.model_dump(), "ip_sets": result["ip_sets"],
                                         "expires_at": result["expires_at"]}))
    assert ip_set(world, "irflow-blocked-ipv4") == ["198.51.100.7/32"]


def test_blocking_on_a_deleted_web_acl_creates_nothing(world: World, acl: dict[str, Any], clock: ManualClock) -> None:
    client = world.client("wafv2", MEMBER)
    token = client.get_web_acl(Name=acl["Name"], Scope="REGIONAL", Id=acl["Id"])["LockToken"]
    client.delete_web_acl(Name=acl["Name"], Scope="REGIONAL", Id=acl["Id"], LockToken=token)
    with pytest.raises(waf.WebAclNotFound):
        block(blocking(acl, ["198.51.100.7"]))
    assert client.list_ip_sets(Scope="REGIONAL")["IPSets"] == []


# --- Shield ---------------------------------------------------------------------------------------------


def _alb(world: World, protected: bool) -> str:
    ec2 = world.client("ec2", MEMBER)
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:2]
    arn: str = world.client("elbv2", MEMBER).create_load_balancer(Name="shop", Subnets=subnets)["LoadBalancers"][0][
        "LoadBalancerArn"]
    if protected:
        world.client("shield", MEMBER, "us-east-1").create_protection(Name="shop-protection", ResourceArn=arn)
    return arn


def test_the_protected_resource_and_its_protection_are_kept(world: World, calls: CallLog) -> None:
    arn = _alb(world, protected=True)
    incident = INCIDENT.model_copy(update={"resource_type": "shield-protected-resource", "resource_id": arn})
    with calls.checking("describe-protected-resource"):
        result = describe(ProtectedResourceInput(incident=incident, resource_arn=arn))
    assert result["resource"]["kind"] == "load-balancer" and result["resource"]["state"] == "active"
    assert result["protection"]["name"] == "shop-protection" and result["name"] == "shop"
    assert result["summary"] == "DDoS detected on load-balancer shop, Shield Advanced protection shop-protection"
    kept = json.loads(evidence_body(world, result["evidence"]["uri"]))
    assert kept["resourceArn"] == arn and kept["protection"]["id"] == result["protection"]["id"]


def test_an_unprotected_or_deleted_resource(world: World) -> None:
    arn = _alb(world, protected=False)
    incident = INCIDENT.model_copy(update={"resource_type": "shield-protected-resource", "resource_id": arn})
    assert describe(ProtectedResourceInput(incident=incident, resource_arn=arn))["protection"] is None
    world.client("elbv2", MEMBER).delete_load_balancer(LoadBalancerArn=arn)
    with pytest.raises(ResourceGone, match="no longer exists"):
        describe(ProtectedResourceInput(incident=incident, resource_arn=arn))
