"""boto3 clients for the tasks: created lazily, never at import, and member-account sessions.

Central clients (incidents table, evidence bucket, topic, STS) are cached per service, region
and credentials, so a warm Lambda reuses them and a local runtime that swaps credentials gets
fresh ones. A member account is reached only through `member_session`, which assumes
`IrflowMemberRole` with the deployment's ExternalId and a session name carrying the incident id
(so the member account's CloudTrail shows which incident acted). Credentials stay inside the
returned session: they are never returned to Step Functions or logged.
"""

from __future__ import annotations

import os
from typing import Any

from .config import settings
from .errors import AccessDenied

THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded", "TooManyRequestsException",
    "ProvisionedThroughputExceededException", "RequestThrottled", "RequestThrottledException", "SlowDown",
    "RequestLimitExceededException",
})
ACCESS_DENIED_CODES = frozenset({
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess", "AuthFailure",
    "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException",
})
SESSION_SECONDS = 900  # the shortest AssumeRole allows: a task finishes well within it

_clients: dict[tuple[str, str, str], Any] = {}


def _boto_config(service: str) -> Any:
    from botocore.config import Config

    # Standard retry mode already backs off on throttling; the playbook's Retry covers the rest.
    config = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5, read_timeout=30)
    if service == "s3":  # presigned URLs signed with SigV4 (X-Amz-Expires), never the legacy scheme
        config = config.merge(Config(signature_version="s3v4"))
    return config


def client(service: str, region: str | None = None) -> Any:
    """A client in the central (security) account, with the function's own credentials."""
    import boto3

    region = region or settings().region
    key = (service, region, os.environ.get("AWS_ACCESS_KEY_ID", ""))
    if key not in _clients:
        make: Any = boto3.client  # any service name, not only those the stubs know
        _clients[key] = make(service, region_name=region, config=_boto_config(service))
    return _clients[key]


def member_role_arn(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:role/{settings().member_role_name}"


def session_name(incident_id: str) -> str:
    """`irflow-<incident id>`, within STS's 64-character limit."""
    return f"irflow-{incident_id}"[:64]


def member_session(account_id: str, incident_id: str, region: str | None = None, sts: Any = None) -> Any:
    """A boto3 Session in `account_id` as IrflowMemberRole; `irflow.AccessDenied` when refused."""
    import boto3
    from botocore.exceptions import ClientError

    role_arn = member_role_arn(account_id)
    request: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": session_name(incident_id),
                               "DurationSeconds": SESSION_SECONDS}
    external_id = settings().external_id
    if external_id:
        request["ExternalId"] = external_id
    try:
        credentials = (sts or client("sts")).assume_role(**request)["Credentials"]
    except ClientError as error:
        if error_code(error) in ACCESS_DENIED_CODES:
            raise AccessDenied(f"cannot assume {role_arn} (ExternalId {'set' if external_id else 'not set'}): "
                               f"{error_message(error)}") from None
        raise
    return boto3.Session(aws_access_key_id=credentials["AccessKeyId"],
                         aws_secret_access_key=credentials["SecretAccessKey"],
                         aws_session_token=credentials["SessionToken"],
                         region_name=region or settings().region)


def session_client(session: Any, service: str, region: str | None = None) -> Any:
    """A client from a member session, with the same retry settings as central clients."""
    return session.client(service, region_name=region or session.region_name, config=_boto_config(service))


def error_code(error: BaseException) -> str | None:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def error_message(error: BaseException) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        message = response.get("Error", {}).get("Message")
        if message:
            return str(message)
    return str(error)


def is_throttling(error: BaseException) -> bool:
    return error_code(error) in THROTTLING_CODES


def is_access_denied(error: BaseException) -> bool:
    return error_code(error) in ACCESS_DENIED_CODES
