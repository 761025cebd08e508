"""STS guard: AssumeRole obeys the role's trust policy, as it does on AWS.

moto gap filled: moto's `AssumeRole` hands out credentials for any role ARN, whether the role
exists or not, and never reads its trust policy or the `ExternalId` condition (see
`moto-notes.md`). irflow's cross-account step depends on exactly that refusal, so the local
runtime wraps moto's STS response handler: before moto creates the session, the guard looks the
role up in the target account and evaluates its trust policy against the caller and the request.
A missing role, a caller the policy does not name, or a wrong or missing `ExternalId` fails with
HTTP 403 `AccessDenied` and AWS's message; nothing is created.

What is evaluated: `Allow`/`Deny` statements whose action matches `sts:AssumeRole`; principals
`*`, an account id, `arn:aws:iam::<account>:root`, a user or role ARN; condition operators
`StringEquals`, `StringLike`, `StringNotEquals`, `StringNotLike` (each with `IfExists`), `Bool` and
`Null` on the keys `sts:ExternalId`, `aws:PrincipalAccount`, `aws:PrincipalArn`,
`sts:RoleSessionName`. Anything else in a condition (for example `aws:PrincipalOrgID`, as the
embedded AWS has no organisation) does not match, so the guard fails closed. The caller's own
identity policy (its permission to call `sts:AssumeRole`) is not evaluated.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from .patching import Patches

ASSUME_ROLE = "sts:AssumeRole"


@dataclass(frozen=True)
class Caller:
    """Who is calling STS: the account and the principal ARNs a trust policy may name."""

    account: str
    arn: str
    role_arn: str | None = None  # for an assumed-role session, the role it came from


@dataclass(frozen=True)
class AssumeRequest:
    role_arn: str
    external_id: str | None
    session_name: str | None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _action_matches(statement: dict[str, Any]) -> bool:
    if "NotAction" in statement:
        return not any(fnmatch.fnmatch(ASSUME_ROLE.lower(), a.lower()) for a in _as_list(statement["NotAction"]))
    return any(fnmatch.fnmatch(ASSUME_ROLE.lower(), str(a).lower()) for a in _as_list(statement.get("Action")))


def _principal_matches(statement: dict[str, Any], caller: Caller) -> bool:
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for entry in _as_list(principal.get("AWS")):
        entry = str(entry)
        if entry == "*":
            return True
        if entry == caller.account or entry == f"arn:aws:iam::{caller.account}:root":
            return True
        if entry in (caller.arn, caller.role_arn):
            return True
    return False


def _context(caller: Caller, request: AssumeRequest) -> dict[str, str | None]:
    return {
        "sts:externalid": request.external_id,
        "aws:principalaccount": caller.account,
        "aws:principalarn": caller.role_arn or caller.arn,
        "sts:rolesessionname": request.session_name,
    }


def _condition_holds(operator: str, key: str, expected: Any, context: dict[str, str | None]) -> bool:
    key = key.lower()
    if key not in context:
        return False  # a key the embedded AWS cannot supply: fail closed
    actual = context[key]
    base, if_exists = (operator[: -len("IfExists")], True) if operator.endswith("IfExists") else (operator, False)
    values = [str(v) for v in _as_list(expected)]
    if base == "Null":
        wants_null = values[0].lower() == "true" if values else True
        return (actual is None) == wants_null
    if actual is None:
        return if_exists
    if base == "StringEquals":
        return actual in values
    if base == "StringNotEquals":
        return actual not in values
    if base == "StringLike":
        return any(fnmatch.fnmatchcase(actual, v) for v in values)
    if base == "StringNotLike":
        return not any(fnmatch.fnmatchcase(actual, v) for v in values)
    if base == "Bool":
        return actual.lower() in (v.lower() for v in values)
    return False  # an operator the guard does not know: fail closed


def _conditions_hold(statement: dict[str, Any], context: dict[str, str | None]) -> bool:
    for operator, entries in (statement.get("Condition") or {}).items():
        for key, expected in entries.items():
            if not _condition_holds(operator, key, expected, context):
                return False
    return True


def trust_allows(policy: dict[str, Any], caller: Caller, request: AssumeRequest) -> bool:
    """Whether the trust policy lets `caller` assume the role with this request (deny wins)."""
    context = _context(caller, request)
    allowed = False
    for statement in _as_list(policy.get("Statement")):
        if not (_action_matches(statement) and _principal_matches(statement, caller)):
            continue
        if not _conditions_hold(statement, context):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed


def _parse_policy(document: str) -> dict[str, Any]:
    text = document if document.lstrip().startswith("{") else unquote(document)
    parsed = json.loads(text)
    return parsed if isinstance(parsed, dict) else {}


def _caller_of(response: Any) -> Caller:
    """The principal behind the request's access key, as moto records it."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    account = response.current_account
    key_id = response.get_access_key()
    iam = iam_backends[account][response.partition]
    key = iam.access_keys.get(key_id)
    if key is not None and key.role_arn:
        session = sts_backends[account][response.partition].get_assumed_role_from_access_key(key_id)
        arn = session.arn if session is not None else key.role_arn
        return Caller(account, arn, key.role_arn)
    if key is not None and key.user_name:
        return Caller(account, f"arn:aws:iam::{account}:user/{key.user_name}")
    return Caller(account, f"arn:aws:iam::{account}:root")


def check_assume_role(response: Any) -> None:
    """Raise AccessDenied (HTTP 403) unless the target role exists and trusts this request."""
    from moto.core.exceptions import AccessDeniedError
    from moto.iam.models import iam_backends

    request = AssumeRequest(
        role_arn=response._get_param("RoleArn") or "",
        external_id=response._get_param("ExternalId"),
        session_name=response._get_param("RoleSessionName"),
    )
    caller = _caller_of(response)
    denied = AccessDeniedError(caller.arn, f"{ASSUME_ROLE} on resource: {request.role_arn}")
    parts = request.role_arn.split(":")
    if len(parts) < 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
        raise denied
    role_account = parts[4]
    try:
        role = iam_backends[role_account][response.partition].get_role_by_arn(request.role_arn)
    except Exception as missing:  # moto's NotFoundException: the role does not exist
        raise denied from missing
    if not trust_allows(_parse_policy(role.assume_role_policy_document), caller, request):
        raise denied


def install(patches: Patches) -> None:
    """Make moto's AssumeRole go through `check_assume_role` first."""
    from moto.sts.responses import TokenResponse

    def guarded(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def assume_role(self: Any) -> Any:
            check_assume_role(self)
            return original(self)

        return assume_role

    patches.wrap(TokenResponse, "assume_role", guarded)
