"""A playbook's state graph for the console, each state marked with its status in one execution.

The picture is `irflow graph`'s own (`irflow.authoring.graph`: approval gates and destructive
steps stand out), laid out once per playbook by Graphviz as SVG. Marking a state is a class on
its SVG group (`st-running`, `st-waiting`, `st-succeeded`, `st-failed`), found through the DOT
node id that `graph.nodes_of` gave the state; the stylesheet colours them and the page scrolls
the current state into view. Without Graphviz the console shows the states as a list instead.
"""

from __future__ import annotations

import html
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

STATUS_CLASS = {"RUNNING": "st-running", "WAITING": "st-waiting", "SUCCEEDED": "st-succeeded", "FAILED": "st-failed",
                "TIMED_OUT": "st-failed", "ABORTED": "st-failed"}
NODE = re.compile(r'<g id="(node\d+)" class="node">\s*<title>(s\d+)</title>')
SIZE = re.compile(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"')


class GraphUnavailable(Exception):
    """No picture for this playbook (no definition in the repository, or no Graphviz)."""


@dataclass(frozen=True)
class Drawing:
    """The laid-out SVG of one playbook and the state name of each DOT node id."""

    svg: str
    states: dict[str, str]  # DOT node id (s0, s1, ...) -> state name
    order: tuple[str, ...]  # state names in definition order (for the list fallback)


class Graphs:
    """Drawings per playbook, made on first use from `workflows/<playbook>/definition.asl.json`."""

    def __init__(self, workflows: Path) -> None:
        self.workflows = workflows
        self._drawings: dict[str, Drawing | GraphUnavailable] = {}
        self._lock = threading.Lock()

    def drawing(self, playbook: str) -> Drawing:
        with self._lock:
            if playbook not in self._drawings:
                try:
                    self._drawings[playbook] = self._draw(playbook)
                except GraphUnavailable as error:
                    self._drawings[playbook] = error
            found = self._drawings[playbook]
        if isinstance(found, GraphUnavailable):
            raise found
        return found

    def _draw(self, playbook: str) -> Drawing:
        from irflow.authoring import graph
        from irflow.authoring.catalog import Catalog
        from irflow.authoring.definition import DefinitionLoadError, load

        path = self.workflows / playbook / "definition.asl.json"
        try:
            definition = load(path)
        except (OSError, DefinitionLoadError) as error:
            raise GraphUnavailable(f"no readable definition for {playbook} in {self.workflows}") from error
        catalog = Catalog.from_registry().with_playbook(path.parent)
        nodes = graph.nodes_of(definition.graph(), catalog)
        states = {node.id: node.state.name for node in nodes.values()}
        order = tuple(node.state.name for node in nodes.values())
        try:
            svg = graph.render(graph.dot(definition, catalog), "svg").decode("utf-8")
        except graph.RenderError as error:
            if shutil.which("dot") is None:  # the list of states still tells where the execution is
                return Drawing("", states, order)
            raise GraphUnavailable(str(error)) from error
        return Drawing(svg[svg.index("<svg"):], states, order)

    def marked(self, playbook: str, statuses: dict[str, str]) -> str:
        """The playbook's SVG with each state's status as a class (raises GraphUnavailable)."""
        drawing = self.drawing(playbook)
        if not drawing.svg:
            raise GraphUnavailable("Graphviz is not installed (Debian: apt-get install graphviz)")

        def mark(match: re.Match[str]) -> str:
            name = drawing.states.get(match.group(2), "")
            status = STATUS_CLASS.get(statuses.get(name, ""), "st-idle")
            return (f'<g id="{match.group(1)}" class="node {status}" data-state="{html.escape(name)}">'
                    f"<title>{html.escape(name)}</title>")

        svg = NODE.sub(mark, drawing.svg)
        # Keep the drawing's proportions but let the page scale it (points to CSS pixels, 1:1.33).
        return SIZE.sub(lambda m: f'<svg class="graph" width="{float(m.group(1)) * 4 / 3:.0f}" '
                                  f'height="{float(m.group(2)) * 4 / 3:.0f}"', svg, count=1)
