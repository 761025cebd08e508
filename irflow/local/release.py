"""`irflow release INCIDENT_ID --scenario S.yaml`: undo an isolation, locally.

The embedded AWS lives only as long as one process, so there is no isolated instance left over
from an earlier `irflow simulate` to release. Locally, release therefore runs the scenario that
produces the incident (quietly, exactly as `irflow simulate` would), then invokes the
release-instance task for that incident the way the deployed command invokes its Lambda
function, and reports each instance before and after. Incident ids are derived from the
finding, so the id `irflow simulate --json` printed for a scenario is the one to pass here.
Exit status: 0 when the release succeeded, 1 when the task failed, 2 when the scenario cannot be
read or produced no such incident.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from .playbooks import PlaybookError
from .scenario import Created, ScenarioError, after_state, load
from .simulate import describe_changes, run_scenario

RELEASED_BY = "irflow-release"


def main(path: str, incident_id: str, json_output: bool = False,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    report: dict[str, Any] = {}

    def release(runtime: Any, created: dict[str, Created]) -> None:
        known = [incident["id"] for incident in runtime.incidents()]
        if incident_id not in known:
            raise ScenarioError(f"the scenario produced no incident {incident_id} "
                                f"(it produced: {', '.join(known) or 'none'})")
        instances = {name: item for name, item in created.items() if item.spec.type == "ec2-instance"}
        before = {name: after_state(runtime.aws, item) for name, item in instances.items()}
        response, error = runtime.invoke("release-instance", {"incident_id": incident_id, "by": RELEASED_BY})
        after = {name: after_state(runtime.aws, item) for name, item in instances.items()}
        report.update({"incident": incident_id, "error": error, "result": response,
                       "resources": {name: {"before": before[name], "after": after[name]} for name in instances}})

    try:
        scenario = load(path)
        run_scenario(scenario, then=release)
    except (ScenarioError, PlaybookError) as error:
        err.write(f"irflow release: {error}\n")
        return 2
    if json_output:
        out.write(json.dumps(report, indent=2, default=str) + "\n")
    else:
        verdict = "failed" if report["error"] else "released"
        out.write(f"incident {incident_id}: {verdict} by {RELEASED_BY}\n")
        if report["error"]:
            out.write(f"  {report['result'].get('errorType')}: {report['result'].get('errorMessage')}\n")
        for name, states in report["resources"].items():
            changes = describe_changes(states["before"], states["after"]) or ["unchanged"]
            out.write(f"  {name}: {'; '.join(changes)}\n")
    return 1 if report["error"] else 0
