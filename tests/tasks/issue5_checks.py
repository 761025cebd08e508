"""Least privilege for issue 5's tasks: the AWS calls they make, named as IAM names the actions.

`CallLog` names a call `service:Operation`; for these S3 and S3 Control operations the IAM action
has another name (HeadBucket needs s3:ListBucket, GetPublicAccessBlock is
s3:GetBucketPublicAccessBlock, ...), so they are translated before the comparison.
"""

from __future__ import annotations

from tasks.registry import get

from .conftest import CallLog

IAM_NAMES = {
    "s3:HeadBucket": "s3:ListBucket",
    "s3:GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "s3:PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "s3:GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "s3control:GetPublicAccessBlock": "s3:GetAccountPublicAccessBlock",
    "s3-control:GetPublicAccessBlock": "s3:GetAccountPublicAccessBlock",
    "config-service:DescribeConfigRules": "config:DescribeConfigRules",
}


def assert_declared(calls: CallLog, task: str) -> None:
    """Every call since `calls.mark()` is an action `task` declares."""
    spec = get(task)
    made = {IAM_NAMES.get(action, action) for action in calls.actions()}
    undeclared = made - set(spec.member_permissions) - set(spec.central_permissions)
    assert not undeclared, f"{task} called {sorted(undeclared)} without declaring them"
