"""A small world of tasks for rule tests, shaped like the real registry's."""

from __future__ import annotations

from pathlib import Path

from irflow.authoring.catalog import Catalog, TaskInfo

FIXTURES = Path(__file__).parent / "fixtures"

CATALOG = Catalog.of(
    [
        TaskInfo("enrich-instance", "EnrichInstanceFunctionArn"),
        TaskInfo("snapshot-volumes", "SnapshotVolumesFunctionArn", evidence=True),
        TaskInfo("collect-volatile", "CollectVolatileFunctionArn", evidence=True),
        TaskInfo("isolate-instance", "IsolateInstanceFunctionArn"),
        TaskInfo("request-approval", "RequestApprovalFunctionArn"),
        TaskInfo("remediate-instance", "RemediateInstanceFunctionArn", destructive=True),
        TaskInfo("notify", "NotifyFunctionArn"),
        TaskInfo("record", "RecordFunctionArn"),
    ],
    ["EvidenceBucket", "NotificationTopicArn"],
)
