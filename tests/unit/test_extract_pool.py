"""worker.pool: extraction in a process pool gives what `extract` gives, survives
processes that die mid-page, and is switched by `Settings.extract_processes`.

Crashes are real: `tests.unit.extract_pool_helpers.misbehaving_extract` runs in the pool's
processes and calls `os._exit(1)` on a cue written into the page. Pages are
held in flight with files (a "gate"), never with sleeps.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import fields
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from tests.unit.extract_pool_helpers import (
    cue,
    frozen_objects,
    misbehaving_extract,
    square_where,
    wait_for,
)
from worker.extract.page import ExtractedPage, ExtractionFailure, ExtractOptions, extract
from worker.extract.shingles import signature
from worker.pool import (
    InlineExtractor,
    ProcessExtractor,
    build_extractor,
    default_processes,
)
from worker.runtime import build_runtime
from worker.settings import Settings, load_settings

DATA = Path(__file__).parent / "data"
OPTIONS = ExtractOptions()
COMPARED = ("text", "title", "published", "date_source", "language", "charset")

# (fixture file, url, charset as an HTTP header would give it)
PAGES = [
    ("almaty_midnight.html", "https://example.kz/news/1", None),
    ("azattyq_kayirbek.html", "https://rus.azattyq.org/a/31438700.html", "windows-1251"),
    ("azattyq_kayirbek.html", "https://rus.azattyq.org/a/31438700.html", None),
    ("kazakh_lead.html", "https://example.kz/news/2", None),
    ("facebook_login.html", "https://www.facebook.com/groups/1", None),  # a failure
]
NORMAL = [p for p in PAGES if p[0] != "facebook_login.html"]


def html(name: str) -> bytes:
    return (DATA / name).read_bytes()


def run(
    extractor: InlineExtractor | ProcessExtractor, page: bytes, url: str = PAGES[0][1]
) -> ExtractedPage | ExtractionFailure:
    return extractor.extract(page, url=url, charset=None, options=OPTIONS)


def assert_same(got: object, expected: object) -> None:
    assert type(got) is type(expected), getattr(got, "reason", got)
    for name in COMPARED:
        assert getattr(got, name) == getattr(expected, name), name
    if isinstance(got, ExtractedPage) and isinstance(expected, ExtractedPage):
        # extract() reads; extract_page (what the pool runs) also signs the text it read
        got = dataclasses.replace(got, signature=expected.signature)
    assert got == expected  # and every other field, date candidates included


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessExtractor]:
    extractor = ProcessExtractor(2)
    try:
        yield extractor
    finally:
        extractor.close()


@pytest.fixture
def crashy() -> Iterator[ProcessExtractor]:
    """Two processes running `misbehaving_extract`: room for one held page and one more."""
    extractor = ProcessExtractor(2, fn=misbehaving_extract)
    try:
        yield extractor
    finally:
        extractor.close()


# ---- same results as extract()


@pytest.mark.parametrize(("name", "url", "charset"), PAGES)
def test_pool_and_inline_give_what_extract_gives(
    pool: ProcessExtractor, name: str, url: str, charset: str | None
) -> None:
    raw = html(name)
    expected = extract(raw, url=url, charset=charset, options=OPTIONS)
    for extractor in (pool, InlineExtractor()):
        got = extractor.extract(raw, url=url, charset=charset, options=OPTIONS)
        assert_same(got, expected)
        if isinstance(got, ExtractedPage):  # signed where it was read
            assert got.signature == signature(got.text)
            assert got.signature is not None or len(got.text.split()) < 30


def test_the_charset_argument_reaches_the_pool_process(pool: ProcessExtractor) -> None:
    raw = html("azattyq_kayirbek.html")
    url = "https://rus.azattyq.org/a/31438700.html"
    with_header = pool.extract(raw, url=url, charset="windows-1251", options=OPTIONS)
    without = pool.extract(raw, url=url, charset=None, options=OPTIONS)
    assert isinstance(with_header, ExtractedPage) and isinstance(without, ExtractedPage)
    assert (with_header.charset, with_header.charset_source) == ("windows-1251", "header")
    assert (without.charset, without.charset_source) == ("windows-1251", "meta")
    assert "Аскару Кайырбеку" in with_header.text


def test_options_reach_the_pool_process(pool: ProcessExtractor) -> None:
    raw, url, _ = PAGES[0]
    short = ExtractOptions(excerpt_chars=40)
    got = pool.extract(html(raw), url=url, charset=None, options=short)
    assert_same(got, extract(html(raw), url=url, charset=None, options=short))
    default = pool.extract(html(raw), url=url, charset=None, options=OPTIONS)
    assert isinstance(got, ExtractedPage) and isinstance(default, ExtractedPage)
    assert len(got.excerpt) <= 41 < len(default.excerpt)  # 40 and an ellipsis


def test_pool_runs_in_other_processes_and_inline_in_this_one(
    crashy: ProcessExtractor, tmp_path: Path
) -> None:
    log = tmp_path / "started"
    page = cue(html(PAGES[0][0]), f"started:{log}")
    assert isinstance(run(crashy, page), ExtractedPage)
    assert isinstance(run(InlineExtractor(misbehaving_extract), page), ExtractedPage)
    pool_pid, inline_pid = (int(line) for line in log.read_text().splitlines())
    assert inline_pid == os.getpid() != pool_pid


def test_pool_processes_start_with_the_loaded_code_frozen(pool: ProcessExtractor) -> None:
    # worker.sites.warmed freezes what the fork server loaded: the collector never walks
    # it again, in the server's exit (~0.65 s at every run's end) or in its processes
    assert pool.call(frozen_objects, None) > 10_000  # 0 before; ~100,000 objects now


# ---- crashes


def test_a_page_that_always_kills_its_process_fails_and_the_pool_recovers(
    crashy: ProcessExtractor, tmp_path: Path
) -> None:
    log = tmp_path / "started"
    result = run(crashy, cue(html(PAGES[0][0]), f"started:{log}", "crash"))
    assert isinstance(result, ExtractionFailure)
    assert "crashed its process" in result.reason
    # tried in the pool, in the rebuilt pool, then in a process of its own; no more
    assert len(log.read_text().splitlines()) == 3
    # the rebuilt pool takes the next page
    after = run(crashy, html(PAGES[0][0]))
    assert_same(after, extract(html(PAGES[0][0]), url=PAGES[0][1], charset=None, options=OPTIONS))


def test_a_page_that_never_finishes_is_abandoned_and_its_process_killed(
    tmp_path: Path,
) -> None:
    # the timeout is the fault injection here, not a measurement: the page never returns
    hung = ProcessExtractor(1, fn=misbehaving_extract, timeout=2.0)
    try:
        log = tmp_path / "started"
        result = run(hung, cue(html(PAGES[0][0]), f"started:{log}", "hang"))
        assert isinstance(result, ExtractionFailure)
        assert "longer than 2 s" in result.reason
        (stuck_pid,) = (int(line) for line in log.read_text().splitlines())
        after = run(hung, html(PAGES[0][0]))  # a new pool takes the next page
        assert isinstance(after, ExtractedPage)
        assert not _alive(stuck_pid)  # killed, not left spinning beside the new pool
    finally:
        hung.close()


def _alive(pid: int) -> bool:
    """Whether `pid` still runs, after giving a SIGTERM up to 30 s to land."""
    import psutil

    try:
        process = psutil.Process(pid)
        process.wait(timeout=30)
    except psutil.NoSuchProcess:
        return False
    except psutil.TimeoutExpired:
        return process.status() != psutil.STATUS_ZOMBIE
    return False


def test_a_page_that_kills_its_process_once_is_extracted_on_the_retry(
    crashy: ProcessExtractor, tmp_path: Path
) -> None:
    name, url, charset = PAGES[1]  # windows-1251, charset given
    page = cue(html(name), f"crash-once:{tmp_path / 'crashed'}", f"started:{tmp_path / 'log'}")
    result = crashy.extract(page, url=url, charset=charset, options=OPTIONS)
    assert (tmp_path / "crashed").exists()  # the first attempt did die
    assert len((tmp_path / "log").read_text().splitlines()) == 1  # only the retry got here
    assert_same(result, extract(page, url=url, charset=charset, options=OPTIONS))


def hold(
    threads: ThreadPoolExecutor, pool: ProcessExtractor, tmp_path: Path
) -> tuple[Future[ExtractedPage | ExtractionFailure], bytes, Path, Path]:
    """Start a page that stays in flight until `gate` exists; then fill the second process.

    The second page matters: `ProcessPoolExecutor` spawns processes on demand, and one
    spawned while its manager thread is already waiting is not watched until the next
    pool event, so a crash there would go unnoticed while the held page waits. A page
    that completes in the second process is such an event (and leaves it idle for the next).
    """
    started, gate = tmp_path / "held-started", tmp_path / "gate"
    held = cue(html(PAGES[0][0]), f"started:{started}", f"gate:{gate}")
    future = threads.submit(run, pool, held)
    wait_for(started, 1)  # running in the pool
    name, url, charset = PAGES[2]
    warm = pool.extract(html(name), url=url, charset=charset, options=OPTIONS)
    assert_same(warm, extract(html(name), url=url, charset=charset, options=OPTIONS))
    return future, held, started, gate


def test_pages_in_flight_when_a_process_dies_are_retried_not_failed(
    crashy: ProcessExtractor, tmp_path: Path
) -> None:
    others = [
        (cue(html(name), f"n{i}"), url, charset) for i, (name, url, charset) in enumerate(NORMAL)
    ]
    crasher = cue(html(PAGES[3][0]), f"crash-once:{tmp_path / 'crashed'}")
    with ThreadPoolExecutor(len(others) + 1) as threads:
        held_future, held, held_started, gate = hold(threads, crashy, tmp_path)
        other_futures: list[Future[ExtractedPage | ExtractionFailure]] = [
            threads.submit(crashy.extract, raw, url=url, charset=charset, options=OPTIONS)
            for raw, url, charset in others
        ]
        crashed = run(crashy, crasher, PAGES[3][1])
        gate.touch()  # the crash is over: let the held page finish
        results = [held_future.result(), *(f.result() for f in other_futures)]
    assert (tmp_path / "crashed").exists()
    assert_same(crashed, extract(crasher, url=PAGES[3][1], charset=None, options=OPTIONS))
    # the held page was running when the pool broke, and was started again in the new one
    assert len(held_started.read_text().splitlines()) == 2
    expected = [extract(held, url=PAGES[0][1], charset=None, options=OPTIONS)] + [
        extract(raw, url=url, charset=charset, options=OPTIONS) for raw, url, charset in others
    ]
    for got, want in zip(results, expected, strict=True):
        assert_same(got, want)


def test_a_page_crashing_twice_does_not_fail_pages_retried_beside_it(
    crashy: ProcessExtractor, tmp_path: Path
) -> None:
    crasher_started, go = tmp_path / "crasher-started", tmp_path / "go"
    # crashes; its retry waits (running in the new pool) until told to crash again
    crasher = cue(
        html(PAGES[3][0]),
        f"crash-once:{tmp_path / 'crashed'}",
        f"started:{crasher_started}",
        f"gate:{go}",
        "crash",
    )
    with ThreadPoolExecutor(3) as threads:
        held_future, held, held_started, gate = hold(threads, crashy, tmp_path)
        crasher_future = threads.submit(run, crashy, crasher)
        wait_for(held_started, 2)  # the first crash broke the pool: the held page runs again
        wait_for(crasher_started, 1)  # ... beside the crasher's retry, in the new pool
        # one more page wakes the pool's manager thread, now watching both new processes
        poke = threads.submit(run, crashy, html(PAGES[0][0]))
        go.touch()
        crashed = crasher_future.result()
        gate.touch()
        held_result = held_future.result()
        assert isinstance(poke.result(), ExtractedPage)
    assert isinstance(crashed, ExtractionFailure) and "crashed its process" in crashed.reason
    # the held page was broken twice by its neighbour, never by itself: extracted, not blamed
    assert_same(held_result, extract(held, url=PAGES[0][1], charset=None, options=OPTIONS))


# ---- map


def test_map_is_a_list_comprehension_on_the_pool_or_here(pool: ProcessExtractor) -> None:
    me = os.getpid()
    batch = [(x, me) for x in range(4 * pool.processes)]
    results = pool.map(square_where, batch)
    assert [r[0] for r in results] == [x * x for x, _ in batch]
    assert me not in {pid for _, pid in results}  # a batch goes to the processes
    few = batch[:1]
    assert pool.map(square_where, few) == [(0, me)]  # one item is not worth the pickling
    assert InlineExtractor().map(square_where, batch) == [(x * x, me) for x, _ in batch]


def test_map_survives_a_process_dying_mid_batch(crashy: ProcessExtractor) -> None:
    me = os.getpid()
    batch = [(x, me) for x in range(-1, 4 * crashy.processes)]  # -1 kills a pool process
    assert crashy.map(square_where, batch) == [(x * x, me) for x, _ in batch]  # done here
    name, url, charset = PAGES[0]  # and the pool was rebuilt
    assert_same(
        crashy.extract(html(name), url=url, charset=charset, options=OPTIONS),
        extract(html(name), url=url, charset=charset, options=OPTIONS),
    )


# ---- building and closing


def test_build_extractor_picks_inline_or_a_pool() -> None:
    assert isinstance(build_extractor(0), InlineExtractor)
    two = build_extractor(2)
    per_core = build_extractor(None)
    try:
        assert isinstance(two, ProcessExtractor) and two.processes == 2
        assert isinstance(per_core, ProcessExtractor)
        assert per_core.processes == default_processes() == len(os.sched_getaffinity(0))
    finally:
        two.close()
        per_core.close()


@pytest.mark.parametrize("processes", [0, -1])
def test_a_pool_needs_a_process(processes: int) -> None:
    with pytest.raises(ValueError, match=str(processes)):
        ProcessExtractor(processes)


def test_close_is_idempotent_used_or_not() -> None:
    unused = ProcessExtractor(1)
    unused.close()
    unused.close()
    used = ProcessExtractor(1)
    name, url, charset = PAGES[0]
    assert isinstance(
        used.extract(html(name), url=url, charset=charset, options=OPTIONS), ExtractedPage
    )
    used.close()
    used.close()
    inline = InlineExtractor()
    inline.close()
    inline.close()
    assert isinstance(run(inline, html(name), url), ExtractedPage)  # nothing to close


# ---- the fork server


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields_ = stat.rpartition(")")[2].split()
            if int(fields_[1]) == pid and fields_[0] != "Z":
                found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]) != "Z"
    except OSError:
        return False


_OWNER = """
import json, os, sys, time
from tests.unit.test_extract_pool import _children, _running
from worker.pool import ProcessExtractor
from worker.extract.page import ExtractOptions
if __name__ == "__main__":
    pools = [ProcessExtractor(1), ProcessExtractor(1)]
    for pool in pools:
        pool.extract(b"<p>x</p>", url="http://a.invalid/", charset=None, options=ExtractOptions())
    servers = [pid for pid in _children(os.getpid()) if _children(pid)]
    seen = {"servers": servers, "workers": [_children(pid) for pid in servers]}
    print(json.dumps(seen), flush=True)
    if sys.argv[1] == "close":
        pools[0].close()
        seen["after_first"] = [_running(pid) for pid in servers]
        pools[1].close()
        seen["after_last"] = [_running(pid) for pid in servers]
        print(json.dumps(seen), flush=True)
    else:
        time.sleep(600)
