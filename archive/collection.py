"""The on-disk collection layout shared with pywb.

    <data_dir>/collections/<name>/archive/   WARC files (*.warc.gz, *.warc.gz.open)
    <data_dir>/collections/<name>/indexes/   index.cdxj (sorted CDXJ)

pywb runs as a separate service over this same tree, so the layout is the contract.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Collection"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Collection:
    data_dir: Path
    name: str

    def __post_init__(self) -> None:
        # The name becomes a path segment and a replay URL segment: keep it plain.
        if not _NAME.match(self.name):
            raise ValueError(f"invalid collection name {self.name!r}")
        object.__setattr__(self, "data_dir", Path(self.data_dir))

    @property
    def root(self) -> Path:
        return self.data_dir / "collections" / self.name

    @property
    def archive_dir(self) -> Path:
        return self.root / "archive"

    @property
    def indexes_dir(self) -> Path:
        return self.root / "indexes"

    def ensure(self) -> Collection:
        """Create the directories if missing; returns self for chaining."""
        self.archive_dir.mkdir(parents=True, exist_ok=True)
        self.indexes_dir.mkdir(parents=True, exist_ok=True)
        return self
