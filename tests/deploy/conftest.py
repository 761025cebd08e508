"""Fixtures for the deploy tests: the real registry and playbooks, and a small made-up world of them."""

from __future__ import annotations

import pytest

from irflow.deploy.templates import Sources
from irflow.local import speed

from .helpers import ISOLATE_MEMBER_ACTIONS, playbook, spec

speed.apply()


@pytest.fixture(scope="session")
def sources() -> Sources:
    """What `irflow deploy` generates from: `tasks.registry.all_tasks()` and `workflows/*`."""
    return Sources.load()


@pytest.fixture(scope="session")
def small() -> Sources:
    """Three tasks (one acting in member accounts) and one playbook with two triggers."""
    tasks = (
        spec("parse-finding"),
        spec("isolate-instance", ISOLATE_MEMBER_ACTIONS, ("dynamodb:PutItem", "s3:PutObject", "sns:Publish"),
             timeout_seconds=120),
        spec("request-approval", (), ("dynamodb:PutItem", "sns:Publish", "secretsmanager:GetSecretValue")),
    )
    states = {
        "Parse": {"Type": "Task", "Resource": "${ParseFindingFunctionArn}", "Next": "Approve"},
        "Approve": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                    "Parameters": {"FunctionName": "${RequestApprovalFunctionArn}",
                                   "Payload": {"token.$": "$$.Task.Token", "bucket": "${EvidenceBucketName}",
                                               "note": "${ApprovalNote}"}},
                    "TimeoutSeconds": 3600, "Next": "Isolate"},
        "Isolate": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": "${IsolateInstanceFunctionArn}", "Payload.$": "$"},
                    "Next": "Tell"},
        "Tell": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                 "Parameters": {"TopicArn": "${NotificationTopicArn}", "Message": "done"}, "End": True},
    }
    triggers: list[dict[str, object]] = [
        {"source": ["aws.guardduty"], "detail-type": ["GuardDuty Finding"],
         "detail": {"resource": {"resourceType": ["Instance"]}, "severity": [{"numeric": [">=", 4]}]}},
        {"source": ["irflow.manual"], "detail-type": ["Start ec2-compromise"]},
    ]
    book = playbook("ec2-compromise", states, triggers, policy={"approval": {"note": 'say "why"'}},
                    placeholders={"approval.note": "ApprovalNote"})
    return Sources(tasks, (book,))
