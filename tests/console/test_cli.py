"""`irflow console` from the command line: what it refuses, and what it prints while it serves."""

from __future__ import annotations

import io
import re
import threading
import time

import pytest

from irflow.cli import main
from irflow.console.app import LocalConsole
from irflow.console.pages import serve

from .conftest import FAST, REPO


def test_refuses_what_cannot_start(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["console", "--speed", "0"]) == 2
    assert "--speed must be positive" in capsys.readouterr().err
    assert main(["console", "--scenario", "scenarios/no-such.yaml"]) == 2
    assert "no scenario file scenarios/no-such.yaml" in capsys.readouterr().err


def test_serve_runs_scenarios_prints_sign_in_links_and_stops() -> None:
    console = LocalConsole(["bob", "carol"], speed=FAST, port=0, write_state=False).start()
    out = io.StringIO()
    stop = threading.Event()
    worker = threading.Thread(target=serve, args=(console, [REPO / "scenarios" / "exempt-instance.yaml"], out, stop))
    worker.start()
    deadline = time.monotonic() + 30
    while "sign in as carol" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    worker.join(timeout=30)
    text = out.getvalue()
    assert "scenario Exempt instance: notified only: events sent" in text
    assert f"irflow console at {console.url}" in text and "time x40" in text
    assert re.search(r"sign in as bob: http://127\.0\.0\.1:\d+/signin\?token=[\w-]+&next=/", text)
    assert console.runtime.world is None  # closed: the embedded AWS went with it
