"""A text's fingerprint for finding its copies: word 5-gram shingles and their MinHash.

The report's same-text search (worker.judge.syndication) compares texts by these.
Shingles are taken from lower-cased, NFKC-normalised words (`\\w+`, so Cyrillic and the
Kazakh letters ә, ғ, қ, ң, ө, ұ, ү, һ, і are letters like any other) and `ё` is read as
`е`, as Russian spelling allows; a text with fewer than `MIN_SHINGLES` shingles is too
short to call a copy of anything.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datasketch import MinHash

__all__ = ["MIN_SHINGLES", "NUM_PERM", "SCHEME", "shingles", "signature"]

SHINGLE = 5
NUM_PERM = 128
SCHEME = "affine32"  # datasketch's permutation scheme, named: signatures travel between processes
MIN_SHINGLES = 20
_WORD = re.compile(r"\w+")


def shingles(text: str) -> set[str]:
    """The word 5-grams of `text`, normalised (case, NFKC, ё → е)."""
    norm = unicodedata.normalize("NFKC", text).lower().replace("ё", "е")
    words = _WORD.findall(norm)
    return {" ".join(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}


def signature(text: str) -> list[int] | None:
    """The MinHash signature of `text`'s shingles (`NUM_PERM` values), or None for a text
    too short to call a copy of anything. Picklable in and out: a report computes the
    signatures of its texts on the extraction processes (worker.pool)."""
    grams = shingles(text)
    if len(grams) < MIN_SHINGLES:
        return None
    return [int(v) for v in _minhash(grams).hashvalues]


def _minhash(grams: set[str]) -> MinHash:
    from datasketch import MinHash

    # crc32 for the shingles' base hash: a tenth of sha1's cost in Python, and the exact
    # Jaccard confirms every pair the signatures nominate
    sig = MinHash(num_perm=NUM_PERM, seed=1, hashfunc=zlib.crc32, scheme=SCHEME)
    sig.update_batch([g.encode("utf-8") for g in grams])
    return sig
