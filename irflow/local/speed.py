"""Start-up tuning for a short process that runs the embedded AWS (`irflow simulate`, tests).

Measured on moto 5.2.5: most of the cost of the first calls is parsing the same JSON service
models again and again (every botocore session parses `endpoints.json` and each model anew, and
moto makes a fresh loader for every model it reads), plus the garbage collector walking the
large dictionaries that result. One botocore loader per data path, shared by all sessions (its
search path kept free of repeats), parses each model once for the clients; botocore already
shares a loader's parsed models between the clients of one session, so sharing it between
sessions hands out nothing new. moto keeps a loader of its own (it merges moto-only extras into
the models it reads), made once instead of per model. Raising the collector's threshold keeps
it from scanning those models on every allocation burst.
"""

from __future__ import annotations

import functools
import gc

_applied = False


class _UniquePaths(list[str]):
    """A loader's search path that ignores a path it already has: every boto3 Session appends
    boto3's data directory to its loader, and a shared loader would otherwise list it again for
    each session, slowing every model lookup."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


def apply(short_lived: bool = False) -> None:
    """Share botocore's data loader across sessions, keep one moto loader, relax the GC (idempotent).

    `short_lived` (one `irflow simulate` process): switch the collector off altogether. Measured:
    it frees next to nothing (peak memory is the same either way) and costs ~0.1 s.
    """
    global _applied
    if short_lived:
        gc.disable()
    if _applied:
        return
    _applied = True
    import botocore.loaders
    import botocore.session

    original = botocore.loaders.create_loader

    @functools.cache
    def shared_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
        loader = original(search_path_string)
        loader._search_paths = _UniquePaths(loader.search_paths)  # type: ignore[attr-defined]
        return loader

    botocore.session.create_loader = shared_loader
    # moto reads models through its own loader (it merges moto-only extras into them, so it must
    # not share botocore's), but makes a new one for every model; one per process is enough.
    import moto.core.loaders
    import moto.core.utils

    moto_loader = functools.cache(moto.core.loaders.create_loader)
    moto.core.loaders.create_loader = moto_loader
    moto.core.utils.create_loader = moto_loader
    gc.set_threshold(200_000, 50, 100)
