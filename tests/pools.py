"""An extraction pool for tests that says what a report handed it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from worker.pool import InlineExtractor

A = TypeVar("A")
R = TypeVar("R")


class RecordingExtractor(InlineExtractor):
    """The inline extractor, noting every item mapped with `watched` (e.g. the texts a
    report signs itself, or the names it matches itself)."""

    def __init__(self, watched: Callable[..., Any]) -> None:
        super().__init__()
        self.watched = watched
        self.items: list[Any] = []

    def map(self, fn: Callable[[A], R], items: Sequence[A]) -> list[R]:
        if fn is self.watched:
            self.items += items
        return super().map(fn, items)
