"""Made-up tasks and playbooks for the deploy tests."""

from __future__ import annotations

import json
from pathlib import Path

from irflow.local.playbooks import Playbook
from tasks.registry import TaskSpec


def spec(name: str, member: tuple[str, ...] = (), central: tuple[str, ...] = (), **extra: object) -> TaskSpec:
    module = "tasks." + name.replace("-", "_")
    return TaskSpec(name=name, module=module, handler=f"{module}.handler", member_permissions=member,
                    central_permissions=central, destructive=False, example={}, **extra)  # type: ignore[arg-type]


def playbook(name: str, states: dict[str, object], triggers: list[dict[str, object]],
             policy: dict[str, object] | None = None, placeholders: dict[str, str] | None = None) -> Playbook:
    definition = json.dumps({"StartAt": next(iter(states)), "States": states}, indent=2)
    return Playbook(name=name, description="", directory=Path("/nonexistent"), definition=definition,
                    triggers=triggers, policy=policy or {}, placeholders=placeholders or {})


ISOLATE_MEMBER_ACTIONS = ("ec2:DescribeInstances", "ec2:ModifyInstanceAttribute", "ec2:CreateSnapshot",
                          "autoscaling:DetachInstances", "elasticloadbalancing:DeregisterTargets",
                          "iam:PutRolePolicy", "ssm:SendCommand", "s3:PutBucketPolicy")
