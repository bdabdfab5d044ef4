"""The same story at several URLs: near-duplicate texts among the sources we hold.

Kazakh news is reprinted widely (kaztag, informburo, vlast, tirek and Telegram channels
copy each other). `same_texts(texts)` finds the pairs of extracted texts that tell the
same story, with datasketch's MinHash LSH over word 5-gram shingles (`nominated`), then
confirms each candidate with the exact Jaccard similarity of the two shingle sets
(`confirmed`: LSH only nominates).
The shingles and signatures are worker.extract.shingles'.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

from worker.extract.shingles import NUM_PERM, SCHEME, shingles, signature

__all__ = ["SameText", "confirmed", "nominated", "same_texts"]

DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class SameText:
    """Two texts that tell the same story; `similarity` is the Jaccard of their shingles."""

    first: Hashable
    second: Hashable
    similarity: float


def same_texts(
    texts: Mapping[Hashable, str],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    signatures: Sequence[list[int] | None] | None = None,
) -> list[SameText]:
    """Every pair of `texts` (key → extracted text) whose shingle sets overlap by at least
    `threshold` (Jaccard), most similar first. Keys are the caller's (a source, a capture).
    `signatures`: each text's `signature`, in `texts`' order, if the caller has them."""
    if signatures is None:
        signatures = [signature(text) for text in texts.values()]
    return confirmed(texts, nominated(signatures, threshold=threshold), threshold=threshold)


def nominated(
    signatures: Sequence[list[int] | None], *, threshold: float = DEFAULT_THRESHOLD
) -> list[tuple[int, int]]:
    """The pairs (i, j), i < j, of `signatures` (None: a text too short, or unsigned)
    whose MinHash estimate comes near `threshold`: the candidates `confirmed` checks.

    Needs the signatures only, so a report runs it on an extraction process (whose
    datasketch import is warm) without sending it every text."""
    signed = [index for index, sig in enumerate(signatures) if sig is not None]
    if len(signed) < 2:
        return []
    # imported here: datasketch's package imports scipy (0.85 s), which every command
    # would pay at start-up for a step only a report with two texts or more needs
    import numpy as np
    from datasketch import LeanMinHash, MinHashLSH

    # LSH nominates at a lower bar than asked, so a pair just above it is not missed
    lsh = MinHashLSH(threshold=max(0.1, threshold * 0.8), num_perm=NUM_PERM)
    # Lean hashes: no permutations to build (a tenth of a millisecond each), and LSH
    # reads only the values
    hashes = [LeanMinHash(seed=1, hashvalues=signatures[i], scheme=SCHEME) for i in signed]
    values = np.array([h.hashvalues for h in hashes])
    for position, lean in enumerate(hashes):
        lsh.insert(position, lean)
    pairs: list[tuple[int, int]] = []
    for position, lean in enumerate(hashes):
        others = sorted(other for other in lsh.query(lean) if other > position)
        if not others:
            continue
        # the signatures' estimate (MinHash.jaccard) for all candidates at once: pages
        # that share a site's boilerplate make many (45,000 on a 1,000-page bench run)
        estimates = (values[others] == values[position]).mean(axis=1)
        pairs.extend(
            (signed[position], signed[other])
            for other, estimate in zip(others, estimates, strict=True)
            if estimate >= threshold * 0.8
        )
    return pairs


def confirmed(
    texts: Mapping[Hashable, str],
    pairs: Sequence[tuple[int, int]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> list[SameText]:
    """The `nominated` pairs (indexes in `texts`' order) whose exact shingle Jaccard is at
    least `threshold`, most similar first (the exact check is 100× dearer than the
    estimate: only candidates get it)."""
    keys = list(texts)
    grams: dict[int, set[str]] = {}  # shingle sets of the candidates only

    def shingled(index: int) -> set[str]:
        if index not in grams:
            grams[index] = shingles(texts[keys[index]])
        return grams[index]

    found: list[SameText] = []
    for first, second in pairs:
        a, b = shingled(first), shingled(second)
        similarity = len(a & b) / len(a | b)
        if similarity >= threshold:
            found.append(SameText(keys[first], keys[second], round(similarity, 3)))
    return sorted(found, key=lambda p: -p.similarity)
