"""SNS notifications: a short subject and a plain-text body that reads well in email and chat.

Subjects are trimmed to SNS's 100 printable ASCII characters; message attributes (incident id,
kind, severity) let subscribers filter. Nothing secret goes in: approvals are named by their
approval id, never by a task token.
"""

from __future__ import annotations

from typing import Any

from .aws import client
from .config import settings

SUBJECT_LIMIT = 100


def subject_line(text: str) -> str:
    """Printable ASCII, one line, at most 100 characters (SNS's rule for Subject)."""
    clean = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in " ".join(text.split()))
    return clean if len(clean) <= SUBJECT_LIMIT else clean[: SUBJECT_LIMIT - 3] + "..."


def publish(subject: str, message: str, attributes: dict[str, str], sns: Any = None) -> str:
    """Publish to the irflow topic; returns the message id."""
    topic = settings().topic_arn
    if not topic:
        raise RuntimeError("IRFLOW_TOPIC_ARN is not set")
    response = (sns or client("sns")).publish(
        TopicArn=topic, Subject=subject_line(subject), Message=message,
        MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items() if v})
    return str(response["MessageId"])
