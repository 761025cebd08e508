"""The shipped playbooks lint clean, and the pictures of them in docs/ are up to date."""

from __future__ import annotations

from pathlib import Path

import pytest

from irflow.authoring import graph
from irflow.authoring.catalog import Catalog
from irflow.authoring.lint import lint_file

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = sorted(p.parent.name for p in (REPO / "workflows").glob("*/definition.asl.json"))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.from_registry()


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_shipped_playbook_lints_clean(playbook: str, catalog: Catalog) -> None:
    problems = lint_file(REPO / "workflows" / playbook / "definition.asl.json", catalog)
    assert [str(p) for p in problems] == []


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_docs_picture_is_up_to_date(playbook: str, catalog: Catalog) -> None:
    """`make docs` writes docs/playbooks/NAME.mmd and .svg; the Mermaid text must match the definition."""
    definition = REPO / "workflows" / playbook / "definition.asl.json"
    docs = REPO / "docs" / "playbooks"
    assert (docs / f"{playbook}.mmd").read_bytes() == graph.draw(definition, "mermaid", catalog), "run `make docs`"
    assert (docs / f"{playbook}.svg").read_text(encoding="utf-8").count("<svg") == 1
