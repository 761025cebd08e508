"""End to end in headless Chromium: a responder follows the headline scenario, approves, and sees it finish.

Debian's `chromium` (installed by `make chromium`, never downloaded here) is driven over the
DevTools protocol on a pipe (`cdp.py`). The console runs the headline scenario on its real-time
clock (`FAST` times faster); the page updates itself as the engine moves (no reload), the
responder opens the waiting execution, clicks Approve (a real mouse click on the approval API's
form), sees the execution succeed, and moto confirms the instance is stopped.

`IRFLOW_CONSOLE_SCREENSHOT=docs/console.png` also saves the picture for the README
(`make console-picture`). Without Chromium the test is skipped, saying why.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from irflow.console.app import LocalConsole

from . import cdp
from .conftest import FAST, HEADLINE

pytestmark = pytest.mark.skipif(cdp.available() is not None, reason=str(cdp.available()))

PERSON = "alice"


def text_of(selector: str) -> str:
    """JavaScript: the text of the first element matching `selector` ('' when none)."""
    return f"((document.querySelector({json.dumps(selector)}) || {{}}).textContent || '')"


def test_approve_the_headline_in_the_browser(tmp_path: Path) -> None:
    with LocalConsole([PERSON], speed=FAST, port=0, write_state=False) as console:
        run = console.run_scenario(HEADLINE)
        assert run.error is None
        [target] = run.targets
        with cdp.Browser(width=1440, height=1380) as browser:
            tab = browser.tab()
            tab.open(console.sign_in_url(PERSON))
            assert tab.evaluate("location.pathname") == "/"
            assert PERSON in tab.evaluate(text_of(".who"))

            # The approval appears on the overview by itself, as the engine reaches it.
            tab.wait_for(f"{text_of('[data-approval] h3')}.includes({json.dumps(target.id)})", timeout=60,
                         what="the pending approval on the overview")
            # The approval is stored while request-approval still runs; the execution waits once it returns.
            tab.wait_for(f"{text_of('table.executions')}.includes('waiting for a person')",
                         what="the execution waiting for a person")

            tab.click("table.executions a")
            tab.wait_for("location.pathname.startsWith('/executions/')", what="the execution page")
            tab.wait_for("!!document.querySelector('svg.graph g.st-waiting[data-state=\"RequestRemediationApproval\"]')",
                         what="the waiting state marked on the graph")
            assert tab.evaluate(text_of("#head .pill")) == "WAITING"
            assert "RequestRemediationApproval" in tab.evaluate(text_of("#head"))
            assert tab.evaluate("document.querySelectorAll('svg.graph g.st-succeeded').length") > 10
            tab.wait_for("(() => { const pane = document.querySelector('.graph-scroll');"
                         " const node = document.querySelector('svg.graph g.st-waiting').getBoundingClientRect();"
                         " const view = pane.getBoundingClientRect();"
                         " return node.top >= view.top && node.bottom <= view.bottom; })()",
                         what="the current state scrolled into view")
            picture = tmp_path / "console.png"
            tab.screenshot(picture)
            assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            destination = os.environ.get("IRFLOW_CONSOLE_SCREENSHOT")
            if destination:
                shutil.copyfile(picture, destination)

            tab.evaluate("document.querySelector('[data-approval] input.reason').value = 'confirmed with the owner'")
            tab.click("[data-approval] button.approve")
            tab.wait_for(f"{text_of('#flash')}.includes('Approved by {PERSON}')", what="the approval API's answer")
            tab.wait_for(f"{text_of('#head .pill')} === 'SUCCEEDED'", timeout=60, what="the execution to succeed")
            tab.wait_for("!!document.querySelector('svg.graph g.st-succeeded[data-state=\"RemediateInstance\"]')",
                         what="the remediation marked done")
            assert not tab.evaluate("document.querySelector('[data-approval]')")

            tab.click(".crumbs a")
            tab.wait_for(f"{text_of('table.executions .pill')} === 'SUCCEEDED'", what="the overview to show it")
            assert "No approval is waiting" in tab.evaluate(text_of("#approvals"))

        with console.runtime.engine.scheduler.lock:
            ec2 = console.runtime.aws.client("ec2", target.account, target.region)
            instance = ec2.describe_instances(InstanceIds=[target.id])["Reservations"][0]["Instances"][0]
            [incident] = console.runtime.incidents()
    assert instance["State"]["Name"] == "stopped"
    [approval] = incident["approval_detail"]
    assert (approval["decision"], approval["by"], approval["reason"]) == ("approved", PERSON,
                                                                       "confirmed with the owner")
