"""The same story at several URLs: near-duplicate texts among the sources we hold.

Kazakh news is reprinted widely (kaztag, informburo, vlast, tirek and Telegram channels
copy each other). `same_texts(texts)` finds the pairs of extracted texts that tell the
same story, with datasketch's MinHash LSH over word 5-gram shingles, then confirms each
candidate with the exact Jaccard similarity of the two shingle sets (LSH only nominates).
The shingles and signatures are worker.extract.shingles'.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

from worker.extract.shingles import NUM_PERM, SCHEME, shingles, signature

__all__ = ["SameText", "same_texts"]

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
    signed = {key: sig for key, sig in zip(texts, signatures, strict=True) if sig is not None}
    if len(signed) < 2:
        return []
    # imported here: datasketch's package imports scipy (0.85 s), which every command
    # would pay at start-up for a step only a report with two texts or more needs
    import numpy as np
    from datasketch import LeanMinHash, MinHashLSH

    # LSH nominates at a lower bar than asked, so a pair just above it is not missed
    lsh = MinHashLSH(threshold=max(0.1, threshold * 0.8), num_perm=NUM_PERM)
    order = list(signed)
    # Lean hashes: no permutations to build (a tenth of a millisecond each), and LSH
    # reads only the values
    hashes = [LeanMinHash(seed=1, hashvalues=signed[key], scheme=SCHEME) for key in order]
    values = np.array([h.hashvalues for h in hashes])
    for index, lean in enumerate(hashes):
        lsh.insert(index, lean)
    grams: dict[Hashable, set[str]] = {}  # shingle sets of the candidates only

    def shingled(key: Hashable) -> set[str]:
        if key not in grams:
            grams[key] = shingles(texts[key])
        return grams[key]

    pairs: list[SameText] = []
    for index, key in enumerate(order):
        others = sorted(other for other in lsh.query(hashes[index]) if other > index)
        if not others:
            continue
        # the signatures' estimate first (MinHash.jaccard, for all candidates at once):
        # the exact set Jaccard is 100× dearer, and pages that share a site's boilerplate
        # make many candidates (45,000 on a 1,000-page bench run)
        estimates = (values[others] == values[index]).mean(axis=1)
        for other, estimate in zip(others, estimates, strict=True):
            if estimate < threshold * 0.8:
                continue
            a, b = shingled(key), shingled(order[other])
            similarity = len(a & b) / len(a | b)
            if similarity >= threshold:
                pairs.append(SameText(key, order[other], round(similarity, 3)))
    return sorted(pairs, key=lambda p: -p.similarity)
