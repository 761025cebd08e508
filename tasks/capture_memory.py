"""capture-memory: a memory image with AVML (Linux) or WinPmem (Windows), through SSM, no credentials on the host.

The tool is staged in the evidence bucket (`tools/manifest.json` names each tool's key and
SHA-256). This task checks the staged object against the recorded digest before anything is
sent, then gives the instance two short-lived presigned URLs: a GET for the tool and a PUT for
one image object under `incidents/<id>/memory/`. The fixed script downloads the tool, checks
its SHA-256 again on the host, captures memory to a local file, prints the image's SHA-256,
and uploads it with a Content-MD5 header (the bucket's Object Lock retention requires an
integrity header; one PUT carries at most 5 GB, so AVML compresses). The URLs and digest are
the only values placed in the script, after a strict character check; nothing comes from the
finding. The playbook polls the command with poll-command, which hashes the image. When the
playbook's policy does not ask for memory (`requested: false`) the capture is skipped and
recorded as such.

Example event:

    {"incident": {"incident_id": "inc-d38e539f762a60f7", "finding_id": "96c7b8e1f2a34d5c9e0b1a2f3c4d5e6f",
                  "finding_type": "UnauthorizedAccess:EC2/SSHBruteForce", "severity": 8.0, "severity_band": "high",
                  "account_id": "222222222222", "region": "us-east-1", "instance_id": "i-0a1b2c3d4e5f60718"},
     "instance": {"instance_id": "i-0a1b2c3d4e5f60718", "state": "running", "platform": "Linux",
                  "ssm": {"managed": true, "ping_status": "Online"}},
     "requested": true}
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from tasks.common import clock, commands, evidence, incidents
from tasks.common.aws import client, error_code, member_session, session_client
from tasks.common.errors import ToolUnavailable
from tasks.common.handler import task_handler
from tasks.common.models import CaptureMemoryInput, CommandRef, IncidentRef, InstanceFacts
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="capture-memory", member_permissions=("ssm:SendCommand",),
    central_permissions=("sts:AssumeRole", "s3:GetObject", "s3:PutObject", "dynamodb:PutItem"), destructive=False,
    model="tasks.common.models.CaptureMemoryInput", evidence=True, timeout_seconds=120)

MANIFEST_KEY = "tools/manifest.json"
TOOLS = {"Linux": "avml", "Windows": "winpmem"}
TOOL_URL_SECONDS = 900
UPLOAD_URL_SECONDS = 3600
EXECUTION_TIMEOUT = 3600
# What may appear inside the script's quotes: a presigned S3 URL's characters, nothing a shell interprets.
SAFE_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:\d+)?/[A-Za-z0-9/._~%=&+-]*(\?[A-Za-z0-9/._~%=&+-]*)?$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")

LINUX_SCRIPT = """set -u
umask 077
work=$(mktemp -d /var/tmp/irflow-memory.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT
curl -fsS --retry 3 --max-time 600 -o "$work/avml" '{tool_url}' || {{ echo 'irflow: tool download failed'; exit 1; }}
echo '{tool_sha256}  '"$work/avml" | sha256sum -c --status - || {{ echo 'irflow: AVML failed its SHA-256 check'; exit 1; }}
chmod 0700 "$work/avml"
"$work/avml" --compress "$work/memory.lime" || {{ echo 'irflow: AVML failed'; exit 1; }}
echo "irflow-image-sha256 $(sha256sum "$work/memory.lime" | cut -d ' ' -f 1)"
md5=$(openssl dgst -md5 -binary "$work/memory.lime" | base64)
curl -fsS --retry 3 --max-time 3000 -H "Content-MD5: $md5" --upload-file "$work/memory.lime" '{image_url}' || {{ echo 'irflow: upload failed'; exit 1; }}
echo 'irflow: memory image uploaded'"""

WINDOWS_SCRIPT = """$ErrorActionPreference = 'Stop'
$work = Join-Path $env:TEMP ('irflow-memory-' + [guid]::NewGuid())
New-Item -ItemType Directory -Path $work | Out-Null
try {{
  $tool = Join-Path $work 'winpmem.exe'
  Invoke-WebRequest -UseBasicParsing -Uri '{tool_url}' -OutFile $tool
  if ((Get-FileHash -Algorithm SHA256 $tool).Hash.ToLower() -ne '{tool_sha256}') {{ throw 'irflow: WinPmem failed its SHA-256 check' }}
  $image = Join-Path $work 'memory.raw'
  & $tool $image | Out-Null
  if (-not (Test-Path $image)) {{ throw 'irflow: WinPmem wrote no image' }}
  Write-Output ('irflow-image-sha256 ' + (Get-FileHash -Algorithm SHA256 $image).Hash.ToLower())
  $stream = [IO.File]::OpenRead($image)
  try {{ $md5 = [Convert]::ToBase64String([Security.Cryptography.MD5]::Create().ComputeHash($stream)) }} finally {{ $stream.Dispose() }}
  Invoke-WebRequest -UseBasicParsing -Method Put -Uri '{image_url}' -InFile $image -Headers @{{'Content-MD5' = $md5}}
  Write-Output 'irflow: memory image uploaded'
}} finally {{
  Remove-Item -Recurse -Force $work
}}"""


def staged_tool(platform: str, s3: Any) -> tuple[str, str]:
    """(key, sha256) of the platform's tool, after checking the staged object against the manifest."""
    name = TOOLS[platform]
    bucket = evidence.bucket()
    try:
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=MANIFEST_KEY)["Body"].read())
        entry = manifest["tools"][name]
        key, recorded = str(entry["key"]), str(entry["sha256"]).lower()
    except Exception as error:
        if error_code(error) in ("NoSuchKey", "404") or isinstance(error, KeyError | ValueError | TypeError):
            raise ToolUnavailable(f"{name} is not staged: s3://{bucket}/{MANIFEST_KEY} has no usable entry "
                                  f"({error_code(error) or type(error).__name__})") from None
        raise
    if not SHA256_HEX.match(recorded):
        raise ToolUnavailable(f"the manifest's SHA-256 for {name} is not a SHA-256 digest")
    try:
        actual = evidence.hash_object(bucket, key, s3)["sha256"]
    except Exception as error:
        if error_code(error) in ("NoSuchKey", "404"):
            raise ToolUnavailable(f"{name} is not staged at s3://{bucket}/{key}") from None
        raise
    if actual != recorded:
        raise ToolUnavailable(f"s3://{bucket}/{key} has SHA-256 {actual}, not the recorded {recorded}: refusing to "
                              "run it")
    return key, recorded


