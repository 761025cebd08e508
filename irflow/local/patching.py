"""Reversible patches on moto classes, so every gap filler can be undone when a world closes.

moto keeps its backends and response classes process-wide; a world that patches them must put
them back on close, or the next test (or the next world) would inherit its behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_MISSING = object()


class Patches:
    """A stack of attribute replacements, undone in reverse order."""

    def __init__(self) -> None:
        self._undo: list[tuple[Any, str, Any]] = []

    def set(self, owner: Any, name: str, value: Any) -> None:
        """Replace (or add) `owner.name`, remembering what was there."""
        self._undo.append((owner, name, owner.__dict__.get(name, _MISSING)))
        setattr(owner, name, value)

    def wrap(self, owner: Any, name: str, wrapper: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
        """Replace `owner.name` with `wrapper(original)`."""
        self.set(owner, name, wrapper(getattr(owner, name)))

    def undo(self) -> None:
        while self._undo:
            owner, name, old = self._undo.pop()
            if old is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, old)
