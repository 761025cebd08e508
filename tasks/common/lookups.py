"""Optional reads for enrichment: a lookup AWS refuses (or the account lacks) becomes a note, not a failure.

Enrichment gathers everything it can before a person decides; one refused `List...` call must
not stop the response, but the person must see that the picture is incomplete and why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .aws import error_code, error_message

T = TypeVar("T")


def noted(notes: list[str], what: str, read: Callable[[], T], default: Any) -> T:
    """`read()`, or `default` (of the same kind) with a note naming what could not be read and AWS's reason."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return read()
    except (ClientError, BotoCoreError) as error:
        notes.append(f"{what} unreadable: {error_code(error) or type(error).__name__}: {error_message(error)}")
        result: T = default
        return result