def _safe_url(url: str) -> str:
    if not SAFE_URL.match(url):
        raise ValueError("a presigned URL has characters that are not safe inside the script")
    return url


def build_script(platform: str, tool_url: str, tool_sha256: str, image_url: str) -> list[str]:
    """The fixed script with its three checked values; one command per line, as SSM takes them."""
    if not SHA256_HEX.match(tool_sha256):
        raise ValueError("not a SHA-256 digest")
    template = WINDOWS_SCRIPT if platform == "Windows" else LINUX_SCRIPT
    return template.format(tool_url=_safe_url(tool_url), tool_sha256=tool_sha256,
                           image_url=_safe_url(image_url)).splitlines()


def capture(incident: IncidentRef, instance: InstanceFacts, requested: bool = True, session: Any = None,
            s3: Any = None) -> CommandRef:
    """Stage, check and send the capture, or say why it was skipped."""
    reason = commands.skip_reason(instance) if requested else "the playbook's policy does not ask for memory capture"
    if reason is not None:
        incidents.add_action(incident.incident_id, "capture-memory", instance.instance_id, f"skipped: {reason}")
        return CommandRef(kind="memory", status=commands.SKIPPED, instance_id=instance.instance_id, reason=reason)
    s3 = s3 or client("s3")
    tool_key, tool_sha256 = staged_tool(instance.platform, s3)
    suffix = "raw" if instance.platform == "Windows" else "lime"
    image_key = evidence.key_for(incident.incident_id, "memory", f"memory-{clock.now():%Y%m%dT%H%M%SZ}.{suffix}")
    bucket = evidence.bucket()
    tool_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": tool_key},
                                         ExpiresIn=TOOL_URL_SECONDS)
    image_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": image_key},
                                          ExpiresIn=UPLOAD_URL_SECONDS)
    script = build_script(instance.platform, tool_url, tool_sha256, image_url)
    session = session or member_session(incident.account_id, incident.incident_id, incident.region)
    command_id, refused = commands.send(session_client(session, "ssm"), incident.incident_id, instance, script,
                                        "memory capture", EXECUTION_TIMEOUT)
    if command_id is None:
        incidents.add_action(incident.incident_id, "capture-memory", instance.instance_id, f"failed: {refused}")
        return CommandRef(kind="memory", status=commands.FAILED, instance_id=instance.instance_id, reason=refused)
    incidents.add_action(incident.incident_id, "capture-memory", instance.instance_id, f"sent {command_id}",
                         detail={"tool": tool_key, "tool_sha256": tool_sha256, "image_key": image_key,
                                 "script_sha256": hashlib.sha256("\n".join(script).encode()).hexdigest()})
    return CommandRef(kind="memory", status=commands.PENDING, instance_id=instance.instance_id, command_id=command_id,
                      output_prefix=commands.output_prefix(incident.incident_id), image_key=image_key)


def run(data: CaptureMemoryInput) -> dict[str, Any]:
    return capture(data.incident, data.instance, data.requested).model_dump()


handler = task_handler(TASK, CaptureMemoryInput, run)
