"""The evidence store: objects under `incidents/<incident id>/` in the evidence bucket, each with its SHA-256.

Uploads ask S3 for a SHA-256 checksum (`ChecksumAlgorithm="SHA256"`; the bucket's default Object
Lock retention also requires an integrity header), compare the digest S3 reports with the one
computed here, and record the digest in the incident. Objects written by someone else (the SSM
agent, a memory capture) are read back and hashed. Tasks never delete evidence.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from . import incidents
from .aws import client
from .config import settings

SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]{0,200}$")
CHUNK = 8 * 1024 * 1024


class EvidenceError(Exception):
    """S3 reported a different digest from the one computed, or a key would leave the incident's prefix."""


def bucket() -> str:
    name = settings().evidence_bucket
    if not name:
        raise RuntimeError("IRFLOW_EVIDENCE_BUCKET is not set")
    return name


def prefix(incident_id: str) -> str:
    return f"incidents/{incident_id}/"


def key_for(incident_id: str, *parts: str) -> str:
    """`incidents/<id>/<part>/...`, refusing parts that could escape the prefix."""
    for part in parts:
        if not SAFE_PART.match(part):
            raise EvidenceError(f"unsafe evidence key part {part!r}")
    return prefix(incident_id) + "/".join(parts)


def uri(bucket_name: str, key: str) -> str:
    return f"s3://{bucket_name}/{key}"


def store(incident_id: str, parts: tuple[str, ...], body: bytes, kind: str, content_type: str = "text/plain",
          s3: Any = None, ddb: Any = None) -> dict[str, Any]:
    """Upload `body` as evidence, check S3's SHA-256 against ours, record it; returns {uri, sha256, ...}."""
    s3 = s3 or client("s3")
    name = bucket()
    key = key_for(incident_id, *parts)
    digest = hashlib.sha256(body)
    response = s3.put_object(Bucket=name, Key=key, Body=body, ContentType=content_type, ChecksumAlgorithm="SHA256",
                             Metadata={"irflow-incident": incident_id, "irflow-sha256": digest.hexdigest()})
    reported = response.get("ChecksumSHA256")
    if reported and reported != base64.b64encode(digest.digest()).decode():
        raise EvidenceError(f"S3 stored s3://{name}/{key} with a different SHA-256 than was sent")
    entry = {"uri": uri(name, key), "sha256": digest.hexdigest(), "size": len(body),
             "version_id": response.get("VersionId"), "key": key}
    incidents.add_evidence(incident_id, entry["uri"], entry["sha256"], kind, size=len(body),
                           version_id=entry["version_id"], ddb=ddb)
    return entry


def hash_object(bucket_name: str, key: str, s3: Any = None) -> dict[str, Any]:
    """Read an object through and return {uri, sha256, size, version_id} (streamed: memory images are large)."""
    s3 = s3 or client("s3")
    response = s3.get_object(Bucket=bucket_name, Key=key)
    digest = hashlib.sha256()
    size = 0
    body = response["Body"]
    for chunk in iter(lambda: body.read(CHUNK), b""):
        digest.update(chunk)
        size += len(chunk)
    return {"uri": uri(bucket_name, key), "sha256": digest.hexdigest(), "size": size,
            "version_id": response.get("VersionId"), "key": key}


def record_object(incident_id: str, key: str, kind: str, s3: Any = None, ddb: Any = None) -> dict[str, Any]:
    """Hash an object someone else wrote under the incident's prefix and record it as evidence."""
    if not key.startswith(prefix(incident_id)):
        raise EvidenceError(f"{key} is not under {prefix(incident_id)}")
    entry = hash_object(bucket(), key, s3)
    incidents.add_evidence(incident_id, entry["uri"], entry["sha256"], kind, size=entry["size"],
                           version_id=entry["version_id"], ddb=ddb)
    return entry


def list_keys(key_prefix: str, s3: Any = None) -> list[str]:
    """Keys under a prefix of the evidence bucket, in order."""
    s3 = s3 or client("s3")
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket(), Prefix=key_prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return sorted(keys)
