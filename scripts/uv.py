"""Run uv, installing it first if this machine has none: `python3 scripts/uv.py ARGS…`.

Why not `pip install uv`: Debian and Ubuntu mark their Python "externally managed"
(PEP 668), so pip refuses to install into it, and a stock system may have no pip or
venv module at all. uv is one static binary, published on PyPI inside a wheel; this
script (standard library only) downloads the wheel for this platform from PyPI's simple
index, checks its sha256 against the index, and unpacks the binary into ~/.local/bin.
Nothing else is installed, nothing runs as root, and an existing uv is used as it is.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import stat
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

UV_VERSION = "0.13.9"  # any uv from 0.5 on reads the committed uv.lock
INDEX = os.environ.get("UV_BOOTSTRAP_INDEX", "https://pypi.org/simple")
TARGET = Path(os.environ.get("UV_BOOTSTRAP_DIR", Path.home() / ".local" / "bin"))

# platform.machine() → the wheel tag's architecture
ARCHES = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "aarch64": "aarch64",
    "arm64": "arm64",
    "i686": "i686",
    "armv7l": "armv7l",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
}


def existing_uv() -> str | None:
    found = shutil.which("uv")
    if found:
        return found
    local = TARGET / "uv"
    return str(local) if local.is_file() and os.access(local, os.X_OK) else None


def wheel_matches(filename: str, system: str, arch: str, musl: bool) -> bool:
    tags = filename.removesuffix(".whl").split("-")[-1]
    if system == "Linux":
        family = "musllinux" if musl else "manylinux"
        return any(t.startswith(family) and t.endswith("_" + arch) for t in tags.split("."))
    if system == "Darwin":
        return any(t.startswith("macosx") and t.endswith("_" + arch) for t in tags.split("."))
    return False


def pick_wheel(files: list[dict[str, object]]) -> dict[str, object]:
    system = platform.system()
    arch = ARCHES.get(platform.machine().lower(), platform.machine().lower())
    if system == "Darwin" and arch == "aarch64":
        arch = "arm64"
    musl = system == "Linux" and "musl" in (platform.libc_ver()[0] or "").lower()
    prefix = f"uv-{UV_VERSION}-"
    for f in files:
        name = str(f["filename"])
        if name.startswith(prefix) and wheel_matches(name, system, arch, musl):
            return f
    sys.exit(
        f"scripts/uv.py: PyPI has no uv {UV_VERSION} wheel for {system} {arch}; "
        "install uv by hand (https://docs.astral.sh/uv/) and run the command again"
    )


def install() -> str:
    request = urllib.request.Request(
        f"{INDEX}/uv/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        files = json.load(answer)["files"]
    wheel = pick_wheel(files)
    expected = dict(wheel["hashes"])["sha256"]  # type: ignore[call-overload]
    print(f"scripts/uv.py: installing {wheel['filename']} into {TARGET}", file=sys.stderr)
    TARGET.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "uv.whl"
        digest = hashlib.sha256()
        with urllib.request.urlopen(str(wheel["url"]), timeout=300) as src, open(path, "wb") as dst:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                dst.write(chunk)
        if digest.hexdigest() != expected:
            sys.exit(
                f"scripts/uv.py: {wheel['filename']} does not match PyPI's sha256; not installed"
            )
        with zipfile.ZipFile(path) as zf:
            member = next(n for n in zf.namelist() if n.endswith(".data/scripts/uv"))
            staged = TARGET / ".uv.new"
            with zf.open(member) as src, open(staged, "wb") as dst:
                shutil.copyfileobj(src, dst)
    staged.chmod(staged.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    staged.replace(TARGET / "uv")
    return str(TARGET / "uv")


def main() -> None:
    uv = existing_uv() or install()
    if sys.argv[1:] == ["--path"]:
        print(uv)
        return
    os.execv(uv, [uv, *sys.argv[1:]])


if __name__ == "__main__":
    main()
