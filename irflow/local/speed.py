"""Start-up tuning for a short process that runs the embedded AWS (`irflow simulate`, tests).

Measured on moto 5.2.5: most of the cost of the first calls is botocore parsing the same JSON
service models again and again (moto makes a fresh botocore session in several places, and each
session parses `endpoints.json` and the EC2 model anew), plus the garbage collector walking the
large dictionaries that result. Sharing one botocore loader per data path (between sessions
and moto's own response serialiser) makes each model parse once per process; botocore already shares a loader's parsed models between the clients
of one session, so sharing it between sessions hands out nothing new. Raising the collector's
threshold keeps it from scanning those models on every allocation burst.
"""

from __future__ import annotations

import functools
import gc
import sys

_applied = False


def apply() -> None:
    """Share botocore's data loader across sessions and relax the GC (idempotent)."""
    global _applied
    if _applied:
        return
    _applied = True
    import botocore.loaders
    import botocore.session

    create = functools.lru_cache(maxsize=None)(botocore.loaders.create_loader)

    def shared_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
        return create(search_path_string)

    # Sessions, and moto's own model loading (it imports the name from botocore.loaders later).
    for module in (botocore.session, botocore.loaders, sys.modules.get("moto.core.utils")):
        if module is not None:
            setattr(module, "create_loader", shared_loader)  # noqa: B010 (a module attribute, by name)
    gc.set_threshold(200_000, 50, 100)
