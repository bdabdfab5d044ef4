"""Debian's Chromium for the browser tests (Playwright's `executable_path`), and its flags:
the worker's headless ones, without its dead proxy (the tests' pages are on loopback)."""

from __future__ import annotations

from pathlib import Path

from worker.capture.screenshot import HEADLESS_ARGS

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = list(HEADLESS_ARGS)
