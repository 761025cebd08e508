"""Running a shipped scenario the way `irflow simulate` does, then reading the world before it closes.

A `Run` keeps the `--json` document, whether the scenario's own `expect:` block holds, and what
a test asks to read back from the embedded AWS after the executions ended (the notifications
sent, every evidence object's bytes, the refused events, anything else through `inspect`).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from irflow.authoring.expect import check
from irflow.local import speed
from irflow.local.scenario import Created, load
from irflow.local.simulate import Outcome, run_scenario

speed.apply()

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"
MEMBER = "222222222222"


class Run:
    """A finished scenario and what was read from its world."""

    def __init__(self, name: str, inspect: Callable[[Any, dict[str, Created]], dict[str, Any]] | None = None) -> None:
        self.scenario = load(SCENARIOS / f"{name}.yaml")
        self.seen: dict[str, Any] = {}

        def then(runtime: Any, created: dict[str, Created]) -> None:
            world = runtime.aws
            world.drain_notifications()
            self.seen["notifications"] = list(world.notified)
            self.seen["evidence"] = _evidence(world)
            self.seen["rejected"] = _rejected(world)
            self.seen["incidents_full"] = runtime.incidents()
            self.seen["created"] = created
            if inspect is not None:
                self.seen.update(inspect(runtime, created))

        self.timeline = io.StringIO()
        self.outcome: Outcome = run_scenario(self.scenario, out=self.timeline, then=then)
        self.doc = self.outcome.document
        self.unmet = check(self.scenario.expect or {}, self.doc)

    @property
    def incident(self) -> dict[str, Any]:
        (incident,) = self.doc["incidents"]
        return incident

    @property
    def full(self) -> dict[str, Any]:
        (incident,) = self.seen["incidents_full"]
        return incident

    def subjects(self) -> list[str]:
        return [str(n["subject"]) for n in self.seen["notifications"]]

    def messages(self) -> list[str]:
        return [str(n["message"]) for n in self.seen["notifications"]]

    def evidence_named(self, suffix: str) -> bytes:
        (uri,) = [u for u in self.seen["evidence"] if u.endswith(suffix)]
        body: bytes = self.seen["evidence"][uri]
        return body


def _evidence(world: Any) -> dict[str, bytes]:
    s3 = world.client("s3")
    bucket = world.central.evidence_bucket
    found = {}
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        found[f"s3://{bucket}/{item['Key']}"] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return found


def _rejected(world: Any) -> list[dict[str, Any]]:
    """The refused events kept in the incidents table (error and cause of each)."""
    from tasks.common.incidents import from_ddb

    items = world.client("dynamodb").scan(TableName=world.central.incidents_table)["Items"]
    return [from_ddb(i) for i in items if i["pk"]["S"].startswith("REJECTED#")]


def evidence_is_hashed(run: Run) -> None:
    """Every evidence entry of the incident is an object whose SHA-256 is the one recorded."""
    import hashlib

    assert run.incident["evidence"], "no evidence recorded"
    for item in run.incident["evidence"]:
        assert hashlib.sha256(run.seen["evidence"][item["uri"]]).hexdigest() == item["sha256"], item["uri"]
