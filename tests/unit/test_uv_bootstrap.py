"""scripts/uv.py: the README's first command on a Python where pip may not install (PEP 668).

The script is run as a newcomer runs it, in a subprocess with no uv on PATH, against a
loopback stand-in for PyPI's simple index that serves a small wheel holding a `uv` script.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "uv.py"
sys.path.insert(0, str(SCRIPT.parent))
import uv as bootstrap  # noqa: E402  (scripts/ is not a package)


def _tag() -> str:
    arch = platform.machine().lower()
    return f"manylinux_2_17_{arch}.manylinux2014_{arch}"


def _wheel() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"uv-{bootstrap.UV_VERSION}.data/scripts/uv", '#!/bin/sh\necho fake-uv "$@"\n')
    return buf.getvalue()


@pytest.fixture
def index(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "index"
    (root / "uv").mkdir(parents=True)
    wheel = _wheel()
    name = f"uv-{bootstrap.UV_VERSION}-py3-none-{_tag()}.whl"
    (root / name).write_bytes(wheel)
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(root))
    )
    base = f"http://127.0.0.1:{server.server_address[1]}"
    files = [
        {"filename": f"uv-{bootstrap.UV_VERSION}-py3-none-win_amd64.whl", "url": f"{base}/x",
         "hashes": {"sha256": "0" * 64}},
        {"filename": name, "url": f"{base}/{name}",
         "hashes": {"sha256": hashlib.sha256(wheel).hexdigest()}},
    ]  # fmt: skip
    (root / "uv" / "index.html").write_text(json.dumps({"files": files}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield base, root
    server.shutdown()
    server.server_close()


def _run(base: str, target: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",  # no uv here
        "HOME": str(target.parent),
        "UV_BOOTSTRAP_INDEX": base,
        "UV_BOOTSTRAP_DIR": str(target),
    }
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.skipif(platform.system() != "Linux", reason="the stand-in wheel is a Linux one")
def test_installs_the_platform_wheel_and_runs_it(index, tmp_path: Path) -> None:
    if os.path.exists("/usr/bin/uv") or os.path.exists("/bin/uv"):
        pytest.skip("a system uv would be used instead")
    base, _root = index
    target = tmp_path / "bin"
    done = _run(base, target, "run", "sourcevault", "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "fake-uv run sourcevault --help"
    assert os.access(target / "uv", os.X_OK)
    again = _run("http://127.0.0.1:9/", target, "--version")  # installed: no index needed
    assert again.stdout.strip() == "fake-uv --version"


@pytest.mark.skipif(platform.system() != "Linux", reason="the stand-in wheel is a Linux one")
def test_a_wheel_that_does_not_match_the_index_hash_is_not_installed(index, tmp_path: Path) -> None:
    base, root = index
    name = next(p.name for p in root.iterdir() if p.suffix == ".whl")
    (root / name).write_bytes(_wheel() + b"tampered")
    target = tmp_path / "bin"
    done = _run(base, target, "--version")
    assert done.returncode != 0
    assert "does not match PyPI's sha256" in done.stderr
    assert not (target / "uv").exists()


@pytest.mark.parametrize(
    ("filename", "system", "arch", "musl", "ok"),
    [
        ("uv-1-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
         "Linux", "x86_64", False, True),
        ("uv-1-py3-none-musllinux_1_1_x86_64.whl", "Linux", "x86_64", False, False),
        ("uv-1-py3-none-musllinux_1_1_x86_64.whl", "Linux", "x86_64", True, True),
        ("uv-1-py3-none-manylinux_2_28_aarch64.whl", "Linux", "x86_64", False, False),
        ("uv-1-py3-none-macosx_11_0_arm64.whl", "Darwin", "arm64", False, True),
        ("uv-1-py3-none-win_amd64.whl", "Linux", "x86_64", False, False),
    ],
)  # fmt: skip
def test_wheel_matches(filename: str, system: str, arch: str, musl: bool, ok: bool) -> None:
    assert bootstrap.wheel_matches(filename, system, arch, musl) is ok
