"""`irflow graph PLAYBOOK [--format mermaid|svg|png] [-o FILE]`: a playbook's state graph for people.

Approval gates (request-approval with `.waitForTaskToken`) and destructive steps (as the task
registry marks them) stand out; evidence steps are tinted. Choice edges carry their condition,
Catch edges are dashed and name the errors. Mermaid text is generated here (GitHub renders it in
Markdown); SVG and PNG are laid out by Graphviz `dot` (Debian package `graphviz`) from DOT text
generated here.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import rules
from .catalog import Catalog
from .definition import Definition, DefinitionLoadError, Edge, Graph, Pointer, StateRef, describe_rule, load

FORMATS = ("mermaid", "dot", "svg", "png")


@dataclass(frozen=True)
class Node:
    """A state as drawn: its id in the output, its text, and how it is marked."""

    id: str
    state: StateRef
    task: str | None
    role: str  # approval | destructive | evidence | choice | terminal | fail | step

    @property
    def text(self) -> str:
        lines = [self.state.name]
        if self.role == "approval":
            lines = [f"APPROVAL: {self.state.name}", f"{self.task} (waits for a human)"]
        elif self.role == "destructive":
            lines = [f"DESTRUCTIVE: {self.state.name}", str(self.task)]
        elif self.task:
            lines.append(self.task)
        elif self.state.type == "Task":
            lines.append(_integration(self.state.body.get("Resource")))
        elif self.state.type != "Choice":
            lines.append(self.state.type)
        return "\n".join(lines)


def _integration(resource: Any) -> str:
    """`arn:aws:states:::sns:publish` -> `sns:publish`; anything else as it is."""
    text = str(resource)
    return text.split(":::", 1)[1] if ":::" in text else text


def nodes_of(graph: Graph, catalog: Catalog) -> dict[Pointer, Node]:
    found: dict[Pointer, Node] = {}
    for i, (pointer, state) in enumerate(graph.states.items()):
        task = rules.task_of(state, catalog)
        if rules.is_approval(state, catalog):
            role = "approval"
        elif task is not None and task.destructive:
            role = "destructive"
        elif task is not None and task.evidence:
            role = "evidence"
        elif state.type == "Choice":
            role = "choice"
        elif state.type == "Fail":
            role = "fail"
        elif state.type == "Succeed":
            role = "terminal"
        else:
            role = "step"
        found[pointer] = Node(f"s{i}", state, task.name if task else None, role)
    return found


def edge_label(graph: Graph, edge: Edge) -> str:
    body = graph.states[edge.source].body
    if edge.kind == "choice" and edge.index is not None:
        return describe_rule(body["Choices"][edge.index])
    if edge.kind == "default":
        return "otherwise"
    if edge.kind == "catch" and edge.index is not None:
        return "on " + ", ".join(body["Catch"][edge.index].get("ErrorEquals") or ())
    return ""


def drawn_edges(graph: Graph) -> list[Edge]:
    """The edges to draw: a Parallel/Map's own `Next` is left out, its branches' join edges show it."""
    nested = {p for p in graph.states if graph.nested(p)}
    return [e for e in graph.edges if not (e.kind == "next" and e.source in nested)]


def ends(graph: Graph) -> list[Pointer]:
    """Top-level states that end the execution successfully (End: true)."""
    return [p for p, s in graph.states.items() if len(p) == 2 and s.body.get("End") is True]


def branches(graph: Graph) -> dict[Pointer, list[Pointer]]:
    """The `States` scope of every nested machine -> the states in it."""
    scopes: dict[Pointer, list[Pointer]] = {}
    for pointer in graph.states:
        if len(pointer) > 2:
            scopes.setdefault(pointer[:-1], []).append(pointer)
    return scopes


# --- Mermaid -----------------------------------------------------------------------------------------

MERMAID_SHAPES = {"choice": ('{"', '"}'), "approval": ('{{"', '"}}'), "terminal": ('(["', '"])'),
                  "fail": ('(["', '"])'), "destructive": ('[["', '"]]')}
MERMAID_CLASSES = {
    "approval": "fill:#fff3bf,stroke:#e67700,stroke-width:3px,color:#000",
    "destructive": "fill:#ffe3e3,stroke:#c92a2a,stroke-width:3px,color:#000",
    "evidence": "fill:#e7f5ff,stroke:#1971c2,color:#000",
    "fail": "fill:#f1f3f5,stroke:#c92a2a,color:#000",
    "terminal": "fill:#ebfbee,stroke:#2b8a3e,color:#000",
}


def _mermaid_text(text: str) -> str:
    """Label text as Mermaid takes it inside quotes: entities for quotes and angle brackets, <br/> for lines."""
    return (text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
            .replace("\n", "<br/>"))


def mermaid(definition: Definition, catalog: Catalog) -> str:
    graph = definition.graph()
    nodes = nodes_of(graph, catalog)
    lines = ["flowchart TD"]
    scopes = branches(graph)

    def declare(pointer: Pointer, indent: str) -> None:
        node = nodes[pointer]
        left, right = MERMAID_SHAPES.get(node.role, ('["', '"]'))
        lines.append(f"{indent}{node.id}{left}{_mermaid_text(node.text)}{right}")

    lines.append('    start((" "))')
    for pointer in graph.states:
        if len(pointer) == 2:
            declare(pointer, "    ")
    for i, (scope, members) in enumerate(scopes.items()):
        owner = nodes[_owner(scope)]
        title = f"{owner.state.name} {_branch_title(scope)}"
        lines.append(f'    subgraph group{i}["{_mermaid_text(title)}"]')
        for pointer in members:
            declare(pointer, "        ")
        lines.append("    end")
    if graph.start in nodes:
        lines.append(f"    start --> {nodes[graph.start].id}")
    for edge in drawn_edges(graph):
        source, target = nodes[edge.source].id, nodes[edge.target].id
        text = edge_label(graph, edge)
        if edge.kind == "catch":
            lines.append(f'    {source} -. "{_mermaid_text(text)}" .-> {target}')
        elif text:
            lines.append(f'    {source} -- "{_mermaid_text(text)}" --> {target}')
        else:
            lines.append(f"    {source} --> {target}")
    finished = ends(graph)
    if finished:
        lines.append('    finish((("end")))')
        lines.extend(f"    {nodes[p].id} --> finish" for p in finished)
    for role, style in MERMAID_CLASSES.items():
        marked = [n.id for n in nodes.values() if n.role == role]
        if marked:
            lines.append(f"    classDef {role} {style}")
            lines.append(f"    class {','.join(marked)} {role}")
    return "\n".join(lines) + "\n"


def _owner(scope: Pointer) -> Pointer:
    """The Parallel/Map state a nested `States` scope belongs to."""
    tail = scope[:-1]
    while tail and tail[-1] not in ("ItemProcessor", "Iterator") and not isinstance(tail[-1], int):
        tail = tail[:-1]
    return tail[:-2] if isinstance(tail[-1], int) else tail[:-1]


def _branch_title(scope: Pointer) -> str:
    return f"branch {int(scope[-2]) + 1}" if isinstance(scope[-2], int) else "for each item"


# --- Graphviz DOT -----------------------------------------------------------------------------------

DOT_STYLE = {
    "approval": 'shape=hexagon, style="filled,bold", fillcolor="#fff3bf", color="#e67700", penwidth=2',
    "destructive": 'shape=box, style="filled,bold", fillcolor="#ffe3e3", color="#c92a2a", penwidth=2, peripheries=2',
    "evidence": 'shape=box, style="rounded,filled", fillcolor="#e7f5ff", color="#1971c2"',
    "choice": 'shape=diamond, style=filled, fillcolor="#f8f9fa"',
    "terminal": 'shape=oval, style=filled, fillcolor="#ebfbee", color="#2b8a3e"',
    "fail": 'shape=oval, style=filled, fillcolor="#f1f3f5", color="#c92a2a"',
    "step": 'shape=box, style="rounded,filled", fillcolor="#ffffff"',
}


def _dot_text(text: str) -> str:
    """A DOT string literal (JSON's escapes are DOT's: \\n a centred line break, \\" a quote)."""
    return json.dumps(text, ensure_ascii=False)


def dot(definition: Definition, catalog: Catalog, title: str | None = None) -> str:
    graph = definition.graph()
    nodes = nodes_of(graph, catalog)
    lines = ["digraph playbook {",
             f"  graph [rankdir=TB, fontname=Helvetica, fontsize=12, label={_dot_text(title or '')}, labelloc=t];",
             "  node [fontname=Helvetica, fontsize=10];",
             "  edge [fontname=Helvetica, fontsize=9, color=\"#495057\"];",
             "  start [shape=circle, label=\"\", width=0.25, style=filled, fillcolor=black];"]
    for pointer in graph.states:
        if len(pointer) == 2:
            node = nodes[pointer]
            lines.append(f"  {node.id} [label={_dot_text(node.text)}, {DOT_STYLE[node.role]}];")
    for i, (scope, members) in enumerate(branches(graph).items()):
        owner = nodes[_owner(scope)]
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f"    label={_dot_text(owner.state.name + ' ' + _branch_title(scope))}; style=dashed; "
                     "color=\"#adb5bd\";")
        for pointer in members:
            node = nodes[pointer]
            lines.append(f"    {node.id} [label={_dot_text(node.text)}, {DOT_STYLE[node.role]}];")
        lines.append("  }")
    if graph.start in nodes:
        lines.append(f"  start -> {nodes[graph.start].id};")
    for edge in drawn_edges(graph):
        attributes = []
        text = edge_label(graph, edge)
        if text:
            attributes.append(f"label={_dot_text(text)}")
        if edge.kind == "catch":
            attributes.append('style=dashed, color="#c92a2a", fontcolor="#c92a2a"')
        suffix = f" [{', '.join(attributes)}]" if attributes else ""
        lines.append(f"  {nodes[edge.source].id} -> {nodes[edge.target].id}{suffix};")
    finished = ends(graph)
    if finished:
        lines.append('  finish [shape=doublecircle, label="", width=0.2, style=filled, fillcolor=black];')
        lines.extend(f"  {nodes[p].id} -> finish;" for p in finished)
    lines.append("}")
    return "\n".join(lines) + "\n"


