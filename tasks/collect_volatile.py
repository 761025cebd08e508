"""collect-volatile: hands-off forensics with SSM Run Command (no SSH, no RDP).

Sends a fixed script (`AWS-RunShellScript`, or `AWS-RunPowerShellScript` on Windows) that prints
processes, network connections, logged-in users, loaded kernel modules (drivers on Windows),
scheduled jobs and the recent authentication log; SSM writes the output to the evidence
bucket under `incidents/<id>/ssm/`. Nothing from the finding is put into the script: the
instance is named only in `InstanceIds`. Returns at once with the command id; the playbook
polls it with poll-command in a Wait/Choice loop. An instance that is not running, not
SSM-managed or whose agent is offline is skipped with the reason recorded.

Example event:

    {"incident": {"incident_id": "inc-d38e539f762a60f7", "finding_id": "96c7b8e1f2a34d5c9e0b1a2f3c4d5e6f",
                  "finding_type": "UnauthorizedAccess:EC2/SSHBruteForce", "severity": 8.0, "severity_band": "high",
                  "account_id": "222222222222", "region": "us-east-1", "instance_id": "i-0a1b2c3d4e5f60718"},
     "instance": {"instance_id": "i-0a1b2c3d4e5f60718", "state": "running", "platform": "Linux",
                  "ssm": {"managed": true, "ping_status": "Online"}}}
"""

from __future__ import annotations

from typing import Any

from tasks.common import commands, incidents
from tasks.common.aws import member_session, session_client
from tasks.common.handler import task_handler
from tasks.common.models import CommandRef, IncidentRef, InstanceFacts, InstanceInput
from tasks.registry import TaskSpec

TASK = TaskSpec.declare(
    __name__, __doc__, name="collect-volatile", member_permissions=("ssm:SendCommand",),
    central_permissions=("sts:AssumeRole", "dynamodb:PutItem"), destructive=False,
    model="tasks.common.models.InstanceInput", evidence=True, timeout_seconds=30)

EXECUTION_TIMEOUT = 600

LINUX_SCRIPT = [
    "echo '=== irflow volatile collection ==='",
    "date -u",
    "hostname",
    "uname -a",
    "uptime",
    "echo '=== processes ==='",
    "ps auxww",
    "echo '=== network connections ==='",
    "ss -tunap 2>/dev/null || netstat -tunap",
    "echo '=== logged-in users ==='",
    "who -a",
    "w",
    "last -n 50",
    "echo '=== kernel modules ==='",
    "lsmod",
    "echo '=== scheduled jobs ==='",
    "crontab -l -u root",
    "cat /etc/crontab",
    "ls -la /etc/cron.d /var/spool/cron",
    "echo '=== recent authentication log ==='",
    "tail -n 500 /var/log/secure 2>/dev/null || tail -n 500 /var/log/auth.log 2>/dev/null"
    " || journalctl -u sshd --since -24h --no-pager",
    "echo '=== irflow volatile collection done ==='",
]

WINDOWS_SCRIPT = [
    "Write-Output '=== irflow volatile collection ==='",
    "Get-Date",
    "hostname",
    "Write-Output '=== processes ==='",
    "Get-Process -IncludeUserName | Select-Object Id,ProcessName,UserName,Path,StartTime"
    " | Format-Table -AutoSize | Out-String -Width 4096",
    "Write-Output '=== network connections ==='",
    "Get-NetTCPConnection | Select-Object LocalAddress,LocalPort,RemoteAddress,RemotePort,State,OwningProcess"
    " | Format-Table -AutoSize | Out-String -Width 4096",
    "Write-Output '=== logged-in users ==='",
    "query user",
    "Write-Output '=== drivers ==='",
    "driverquery /v /fo csv",
    "Write-Output '=== scheduled tasks ==='",
    "Get-ScheduledTask | Where-Object State -ne 'Disabled' | Select-Object TaskPath,TaskName,State"
    " | Format-Table -AutoSize | Out-String -Width 4096",
    "Write-Output '=== recent logons (Security 4624, 4625) ==='",
    "Get-WinEvent -FilterHashtable @{LogName='Security'; Id=4624,4625; StartTime=(Get-Date).AddDays(-1)}"
    " -MaxEvents 500 | Format-List TimeCreated,Id,Message",
    "Write-Output '=== irflow volatile collection done ==='",
]


def collect(incident: IncidentRef, instance: InstanceFacts, session: Any = None) -> CommandRef:
    """Send the collection script, or say why it was skipped."""
    reason = commands.skip_reason(instance)
    if reason is None:
        session = session or member_session(incident.account_id, incident.incident_id, incident.region)
        script = WINDOWS_SCRIPT if instance.platform == "Windows" else LINUX_SCRIPT
        command_id, reason = commands.send(session_client(session, "ssm"), incident.incident_id, instance, script,
                                           "volatile collection", EXECUTION_TIMEOUT)
        if command_id:
            incidents.add_action(incident.incident_id, "collect-volatile", instance.instance_id, f"sent {command_id}")
            return CommandRef(kind="volatile", status=commands.PENDING, instance_id=instance.instance_id,
                              command_id=command_id, output_prefix=commands.output_prefix(incident.incident_id))
        incidents.add_action(incident.incident_id, "collect-volatile", instance.instance_id, f"failed: {reason}")
        return CommandRef(kind="volatile", status=commands.FAILED, instance_id=instance.instance_id, reason=reason)
    incidents.add_action(incident.incident_id, "collect-volatile", instance.instance_id, f"skipped: {reason}")
    return CommandRef(kind="volatile", status=commands.SKIPPED, instance_id=instance.instance_id, reason=reason)


def run(data: InstanceInput) -> dict[str, Any]:
    return collect(data.incident, data.instance).model_dump()


handler = task_handler(TASK, InstanceInput, run)
