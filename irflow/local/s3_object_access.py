"""Bucket policies on object requests, evaluated for the caller and the real action, as S3 does.

moto distortion filled: on an object request moto checks the bucket policy with every GET named
`s3:GetObject` (reading the object's ACL or tags included), every PUT `s3:PutObject`, matches a
statement's `Principal` only when it is `"*"`, and evaluates no condition operator but
`StringEquals` (the others are skipped, so the statement applies). A statement such as
s3-data-exposure's restriction ("deny reading this object to everyone but IrflowMemberRole":
`Principal: *`, `ArnNotEquals aws:PrincipalArn`) therefore denies everyone, the responders
included, and hides the object's ACL and tags as well; on AWS the responders read it and its
ACL stays readable.

How it is filled: while moto answers an object request, the world notes the caller (the
principal behind the access key, found as the STS guard finds it: for a role session, the
role's ARN is `aws:PrincipalArn`) and the action S3 authorises (`GetObject`,
`GetObjectVersion`, `GetObjectAcl`, `GetObjectTagging`, `PutObject`, `PutObjectAcl`,
`PutObjectTagging`, `DeleteObject`...). moto's permission check then evaluates the bucket
policy with them: `Effect`; `Principal` `*`, an account, an account root or a principal ARN;
`Action`/`NotAction` and `Resource` with wildcards; and the condition operators `ArnEquals`,
`ArnNotEquals`, `ArnLike`, `ArnNotLike` and `String(Not)Equals`/`String(Not)Like` (each with
`IfExists`) on `aws:PrincipalArn` and `aws:PrincipalAccount`. A condition on any other key, or
another operator, cannot be judged here: a Deny with one still applies and an Allow does not
(fail closed). Requests moto makes without a caller (internal reads) keep moto's own check.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

from .patching import Patches


@dataclass(frozen=True)
class ObjectRequest:
    principal_arn: str
    account: str
    action: str


_current: ContextVar[ObjectRequest | None] = ContextVar("irflow_s3_object_request", default=None)
SUB_RESOURCES = {"acl": "Acl", "tagging": "Tagging", "retention": "Retention", "legal-hold": "LegalHold"}
VERBS = {"GET": "Get", "HEAD": "Get", "PUT": "Put", "DELETE": "Delete", "POST": "Put"}


def action_of(method: str, query: dict[str, Any]) -> str:
    """The IAM action S3 authorises for an object request."""
    verb = VERBS.get(method.upper(), "Get")
    sub = next((name for key, name in SUB_RESOURCES.items() if key in query), "")
    versioned = "Version" if "versionId" in query and verb in ("Get", "Delete") else ""
    return f"s3:{verb}Object{versioned}{sub}"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _matches(patterns: Any, value: str) -> bool:
    return any(fnmatch.fnmatchcase(value, str(p)) for p in _as_list(patterns))


def _principal_matches(principal: Any, request: ObjectRequest) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for entry in map(str, _as_list(principal.get("AWS"))):
        if entry in ("*", request.account, f"arn:aws:iam::{request.account}:root", request.principal_arn):
            return True
    return False


def _condition_holds(operator: str, key: str, expected: Any, request: ObjectRequest) -> bool | None:
    """True/False when it can be judged here, None when it cannot."""
    context = {"aws:principalarn": request.principal_arn, "aws:principalaccount": request.account}
    if key.lower() not in context:
        return None
    actual = context[key.lower()]
    base = operator[: -len("IfExists")] if operator.endswith("IfExists") else operator
    values = [str(v) for v in _as_list(expected)]
    tests: dict[str, Callable[[], bool]] = {
        "ArnEquals": lambda: actual in values, "StringEquals": lambda: actual in values,
        "ArnNotEquals": lambda: actual not in values, "StringNotEquals": lambda: actual not in values,
        "ArnLike": lambda: _matches(values, actual), "StringLike": lambda: _matches(values, actual),
        "ArnNotLike": lambda: not _matches(values, actual), "StringNotLike": lambda: not _matches(values, actual),
    }
    return tests[base]() if base in tests else None


def _applies(statement: dict[str, Any], action: str, resource: str, request: ObjectRequest) -> bool:
    if "NotAction" in statement:
        if _matches(statement["NotAction"], action):
            return False
    elif not _matches(statement.get("Action"), action):
        return False
    if not _matches(statement.get("Resource", "*"), resource) or not _principal_matches(statement.get("Principal"),
                                                                                         request):
        return False
    deny = statement.get("Effect") == "Deny"
    for operator, entries in (statement.get("Condition") or {}).items():
        for key, expected in (entries or {}).items():
            holds = _condition_holds(str(operator), str(key), expected, request)
            if holds is None:
                return deny  # cannot be judged: fail closed
            if not holds:
                return False
    return True


def evaluate(policy: dict[str, Any], resource: str, request: ObjectRequest) -> str:
    """"DENIED" (an explicit deny), "PERMITTED" (an allow) or "NEUTRAL", for `request` on `resource`."""
    allowed = False
    for statement in _as_list(policy.get("Statement")):
        if isinstance(statement, dict) and _applies(statement, request.action, resource, request):
            if statement.get("Effect") == "Deny":
                return "DENIED"
            allowed = allowed or statement.get("Effect") == "Allow"
    return "PERMITTED" if allowed else "NEUTRAL"


def install(patches: Patches) -> None:
    """Note each object request's caller and action; evaluate bucket policies with them."""
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket
    from moto.s3.responses import S3Response

    from .sts_guard import _caller_of

    def noting(original: Callable[..., Any]) -> Callable[..., Any]:
        def key_response(self: Any, request: Any, full_url: str) -> Any:
            query = parse_qs(urlparse(full_url).query, keep_blank_values=True)
            token = None
            if "Authorization" in request.headers:
                caller = _caller_of(self)
                token = _current.set(ObjectRequest(caller.role_arn or caller.arn, caller.account,
                                                   action_of(request.method, query)))
            try:
                return original(self, request, full_url)
            finally:
                if token is not None:
                    _current.reset(token)

        return key_response

    def evaluating(original: Callable[..., Any]) -> Callable[..., Any]:
        def get_permission(bucket: Any, action: str, resource: str) -> Any:
            request = _current.get()
            if request is None or bucket.policy is None:
                return original(bucket, action, resource)
            policy = json.loads(bucket.policy.decode() if isinstance(bucket.policy, bytes) else bucket.policy)
            return getattr(PermissionResult, evaluate(policy, resource, request))

        return get_permission

    patches.wrap(S3Response, "_key_response", noting)
    patches.wrap(FakeBucket, "get_permission", evaluating)