"""


def _owner(tmp_path: Path, how: str) -> subprocess.Popen[bytes]:
    """A process of its own (this one's pools share its fork server) that opens two pools."""
    script = tmp_path / "owner.py"
    script.write_text(_OWNER)
    return subprocess.Popen(
        [sys.executable, str(script), how], stdout=subprocess.PIPE, cwd=Path(__file__).parents[2]
    )


def test_processes_come_from_one_fork_server_that_the_last_close_stops(tmp_path: Path) -> None:
    owner = _owner(tmp_path, "close")
    out, _ = owner.communicate(timeout=120)
    opened, closed = (json.loads(line) for line in out.splitlines())
    assert len(opened["servers"]) == 1  # one server, the parent of both pools' processes
    assert [len(w) for w in opened["workers"]] == [2]
    assert closed["after_first"] == [True]  # the second pool's process still needs it
    assert closed["after_last"] == [False]  # stopped and reaped (its CPU counted to the owner)


def test_a_killed_owner_leaves_no_extraction_process_behind(tmp_path: Path) -> None:
    owner = _owner(tmp_path, "sleep")
    try:
        assert owner.stdout is not None
        opened = json.loads(owner.stdout.readline())
        (server,), (workers,) = opened["servers"], opened["workers"]
        assert len(workers) == 2
    finally:
        owner.kill()
        owner.wait()
    deadline = time.monotonic() + 30  # the watch polls every second
    while time.monotonic() < deadline and any(_running(p) for p in [server, *workers]):
        time.sleep(0.1)
    assert not any(_running(p) for p in [server, *workers])


# ---- settings, runtime, CLI


def test_extract_processes_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCEVAULT_EXTRACT_PROCESSES", raising=False)
    assert Settings().extract_processes is None
    monkeypatch.setenv("SOURCEVAULT_EXTRACT_PROCESSES", "0")
    assert Settings().extract_processes == 0
    with pytest.raises(ValidationError):
        Settings(extract_processes=-1)


@pytest.mark.parametrize(("processes", "kind"), [(0, InlineExtractor), (1, ProcessExtractor)])
def test_the_runtime_extractor_follows_the_setting(
    tmp_path: Path, processes: int, kind: type
) -> None:
    runtime = build_runtime(load_settings(data_dir=tmp_path, extract_processes=processes))
    try:
        assert isinstance(runtime.extractor, kind)
        if isinstance(runtime.extractor, ProcessExtractor):
            assert runtime.extractor.processes == processes
    finally:
        runtime.close()


class _FakeCelery:
    def __init__(self) -> None:
        self.argv: list[str] = []

    def worker_main(self, argv: list[str]) -> None:
        self.argv = argv


@pytest.mark.parametrize(
    ("pool", "env", "expected"),
    [("prefork", None, 0), ("threads", None, None), ("prefork", "3", 3)],
)
def test_prefork_workers_extract_inline_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    pool: str,
    env: str | None,
    expected: int | None,
) -> None:
    """`worker --pool prefork`: each child is a process already; an explicit setting wins."""
    from worker.cli import app
    from worker.queue import app as celery_app

    if env is None:
        monkeypatch.delenv("SOURCEVAULT_EXTRACT_PROCESSES", raising=False)
    else:
        monkeypatch.setenv("SOURCEVAULT_EXTRACT_PROCESSES", env)
    seen: list[Settings] = []
    fake = _FakeCelery()

    def configure(settings: Settings, broker_url: str) -> _FakeCelery:
        seen.append(settings)
        return fake

    monkeypatch.setattr(celery_app, "configure", configure)
    result = CliRunner().invoke(
        app,
        [
            "worker",
            "--pool",
            pool,
            "--data-dir",
            str(tmp_path),
            "--broker-url",
            "redis://127.0.0.1:9/0",
        ],  # never connected: configure is faked
    )
    assert result.exit_code == 0, result.output
    assert [s.extract_processes for s in seen] == [expected]
    assert f"--pool={pool}" in fake.argv


def test_compared_fields_exist() -> None:
    names = {f.name for f in fields(ExtractedPage)}
    assert set(COMPARED) <= names


def test_a_dead_process_is_logged_by_the_function_name_not_its_arguments() -> None:
    from functools import partial

    from worker.pool import _name

    big = partial(partial(sorted, key=len), [[1] * 1000])
    assert _name(big) == "sorted"  # not the repr of a thousand-item argument
    assert _name(test_options_reach_the_pool_process) == "test_options_reach_the_pool_process"
