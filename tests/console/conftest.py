"""Fixtures for the console: a headline run stopped at its approval, and a live console over HTTP.

The headline scenario (`scenarios/ssh-brute-force.yaml`) runs with a hostile finding: its title
and description carry markup, as an attacker who controls what GuardDuty reports about their own
traffic could make them. Every page must show those strings as text.
"""

from __future__ import annotations

import copy
import http.cookiejar
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from irflow.local import speed

speed.apply()

REPO = Path(__file__).resolve().parents[2]
HEADLINE = REPO / "scenarios" / "ssh-brute-force.yaml"
HOSTILE_TITLE = '<script>alert("title")</script> is performing <img src=x onerror=alert(1)> attacks'
FAST = 40.0  # the console's clock, times real: the headline reaches its approval in about a second


def hostile_scenario() -> Any:
    """The headline scenario, its finding's title and description turned into markup."""
    from irflow.local.scenario import load

    scenario = load(HEADLINE)
    scenario.events = copy.deepcopy(scenario.events)
    detail = scenario.events[0]["detail"]
    detail["title"] = HOSTILE_TITLE
    detail["description"] = "<b onmouseover=alert(2)>bold</b>"
    return scenario


@dataclass
class WaitingRun:
    """A virtual-clock runtime whose headline execution waits for a person."""

    runtime: Any
    created: dict[str, Any]

    @property
    def instance(self) -> Any:
        return self.created["web"]


@pytest.fixture(scope="module")
def waiting_run() -> Iterator[WaitingRun]:
    from irflow.local.runtime import Runtime
    from irflow.local.scenario import accounts_of, create, substitute

    scenario = hostile_scenario()
    with Runtime(security_account=scenario.security_account) as runtime:
        for account, role in accounts_of(scenario, "222222222222").items():
            runtime.aws.add_member(account, role)
        created = create(runtime.aws, scenario)
        for event in scenario.events:
            runtime.put_event(substitute(event, created))
        runtime.run_until_idle()
        yield WaitingRun(runtime, created)


class Visitor:
    """A browser stand-in: cookies kept, redirects followed, the console's Origin on every POST."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        return self._open(urllib.request.Request(self.base + path, headers=headers or {}))

    def post(self, path: str, form: dict[str, str], origin: str | None = "") -> tuple[int, str]:
        from urllib.parse import urlencode

        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if origin is not None:
            headers["Origin"] = origin or self.base
        return self._open(urllib.request.Request(self.base + path, data=urlencode(form).encode(), headers=headers,
                                                 method="POST"))

    def _open(self, request: urllib.request.Request) -> tuple[int, str]:
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode("utf-8", "replace")

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The approval server's state file goes here, never to the user's ~/.irflow."""
    monkeypatch.setenv("IRFLOW_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"
