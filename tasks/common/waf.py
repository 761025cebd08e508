"""AWS WAF (v2) for the alarm-response tasks: find a web ACL, irflow's block lists in it, and who claimed each address.

irflow blocks addresses through one IP set per address version in a web ACL's scope and region
(`irflow-blocked-ipv4`, `irflow-blocked-ipv6`), created on first use, and one rule per set in the
web ACL (`irflow-blocked-ipv4`, action Block), added on first use ahead of the web ACL's own
rules. Each address irflow adds is claimed in the incidents table (`WAFBLOCK#<IP set ARN>`,
sort key the address) with the time its block expires and the incidents that blocked it: a
later incident blocking the same address extends the claim, and an expiring block removes an
address only when no later claim holds it. Addresses someone else put in the set (no claim)
are never removed by irflow. WAF writes are optimistic (`LockToken`): a write that loses a race
re-reads and tries again.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from . import clock, incidents
from .aws import error_code
from .errors import IrflowError

BLOCK_SET = {"IPV4": "irflow-blocked-ipv4", "IPV6": "irflow-blocked-ipv6"}
CLAIM_PREFIX = "WAFBLOCK#"
LOCK_RETRIES = 5
T = TypeVar("T")


class WebAclNotFound(IrflowError):
    """The web ACL the alarm names no longer exists (or was never in that scope and region)."""


def cidr(address: str) -> str:
    """The IP set form of an address: `198.51.100.7/32`, `2001:db8::1/128`."""
    return str(ipaddress.ip_network(address, strict=False))


def version(address: str) -> str:
    return "IPV6" if ipaddress.ip_network(address, strict=False).version == 6 else "IPV4"


def _listed(list_call: Any, key: str, scope: str) -> Iterator[dict[str, Any]]:
    """Every summary a WAFv2 List* call returns for the scope (its pages follow NextMarker)."""
    request: dict[str, Any] = {"Scope": scope, "Limit": 100}
    while True:
        page = list_call(**request)
        yield from page.get(key, [])
        marker = page.get("NextMarker")
        if not marker or not page.get(key):
            return
        request["NextMarker"] = marker


def web_acls(waf: Any, scope: str) -> Iterator[dict[str, Any]]:
    """Summaries of every web ACL in the scope."""
    return _listed(waf.list_web_acls, "WebACLs", scope)


def find_web_acl(waf: Any, scope: str, metric_name: str) -> tuple[dict[str, Any], str]:
    """(web ACL, lock token) whose CloudWatch metric name (the alarm's `WebACL` dimension) or name is given."""
    by_name = None
    for summary in web_acls(waf, scope):
        found = waf.get_web_acl(Name=summary["Name"], Scope=scope, Id=summary["Id"])
        acl = found["WebACL"]
        if (acl.get("VisibilityConfig") or {}).get("MetricName") == metric_name:
            return acl, str(found["LockToken"])
        if acl["Name"] == metric_name:
            by_name = (acl, str(found["LockToken"]))
    if by_name is not None:
        return by_name
    raise WebAclNotFound(f"no web ACL with the metric name or name {metric_name!r} in scope {scope}: it was deleted "
                         "or renamed after the alarm fired")


def ip_sets(waf: Any, scope: str) -> Iterator[dict[str, Any]]:
    """Summaries of every IP set in the scope."""
    return _listed(waf.list_ip_sets, "IPSets", scope)


def find_ip_set(waf: Any, scope: str, name: str) -> dict[str, Any] | None:
    """The IP set summary (Name, Id, ARN) called `name`, or None."""
    return next((s for s in ip_sets(waf, scope) if s["Name"] == name), None)


def ensure_block_set(waf: Any, scope: str, address_version: str) -> tuple[dict[str, Any], bool]:
    """irflow's block list for the version (created empty if missing); (summary, created)."""
    name = BLOCK_SET[address_version]
    found = find_ip_set(waf, scope, name)
    if found is not None:
        return found, False
    summary = waf.create_ip_set(
        Name=name, Scope=scope, IPAddressVersion=address_version, Addresses=[],
        Description="Addresses irflow blocks during incidents; each block expires (see the incident that added it).",
        Tags=[{"Key": "irflow:managed", "Value": "true"}])["Summary"]
    return summary, True


def get_ip_set(waf: Any, scope: str, summary: dict[str, Any]) -> tuple[dict[str, Any], str]:
    found = waf.get_ip_set(Name=summary["Name"], Scope=scope, Id=summary["Id"])
    return found["IPSet"], str(found["LockToken"])


def change_ip_set(waf: Any, scope: str, summary: dict[str, Any],
                  change: Callable[[list[str]], list[str]]) -> list[str]:
    """Apply `change` to the set's addresses and write them, re-reading when another writer got there first."""
    return with_lock_retry(lambda: _change_once(waf, scope, summary, change))


def _change_once(waf: Any, scope: str, summary: dict[str, Any], change: Callable[[list[str]], list[str]]) -> list[str]:
    current, token = get_ip_set(waf, scope, summary)
    addresses = change(list(current.get("Addresses", [])))
    request: dict[str, Any] = {"Name": summary["Name"], "Scope": scope, "Id": summary["Id"], "Addresses": addresses,
                               "LockToken": token}
    if current.get("Description"):
        request["Description"] = current["Description"]
    waf.update_ip_set(**request)
    return addresses


def with_lock_retry(write: Callable[[], T]) -> T:
    for attempt in range(LOCK_RETRIES):
        try:
            return write()
        except Exception as error:
            if error_code(error) != "WAFOptimisticLockException" or attempt == LOCK_RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def _clean(value: Any) -> Any:
    """A WAF structure as it may be sent back: no null fields (reads return some that writes refuse)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def block_rule(ip_set_arn: str, name: str, priority: int) -> dict[str, Any]:
    return {"Name": name, "Priority": priority, "Action": {"Block": {}},
            "Statement": {"IPSetReferenceStatement": {"ARN": ip_set_arn}},
            "VisibilityConfig": {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": name}}


def references(acl: dict[str, Any], ip_set_arn: str) -> bool:
    """Whether a rule of the web ACL blocks through the IP set."""
    return any((r.get("Statement") or {}).get("IPSetReferenceStatement", {}).get("ARN") == ip_set_arn
               and "Block" in (r.get("Action") or {}) for r in acl.get("Rules") or [])


def add_block_rule(waf: Any, scope: str, acl: dict[str, Any], token: str, ip_set: dict[str, Any]) -> None:
    """Put a Block rule for the IP set ahead of the web ACL's rules, keeping everything else as it is.

    UpdateWebACL replaces the whole web ACL, so every setting read is sent back. The new rule
    takes the priority below the lowest one; when that is 0, the others move up by one, in order.
    """
    rules = [_clean(r) for r in acl.get("Rules") or []]
    lowest = min((int(r["Priority"]) for r in rules), default=1)
    if lowest == 0:
        for rule in rules:
            rule["Priority"] = int(rule["Priority"]) + 1
        lowest = 1
    rules.insert(0, block_rule(ip_set["ARN"], ip_set["Name"], lowest - 1))
    request: dict[str, Any] = {"Name": acl["Name"], "Scope": scope, "Id": acl["Id"],
                               "DefaultAction": _clean(acl["DefaultAction"]), "Rules": rules,
                               "VisibilityConfig": _clean(acl["VisibilityConfig"]), "LockToken": token}
    for key in ("Description", "CustomResponseBodies", "CaptchaConfig", "ChallengeConfig", "TokenDomains",
                "AssociationConfig"):
        if acl.get(key):
            request[key] = _clean(acl[key])
    waf.update_web_acl(**request)


# --- claims in the incidents table ---------------------------------------------------------------


def _claim_key(ip_set_arn: str, address: str) -> dict[str, Any]:
    return incidents.key(CLAIM_PREFIX + ip_set_arn, address)


def claim(ip_set_arn: str, address: str, incident_id: str, expires_at: str, ddb: Any) -> dict[str, Any]:
    """Record that `incident_id` blocks `address` until `expires_at` (a later expiry wins); returns the claim."""
    table = incidents._table()
    values = {":exp": incidents.to_ddb(expires_at), ":inc": incidents.to_ddb(incident_id),
              ":incs": {"SS": [incident_id]}, ":now": incidents.to_ddb(clock.iso())}
    try:
        result = ddb.update_item(
            TableName=table, Key=_claim_key(ip_set_arn, address),
            UpdateExpression="SET expires_at = :exp, incident_id = :inc, updated_at = :now ADD incidents :incs",
            ConditionExpression="attribute_not_exists(expires_at) OR expires_at < :exp",
            ExpressionAttributeValues=values, ReturnValues="ALL_NEW")
    except Exception as error:
        if error_code(error) != "ConditionalCheckFailedException":
            raise
        result = ddb.update_item(TableName=table, Key=_claim_key(ip_set_arn, address),
                                 UpdateExpression="ADD incidents :incs",
                                 ExpressionAttributeValues={":incs": values[":incs"]}, ReturnValues="ALL_NEW")
    return incidents.from_ddb(result["Attributes"])


def get_claim(ip_set_arn: str, address: str, ddb: Any) -> dict[str, Any] | None:
    found = ddb.get_item(TableName=incidents._table(), Key=_claim_key(ip_set_arn, address),
                         ConsistentRead=True).get("Item")
    return incidents.from_ddb(found) if found else None


def release(ip_set_arn: str, address: str, now: str, ddb: Any) -> bool:
    """Drop the claim if it has expired (True: the address may leave the set); False while a later block holds it."""
    try:
        ddb.delete_item(TableName=incidents._table(), Key=_claim_key(ip_set_arn, address),
                        ConditionExpression="attribute_not_exists(expires_at) OR expires_at <= :now",
                        ExpressionAttributeValues={":now": incidents.to_ddb(now)})
    except Exception as error:
        if error_code(error) == "ConditionalCheckFailedException":
            return False
        raise
    return True
