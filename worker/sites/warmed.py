"""Imported by the extraction pools' fork server (worker.pool): loads the extraction code
and fills its first-call caches once, so every process forked from the server starts
ready instead of importing and warming on its own. Nothing else should import it."""

from __future__ import annotations

import datasketch  # noqa: F401  (the report's same-text search runs in a pool process)

from worker.sites.registry import warm

warm()
