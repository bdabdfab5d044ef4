"""runtime.CitedPeople: whom each source of a run is cited for, read once per process."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from worker.digest.parse import parse_digest
from worker.runtime import CitedPeople
from worker.store.engine import make_engine, make_session_factory
from worker.store.models import Run

DIGEST = """Digest of September 2021

1. On 2 September, activist Askar Kayirbek was detained in Almaty [1][2].
2. On 5 September, blogger Aigul Utepova was fined [2].

[1] https://rus.azattyq.org/a/31000001.html
[2] https://vlast.kz/novosti/47000-shtraf.html
"""


def test_first_captures_at_once_read_the_digest_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = parse_digest(DIGEST, name="sept")
    sessions = make_session_factory(make_engine(f"sqlite:///{tmp_path / 'c.db'}"))
    with sessions() as session:
        session.add(
            Run(id="r1", digest_id=digest.id, title="t", digest_json=digest.model_dump_json())
        )
        session.commit()
    loads: list[str] = []
    real = CitedPeople._load

    def slow_load(sessions_: object, run_id: str) -> dict[str, list[str]]:
        loads.append(run_id)
        time.sleep(0.05)  # a big digest: the other threads arrive meanwhile
        return real(sessions_, run_id)  # type: ignore[arg-type]

    monkeypatch.setattr(CitedPeople, "_load", staticmethod(slow_load))
    cited = CitedPeople()
    urls = [s.canonical_url for s in digest.sources]
    got: list[list[str]] = []
    threads = [
        threading.Thread(target=lambda u=u: got.append(cited.of(sessions, "r1", u)))
        for u in urls * 4
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert loads == ["r1"]
    assert len(got) == len(threads)
    first, second = (cited.of(sessions, "r1", u) for u in urls)
    assert first == ["Askar Kayirbek"]
    assert second == ["Askar Kayirbek", "Aigul Utepova"]  # both incidents cite it
    assert cited.of(sessions, "gone", urls[0]) == []  # a run without its digest
