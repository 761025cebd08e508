"""Scenario resource kinds for the alarm and log-detection playbooks: WAF web ACLs and IP sets, load balancers, log groups.

`scenario.py` lists these kinds beside issue 3's; this module checks their options, creates
them in the embedded AWS and reads them back for `irflow simulate --json`.

    shop_acl:
      type: waf-web-acl
      scope: REGIONAL            # or CLOUDFRONT (then the region is us-east-1)
      metric_name: shop-acl      # the web ACL's CloudWatch metric name (its WebACL dimension); default: the name
      rules:                     # default: AWS's managed SQL injection rule group, metric SQLiRuleSet
        - {name: sqli, metric_name: SQLiRuleSet, managed_rule_group: AWSManagedRulesSQLiRuleSet}
        - {name: rate-limit, metric_name: RateLimit, rate_limit: 2000}
      sampled_requests:          # what WAF sampled, per rule metric name (GetSampledRequests' SampledHTTPRequest)
        SQLiRuleSet:
          - {Request: {ClientIP: 198.51.100.7, Country: NL, URI: /search, Method: GET, HTTPVersion: HTTP/1.1,
                       Headers: [{Name: Host, Value: shop.example.com}]},
             Weight: 12, Timestamp: "2025-01-01T08:57:10Z", Action: BLOCK,
             RuleNameWithinRuleGroup: "AWS#AWSManagedRulesSQLiRuleSet#SQLi_QUERYARGUMENTS"}
      deleted: true              # created, then deleted before any event (the resource no longer exists)
    old_blocks:
      type: waf-ip-set
      scope: REGIONAL
      name: irflow-blocked-ipv4  # default: the resource name
      ip_version: IPV4
      addresses: [192.0.2.10/32]
    shop_alb:
      type: load-balancer        # an internet-facing application load balancer in the default VPC
      shield_protected: true     # a Shield Advanced protection for it (DDoSDetected alarms name protected resources)
      deleted: true              # created, then deleted before any event
    trail_logs:
      type: log-group
      name: /irflow/cloudtrail   # default: /irflow/<resource name>
      subscribed: true           # a subscription filter delivering to the log-detection function (default)

A log group defaults to the security account, where the log-detection function runs: CloudWatch
Logs delivers to a Lambda function in the log group's own account only. The function is
registered in moto's Lambda service for that (`subscriptions.register_function`).

After-state: waf-web-acl `{"name", "id", "scope", "exists", "rules": [{"name", "priority", "action"}],
"blockedAddresses": [...]}` (the addresses of the IP sets its Block rules reference); waf-ip-set
`{"name", "id", "addresses"}`; load-balancer `{"name", "arn", "exists", "state", "shieldProtected"}`;
log-group `{"name", "exists", "subscriptionFilters": [{"name", "destination"}]}`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .world import World

if TYPE_CHECKING:
    from .scenario import Created, ResourceSpec

TYPES = ("waf-web-acl", "waf-ip-set", "load-balancer", "log-group")
OPTIONS = {
    "waf-web-acl": {"scope", "metric_name", "rules", "sampled_requests", "deleted"},
    "waf-ip-set": {"scope", "name", "ip_version", "addresses"},
    "load-balancer": {"shield_protected", "deleted"},
    "log-group": {"name", "subscribed"},
}
SCOPES = ("REGIONAL", "CLOUDFRONT")
WAF_NAME = re.compile(r"^[\w-]{1,128}$")
LOG_GROUP_NAME = re.compile(r"^[.\-_/#A-Za-z0-9]{1,512}$")
RULE_KEYS = {"name", "metric_name", "priority", "managed_rule_group", "rate_limit", "action"}
DEFAULT_RULES = [{"name": "sqli", "metric_name": "SQLiRuleSet", "managed_rule_group": "AWSManagedRulesSQLiRuleSet"}]
DETECTION_FUNCTION = "log-detection"
SUBSCRIPTION_FILTER = "irflow-log-detection"


def check(kind: str, body: dict[str, Any]) -> str | None:
    """The problem with a resource's options, in a few words, or None."""
    scope = body.get("scope", "REGIONAL")
    if kind in ("waf-web-acl", "waf-ip-set") and scope not in SCOPES:
        return f"scope must be REGIONAL or CLOUDFRONT, not {scope!r}"
    if kind == "waf-web-acl":
        return _check_acl(body)
    if kind == "waf-ip-set":
        if "name" in body and not (isinstance(body["name"], str) and WAF_NAME.match(body["name"])):
            return "name must be 1-128 letters, digits, _ or -"
        version = body.get("ip_version", "IPV4")
        if version not in ("IPV4", "IPV6"):
            return "ip_version must be IPV4 or IPV6"
        addresses = body.get("addresses", [])
        if not isinstance(addresses, list):
            return "addresses must be a list of CIDR blocks"
        for address in addresses:
            try:
                network = ipaddress.ip_network(str(address), strict=False)
            except ValueError:
                return f"addresses: {address!r} is not an address or CIDR block"
            if f"IPV{network.version}" != version:
                return f"addresses: {address} is not an {version} address"
    if kind == "load-balancer":
        for option in ("shield_protected", "deleted"):
            if not isinstance(body.get(option, False), bool):
                return f"{option} must be true or false"
    if kind == "log-group":
        if "name" in body and not (isinstance(body["name"], str) and LOG_GROUP_NAME.match(body["name"])):
            return "name must be a log group name (letters, digits, and . - _ / #)"
        if not isinstance(body.get("subscribed", True), bool):
            return "subscribed must be true or false"
    return None


