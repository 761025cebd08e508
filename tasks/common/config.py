"""Where the tasks find the central resources: environment variables set on every function.

The deploy templates and the local runtime (`irflow/local/`) set the same names, so a task never
knows which of the two it runs in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

MEMBER_ROLE_NAME_DEFAULT = "IrflowMemberRole"

# The incidents table has a composite key; every item kind shares it (tasks/common/incidents.py).
#   incident:        pk = "INCIDENT#<incident id>", sk = "META"  (status, finding, severity, resource, times)
#   timeline entry:  pk = "INCIDENT#<incident id>", sk = "EVENT#<iso time>#<seq>#<rand>"  (step, message, failure)
#   action:          pk = "INCIDENT#<incident id>", sk = "ACTION#<name>#<target>"  (result, time, detail)
#   evidence:        pk = "INCIDENT#<incident id>", sk = "EVIDENCE#<s3 uri>"  (sha256, kind, size, version)
#   original state:  pk = "INCIDENT#<incident id>", sk = "ORIGINAL#<instance id>"  (before isolation)
#   approval (copy): pk = "INCIDENT#<incident id>", sk = "APPROVAL#<approval id>"  (decision, by, when; no token)
#   approval:        pk = "APPROVAL#<approval id>", sk = "META"  (status, the task token while pending)
#   refused event:   pk = "REJECTED#<execution name>", sk = "META"  (error, cause)
TABLE_PARTITION_KEY = "pk"
TABLE_SORT_KEY = "sk"


@dataclass(frozen=True)
class Settings:
    evidence_bucket: str
    incidents_table: str
    topic_arn: str
    member_role_name: str
    external_id: str
    region: str
    approval_url: str = ""  # base of approval links, ".../approvals" (the approval API, or the local server)
    approval_key_secret: str = ""  # Secrets Manager secret holding the HMAC key that signs approval links
    approvers_parameter: str = ""  # SSM parameter: who may decide, per playbook (tasks/common/approval_gate.py)
    event_bus: str = "default"  # the bus the playbooks' triggers listen on (tasks that put events there)


def settings() -> Settings:
    """Read the settings now (not at import): tests and the local runtime set them late."""
    env = os.environ
    return Settings(
        evidence_bucket=env.get("IRFLOW_EVIDENCE_BUCKET", ""),
        incidents_table=env.get("IRFLOW_INCIDENTS_TABLE", ""),
        topic_arn=env.get("IRFLOW_TOPIC_ARN", ""),
        member_role_name=env.get("IRFLOW_MEMBER_ROLE_NAME", MEMBER_ROLE_NAME_DEFAULT),
        external_id=env.get("IRFLOW_EXTERNAL_ID", ""),
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        approval_url=env.get("IRFLOW_APPROVAL_URL", "").rstrip("/"),
        approval_key_secret=env.get("IRFLOW_APPROVAL_KEY_SECRET_ARN", ""),
        approvers_parameter=env.get("IRFLOW_APPROVERS_PARAMETER", ""),
        event_bus=env.get("IRFLOW_EVENT_BUS") or "default",
    )
