"""The simulated agent's script reading: shell connectors, pipes, files, determinism."""

from __future__ import annotations

from datetime import UTC, datetime

from irflow.local.ssm_output import Host, run

LINUX = Host("i-0abc", "Linux", "10.0.1.23", datetime(2025, 3, 1, 12, 0, tzinfo=UTC), ("198.51.100.23",))
WINDOWS = Host("i-0def", "Windows", "10.0.1.24", datetime(2025, 3, 1, 12, 0, tzinfo=UTC))


def test_or_runs_the_fallback_only_when_the_first_command_fails() -> None:
    missing = run(["cat /var/log/auth.log || echo fallback"], LINUX)
    assert missing.stdout == "fallback\n"
    assert missing.stderr == "cat: /var/log/auth.log: No such file or directory\n"
    present = run(["cat /var/log/secure || echo fallback"], LINUX)
    assert "fallback" not in present.stdout and "sshd[" in present.stdout


def test_and_stops_after_a_failure_and_the_last_status_is_the_exit_code() -> None:
    result = run(["cat /nonexistent && echo never"], LINUX)
    assert "never" not in result.stdout and result.exit_code == 1
    assert run(["cat /nonexistent", "echo fine"], LINUX).exit_code == 0


def test_pipes_and_line_limits() -> None:
    result = run(["journalctl -u sshd --no-pager | grep Accepted | tail -n 1"], LINUX)
    assert result.stdout.count("\n") == 1 and "Accepted password for ec2-user from 198.51.100.23" in result.stdout
    assert run(["tail -n 3 /var/log/secure"], LINUX).stdout.count("\n") == 3
    assert run(["ps auxww | head -n 2"], LINUX).stdout.startswith("USER")


def test_redirections_sudo_and_paths_are_understood() -> None:
    result = run(["sudo /usr/bin/ss -tunap 2>/dev/null", "LC_ALL=C /bin/ps -eo pid,cmd > /dev/null"], LINUX)
    assert "ESTAB" in result.stdout and "198.51.100.23:51422" in result.stdout


def test_comments_and_unknown_commands_print_nothing() -> None:
    assert run(["# a comment", "set -euo pipefail", "export X=1"], LINUX).stdout == ""


def test_same_host_same_output_different_host_different_output() -> None:
    script = ["ps auxww", "ss -tunap", "crontab -l"]
    assert run(script, LINUX).stdout == run(script, LINUX).stdout
    other = Host("i-0zzz", "Linux", "10.0.1.99", LINUX.now)
    assert run(script, other).stdout != run(script, LINUX).stdout


def test_windows_cmdlets() -> None:
    result = run(["Write-Output '== processes'; Get-Process", "Get-NetTCPConnection | Format-Table", "quser",
                  "Get-ScheduledTask", "Get-WinEvent -LogName Security -MaxEvents 50", "driverquery"], WINDOWS)
    text = result.stdout
    for expected in ("== processes", "ProcessName", "3389", "rdp-tcp#3", "SvcUpdateCheck", "4625", "Amazon Elastic Network Adapter"):
        assert expected in text
    assert result.exit_code == 0 and result.seconds > run(["Get-Process"], WINDOWS).seconds


def test_transfers_and_downloaded_tools_fail_instead_of_pretending() -> None:
    for host, script in ((LINUX, ["set -u", "echo start", "curl -fsS -o /tmp/avml 'https://x/y'", "echo done"]),
                         (WINDOWS, ["Write-Output start", "Invoke-WebRequest -Uri 'https://x/y' -OutFile t.exe"])):
        result = run(script, host)
        assert result.exit_code == 127 and result.stdout == ""
        assert "not available on a simulated instance" in result.stderr and "line " in result.stderr