def _check_acl(body: dict[str, Any]) -> str | None:
    if "metric_name" in body and not (isinstance(body["metric_name"], str) and WAF_NAME.match(body["metric_name"])):
        return "metric_name must be 1-128 letters, digits, _ or -"
    if not isinstance(body.get("deleted", False), bool):
        return "deleted must be true or false"
    rules = body.get("rules", DEFAULT_RULES)
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        return "rules must be a list of mappings"
    for rule in rules:
        unknown = set(rule) - RULE_KEYS
        if unknown:
            return f"rules: unknown key {sorted(unknown)[0]!r} (allowed: {', '.join(sorted(RULE_KEYS))})"
        if not isinstance(rule.get("name"), str) or not WAF_NAME.match(rule["name"]):
            return "rules: every rule needs a name of 1-128 letters, digits, _ or -"
        if ("managed_rule_group" in rule) == ("rate_limit" in rule):
            return f"rules: rule {rule['name']} needs exactly one of managed_rule_group or rate_limit"
    samples = body.get("sampled_requests", {})
    if not isinstance(samples, dict) or not all(isinstance(v, list) for v in samples.values()):
        return "sampled_requests must map rule metric names to lists of sampled requests"
    for metric, items in samples.items():
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("Request"), dict) \
                    or "ClientIP" not in item["Request"] or "Timestamp" not in item:
                return f"sampled_requests.{metric}: each sample needs Request.ClientIP and Timestamp"
    return None


# --- creating --------------------------------------------------------------------------------------


def _waf(world: World, account: str, region: str, scope: str) -> Any:
    return world.client("wafv2", account, region if scope == "REGIONAL" else "us-east-1")


