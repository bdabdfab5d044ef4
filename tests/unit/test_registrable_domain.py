"""The registrable domain of a host, from the bundled Public Suffix List (worker.judge.rules)."""

from __future__ import annotations

import threading

import pytest
from tldextract import tldextract as tld_module

from worker.judge import rules


def test_the_suffix_trie_is_built_once_however_many_threads_ask_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a run's first captures all ask at once; tldextract builds its trie unlocked
    builds: list[int] = []
    real_init = tld_module._PublicSuffixListTLDExtractor.__init__

    def counting_init(self: object, *args: object, **kwargs: object) -> None:
        builds.append(1)
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tld_module._PublicSuffixListTLDExtractor, "__init__", counting_init)
    monkeypatch.setattr(rules, "_extractor_made", None)
    rules.registrable_domain.cache_clear()
    start = threading.Barrier(8)
    domains: list[str] = []

    def ask(host: str) -> None:
        start.wait()
        domains.append(rules.registrable_domain(host))

    threads = [threading.Thread(target=ask, args=(f"www{i}.news.co.uk",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rules.registrable_domain.cache_clear()
    assert len(builds) == 1
    assert domains == ["news.co.uk"] * 8
