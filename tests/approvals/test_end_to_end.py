"""The headline scenario on the real ec2-compromise playbook, served by the local approval server, decided over HTTP."""

from __future__ import annotations

import io
import re
import threading
import time
from pathlib import Path

from irflow.local.approval_server import serve_scenario
from irflow.local.scenario import after_state
from tests.approvals.test_local_server import HttpBrowser

REPO = Path(__file__).resolve().parents[2]


class Lines(io.StringIO):
    """Output another thread writes, read as it comes."""

    def wait_for(self, pattern: str, seconds: float = 60.0) -> re.Match[str]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = re.search(pattern, self.getvalue())
            if found:
                return found
            time.sleep(0.02)
        raise AssertionError(f"{pattern!r} never appeared in:\n{self.getvalue()}")


def test_a_person_approves_in_the_browser_and_the_instance_is_stopped(tmp_path, monkeypatch):
    monkeypatch.setenv("IRFLOW_STATE_DIR", str(tmp_path))
    out = Lines()
    result: dict[str, int] = {}
    after: dict[str, dict] = {}

    def look(runtime, created) -> None:
        after.update({name: after_state(runtime.aws, item) for name, item in created.items()})

    def run() -> None:
        result["code"] = serve_scenario(str(REPO / "scenarios" / "ssh-brute-force.yaml"), ["alice@example.com"], 0,
                                        {"ec2-compromise": ["alice@example.com"]}, out, then=look)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    sign_in = out.wait_for(r"sign in as alice@example\.com: (\S+)").group(1)
    waiting = out.wait_for(r"waiting: remediate-instance (i-[0-9a-f]+) \(([0-9a-f-]{36})\)\n\s+(\S+)")
    instance, approval_id, link = waiting.groups()
    assert link.startswith("http://127.0.0.1:") and approval_id in link

    browser = HttpBrowser()
    browser.open(sign_in)
    status, page, _ = browser.open(link)
    assert status == 200 and f"Approve: stop <code>{instance}</code>?" in page
    assert "collect-volatile" in page and "snapshot-volume" in page  # what irflow did before asking
    assert re.search(r"<td><code>[0-9a-f]{64}</code></td>", page)  # the evidence, with its SHA-256
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    origin = link.split("/approvals/")[0]
    status, page, _ = browser.open(link, {"decision": "approve", "reason": "confirmed", "csrf": csrf},
                                   {"Origin": origin})
    assert status == 200 and "The playbook resumes now" in page

    worker.join(timeout=60)
    assert not worker.is_alive()
    assert result["code"] == 0, out.getvalue()
    assert "executions: SUCCEEDED" in out.getvalue()
    assert after["web"]["id"] == instance and after["web"]["state"] == "stopped"
    assert after["web"]["tags"]["irflow:status"] == "stopped"