def _visibility(metric: str) -> dict[str, Any]:
    return {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": metric}


def _rule(rule: dict[str, Any], priority: int) -> dict[str, Any]:
    metric = str(rule.get("metric_name", rule["name"]))
    out: dict[str, Any] = {"Name": rule["name"], "Priority": int(rule.get("priority", priority)),
                           "VisibilityConfig": _visibility(metric)}
    if "managed_rule_group" in rule:
        out["Statement"] = {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": rule["managed_rule_group"]}}
        out["OverrideAction"] = {"None": {}}
    else:
        out["Statement"] = {"RateBasedStatement": {"Limit": int(rule["rate_limit"]), "AggregateKeyType": "IP"}}
        out["Action"] = {str(rule.get("action", "Block")).capitalize(): {}}
    return out


def _make_web_acl(world: World, spec: ResourceSpec, account: str, region: str) -> Created:
    from .scenario import Created

    options = spec.options
    scope = options.get("scope", "REGIONAL")
    region = region if scope == "REGIONAL" else "us-east-1"
    waf = _waf(world, account, region, scope)
    rules = [_rule(r, (i + 1) * 10) for i, r in enumerate(options.get("rules", DEFAULT_RULES))]
    summary = waf.create_web_acl(Name=spec.name, Scope=scope, DefaultAction={"Allow": {}}, Rules=rules,
                                 VisibilityConfig=_visibility(options.get("metric_name", spec.name)),
                                 Description=f"{spec.name} (scenario)",
                                 Tags=[{"Key": k, "Value": str(v)} for k, v in (options.get("tags") or {}).items()]
                                 or [{"Key": "Name", "Value": spec.name}])["Summary"]
    for metric, samples in (options.get("sampled_requests") or {}).items():
        world.waf_samples.add(summary["ARN"], str(metric), samples)
    if options.get("deleted"):
        waf.delete_web_acl(Name=spec.name, Scope=scope, Id=summary["Id"], LockToken=summary["LockToken"])
    return Created(spec, summary["Id"], summary["ARN"], spec.name, account, region, {"scope": scope})


def _make_ip_set(world: World, spec: ResourceSpec, account: str, region: str) -> Created:
    from .scenario import Created

    options = spec.options
    scope = options.get("scope", "REGIONAL")
    region = region if scope == "REGIONAL" else "us-east-1"
    name = str(options.get("name", spec.name))
    summary = _waf(world, account, region, scope).create_ip_set(
        Name=name, Scope=scope, IPAddressVersion=options.get("ip_version", "IPV4"),
        Addresses=[str(ipaddress.ip_network(str(a), strict=False)) for a in options.get("addresses", [])],
        Description=f"{name} (scenario)")["Summary"]
    return Created(spec, summary["Id"], summary["ARN"], name, account, region, {"scope": scope})


def _make_load_balancer(world: World, spec: ResourceSpec, account: str, region: str) -> Created:
    from .scenario import Created

    ec2 = world.client("ec2", account, region)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    by_zone = {s["AvailabilityZone"]: s["SubnetId"] for s in subnets}
    elb = world.client("elbv2", account, region)
    name = spec.name.replace("_", "-")[:32]
    lb = elb.create_load_balancer(Name=name, Subnets=sorted(by_zone.values())[:2], Scheme="internet-facing",
                                  Type="application",
                                  Tags=[{"Key": str(k), "Value": str(v)} for k, v in (spec.options.get("tags") or {}).items()]
                                  or [{"Key": "Name", "Value": name}])["LoadBalancers"][0]
    arn = lb["LoadBalancerArn"]
    if spec.options.get("shield_protected"):
        world.client("shield", account, "us-east-1").create_protection(Name=f"{name}-protection", ResourceArn=arn)
    if spec.options.get("deleted"):
        elb.delete_load_balancer(LoadBalancerArn=arn)
    return Created(spec, arn, arn, name, account, region)


def _make_log_group(world: World, spec: ResourceSpec, account: str, region: str) -> Created:
    from .scenario import Created
    from .subscriptions import register_function

    name = str(spec.options.get("name", f"/irflow/{spec.name}"))
    logs = world.client("logs", account, region)
    logs.create_log_group(logGroupName=name, tags={str(k): str(v) for k, v in (spec.options.get("tags") or {}).items()}
                          or {"irflow:scenario": spec.name})
    if spec.options.get("subscribed", True):
        function_arn = register_function(world, DETECTION_FUNCTION, account, region)
        logs.put_subscription_filter(logGroupName=name, filterName=SUBSCRIPTION_FILTER, filterPattern="",
                                     destinationArn=function_arn)
    arn = f"arn:aws:logs:{region}:{account}:log-group:{name}"
    return Created(spec, name, arn, name, account, region)


def make(world: World, spec: ResourceSpec, account: str | None, region: str) -> Created:
    """Create a resource of one of these kinds (a log group defaults to the security account)."""
    makers: dict[str, Callable[[World, ResourceSpec, str, str], Created]] = {
        "waf-web-acl": _make_web_acl, "waf-ip-set": _make_ip_set, "load-balancer": _make_load_balancer,
        "log-group": _make_log_group}
    default = world.security_account if spec.type == "log-group" else None
    chosen = spec.account or default or account
    assert chosen is not None
    return makers[spec.type](world, spec, chosen, region)


# --- reading back ----------------------------------------------------------------------------------


def _web_acl_state(world: World, created: Created) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    scope = created.extra.get("scope", "REGIONAL")
    waf = _waf(world, created.account, created.region, scope)
    state: dict[str, Any] = {"name": created.name, "id": created.id, "scope": scope}
    try:
        acl = waf.get_web_acl(Name=created.name, Scope=scope, Id=created.id)["WebACL"]
    except ClientError:
        return {**state, "exists": False, "rules": [], "blockedAddresses": []}
    rules = sorted(acl.get("Rules") or [], key=lambda r: r["Priority"])
    blocked: set[str] = set()
    sets = {s["ARN"]: s for s in waf.list_ip_sets(Scope=scope, Limit=100).get("IPSets", [])}
    for rule in rules:
        reference = (rule.get("Statement") or {}).get("IPSetReferenceStatement", {}).get("ARN")
        if reference in sets and "Block" in (rule.get("Action") or {}):
            found = waf.get_ip_set(Name=sets[reference]["Name"], Scope=scope, Id=sets[reference]["Id"])["IPSet"]
            blocked.update(found.get("Addresses", []))
    return {**state, "exists": True,
            "rules": [{"name": r["Name"], "priority": r["Priority"],
                       "action": next(iter(r.get("Action") or r.get("OverrideAction") or {"-": {}}))} for r in rules],
            "blockedAddresses": sorted(blocked)}


def _ip_set_state(world: World, created: Created) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    scope = created.extra.get("scope", "REGIONAL")
    waf = _waf(world, created.account, created.region, scope)
    try:
        found = waf.get_ip_set(Name=created.name, Scope=scope, Id=created.id)["IPSet"]
    except ClientError:
        return {"name": created.name, "id": created.id, "addresses": None}
    return {"name": created.name, "id": created.id, "addresses": sorted(found.get("Addresses", []))}


def _load_balancer_state(world: World, created: Created) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    state: dict[str, Any] = {"name": created.name, "arn": created.arn}
    try:
        found = world.client("elbv2", created.account, created.region).describe_load_balancers(
            LoadBalancerArns=[created.arn])["LoadBalancers"]
    except ClientError:
        found = []
    try:
        world.client("shield", created.account, "us-east-1").describe_protection(ResourceArn=created.arn)
        protected = True
    except ClientError:
        protected = False
    return {**state, "exists": bool(found), "state": (found[0].get("State") or {}).get("Code") if found else None,
            "shieldProtected": protected}


def _log_group_state(world: World, created: Created) -> dict[str, Any]:
    logs = world.client("logs", created.account, created.region)
    groups = logs.describe_log_groups(logGroupNamePrefix=created.name).get("logGroups", [])
    if not any(g["logGroupName"] == created.name for g in groups):
        return {"name": created.name, "exists": False, "subscriptionFilters": []}
    filters = logs.describe_subscription_filters(logGroupName=created.name).get("subscriptionFilters", [])
    return {"name": created.name, "exists": True,
            "subscriptionFilters": [{"name": f["filterName"], "destination": f["destinationArn"]} for f in filters]}


def after_state(world: World, created: Created) -> dict[str, Any]:
    readers = {"waf-web-acl": _web_acl_state, "waf-ip-set": _ip_set_state, "load-balancer": _load_balancer_state,
               "log-group": _log_group_state}
    return readers[created.spec.type](world, created)
