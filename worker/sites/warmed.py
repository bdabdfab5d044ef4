"""Imported by the extraction pools' fork server (worker.pool): loads the extraction code
and fills its first-call caches once, so every process forked from the server starts
ready instead of importing and warming on its own. Nothing else should import it."""

from __future__ import annotations

import gc

import datasketch  # noqa: F401  (the report's same-text search runs in a pool process)

from worker.sites.registry import warm

warm()
# What the server loaded stays for good: frozen, the collector never walks it again, in
# the server (whose exit took ~0.65 s of collecting at the end of every run) or in the
# processes forked from it (which also keep those pages shared instead of copied).
gc.freeze()