class RenderError(Exception):
    """Graphviz is missing or refused the graph."""


def render(dot_text: str, fmt: str) -> bytes:
    """Lay out DOT text with Graphviz `dot` as svg or png."""
    executable = shutil.which("dot")
    if executable is None:
        raise RenderError("Graphviz 'dot' is not installed (Debian: apt-get install graphviz); "
                          "--format mermaid needs nothing")
    done = subprocess.run([executable, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True,
                          timeout=60, check=False)
    if done.returncode != 0:
        raise RenderError(f"dot failed: {done.stderr.decode('utf-8', 'replace').strip()}")
    return done.stdout


def resolve(playbook: str, workflows: Path = Path("workflows")) -> Path:
    """A playbook name (workflows/NAME/), a playbook folder, or a definition file -> the definition file."""
    candidate = Path(playbook)
    if candidate.is_file():
        return candidate
    if candidate.is_dir():
        return candidate / "definition.asl.json"
    return workflows / playbook / "definition.asl.json"


def draw(path: Path, fmt: str, catalog: Catalog) -> bytes:
    """The graph of the definition at `path` in `fmt`."""
    definition = load(path)
    catalog = catalog.with_playbook(path.parent)
    if fmt == "mermaid":
        return mermaid(definition, catalog).encode("utf-8")
    text = dot(definition, catalog, title=path.parent.name)
    return text.encode("utf-8") if fmt == "dot" else render(text, fmt)


def main(playbook: str, fmt: str, output: str | None, catalog: Catalog | None = None) -> int:
    path = resolve(playbook)
    try:
        data = draw(path, fmt, catalog or Catalog.from_registry())
    except FileNotFoundError:
        print(f"irflow graph: no playbook {playbook!r} (looked for {path})", file=sys.stderr)
        return 2
    except (DefinitionLoadError, RenderError) as error:
        print(f"irflow graph: {path}: {getattr(error, 'message', error)}", file=sys.stderr)
        return 2
    if output:
        Path(output).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0


def register(subparsers: Any) -> None:
    """Add `irflow graph` to the CLI."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "graph", help="draw a playbook's state graph, approval gates and destructive steps marked",
        description="Draw a playbook's state graph: Mermaid text, Graphviz DOT, or SVG/PNG laid out by Graphviz.")
    parser.add_argument("playbook", metavar="PLAYBOOK", help="playbook name (workflows/NAME), folder or definition file")
    parser.add_argument("--format", choices=FORMATS, default="mermaid", help="output format (default: mermaid)")
    parser.add_argument("-o", "--output", help="write to this file instead of standard output")
    parser.set_defaults(run=lambda args: main(args.playbook, args.format, args.output))

