"""Graph output for a small machine: Mermaid text exactly, DOT marks, SVG/PNG through Graphviz."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from irflow.authoring import graph

from .helpers import CATALOG, FIXTURES

PARALLEL = FIXTURES / "rules" / "evidence-before-destructive" / "pass.asl.json"


def test_mermaid_marks_gates_destructive_and_evidence_steps() -> None:
    text = graph.draw(PARALLEL, "mermaid", CATALOG).decode()
    assert text == """flowchart TD
    start((" "))
    s0["Evidence<br/>Parallel"]
    s3{{"APPROVAL: AskApproval<br/>request-approval (waits for a human)"}}
    s4[["DESTRUCTIVE: Remediate<br/>remediate-instance"]]
    subgraph group0["Evidence branch 1"]
        s1["Snapshot<br/>snapshot-volumes"]
    end
    subgraph group1["Evidence branch 2"]
        s2["Volatile<br/>collect-volatile"]
    end
    start --> s0
    s0 --> s1
    s1 --> s3
    s0 --> s2
    s2 --> s3
    s3 --> s4
    finish((("end")))
    s4 --> finish
    classDef approval fill:#fff3bf,stroke:#e67700,stroke-width:3px,color:#000
    class s3 approval
    classDef destructive fill:#ffe3e3,stroke:#c92a2a,stroke-width:3px,color:#000
    class s4 destructive
    classDef evidence fill:#e7f5ff,stroke:#1971c2,color:#000
    class s1,s2 evidence
"""


def test_choice_conditions_and_catch_paths_are_labelled() -> None:
    text = graph.draw(FIXTURES / "clean.asl.json", "mermaid", CATALOG).decode()
    assert 's3 -- "$.approval.decision == #quot;approved#quot;" --> s4' in text
    assert 's3 -- "otherwise" --> s6' in text
    assert 's2 -. "on States.Timeout" .-> s5' in text
    assert 's5["Escalate<br/>sns:publish"]' in text


def test_dot_source() -> None:
    text = graph.draw(FIXTURES / "clean.asl.json", "dot", CATALOG).decode()
    assert 's2 [label="APPROVAL: AskApproval\\nrequest-approval (waits for a human)", shape=hexagon' in text
    assert 's4 [label="DESTRUCTIVE: Remediate\\nremediate-instance", shape=box' in text
    assert 's2 -> s5 [label="on States.Timeout", style=dashed' in text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is installed by `make test`")
def test_svg_and_png_through_graphviz(tmp_path: Path) -> None:
    svg = graph.draw(FIXTURES / "clean.asl.json", "svg", CATALOG).decode()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "APPROVAL: AskApproval" in svg and "DESTRUCTIVE: Remediate" in svg
    out = tmp_path / "clean.png"
    assert graph.main(str(FIXTURES / "clean.asl.json"), "png", str(out), CATALOG) == 0
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_unknown_playbook_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert graph.main("no-such-playbook", "mermaid", None, CATALOG) == 2
    assert "no playbook 'no-such-playbook'" in capsys.readouterr().err
