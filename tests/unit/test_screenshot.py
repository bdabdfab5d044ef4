"""worker.capture.screenshot.render_png: archived HTML → PNG with headless Chromium, no network."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from worker.capture.screenshot import PNG_MAGIC, chromium_available, render_png

CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(
    not chromium_available(CHROMIUM), reason="chromium is not installed"
)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which always follows the 8-byte magic."""
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@needs_chromium
def test_a_tiny_page_renders_to_a_png_of_the_window_size() -> None:
    # the image points at a host that does not exist: the dead proxy fails it at once
    html = b"<html><body><h1>Archived</h1><img src='https://img.example/x.png'></body></html>"
    png = render_png(html, url="https://news.example/a/1.html", chromium=CHROMIUM, timeout=60)
    assert png is not None
    assert png.startswith(PNG_MAGIC)
    assert png_size(png) == (1280, 1800)


def test_a_missing_chromium_is_reported_unavailable(tmp_path: Path) -> None:
    assert not chromium_available(tmp_path / "no-chromium")
    plain = tmp_path / "not-executable"
    plain.write_text("#!/bin/sh\n")
    assert not chromium_available(plain)


def test_a_browser_that_fails_gives_no_png(tmp_path: Path) -> None:
    broken = tmp_path / "chromium"
    broken.write_text("#!/bin/sh\necho 'no display' >&2\nexit 3\n")
    broken.chmod(0o755)
    assert chromium_available(broken)
    assert render_png(b"<p>x</p>", url="https://a.example/", chromium=broken) is None


def test_a_browser_that_writes_no_png_gives_none(tmp_path: Path) -> None:
    # exits 0 but writes something that is not a PNG where the screenshot should be
    liar = tmp_path / "chromium"
    liar.write_text(
        '#!/bin/sh\nfor a in "$@"; do case "$a" in --screenshot=*) '
        'echo "GIF89a" > "${a#--screenshot=}";; esac; done\nexit 0\n'
    )
    liar.chmod(0o755)
    assert render_png(b"<p>x</p>", url="https://a.example/", chromium=liar) is None
