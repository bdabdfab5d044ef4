"""Queue kinds and fair shares (worker.queue.priorities): the plan, and where the messages land.

The broker tests queue runs on a real redis-server with no worker and read the lists
kombu's Redis transport keeps per queue and priority (`<queue>` for priority 0, else
`<queue>\\x06\\x16<p>`), so they check what a worker's BRPOP will find.
"""

from __future__ import annotations

import base64
import gc
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy.orm import Session

from schemas import Digest
from tests.web.conftest import make_web_app
from worker.digest.parse import parse_digest
from worker.queue.app import configure
from worker.queue.canvas import enqueue_run
from worker.queue.priorities import (
    BANDS,
    CAPTURE_QUEUE,
    DEFAULT_QUEUE,
    INTERACTIVE_QUEUE,
    RECHECK_PRIORITY,
    Kind,
    editor_backlog,
    priority,
    run_priorities,
)
from worker.queue.tasks import recheck_one
from worker.settings import Settings
from worker.store import jobs
from worker.store.engine import make_engine, make_session_factory
from worker.store.models import Run

SEP = "\x06\x16"  # kombu.transport.redis.Channel.sep


# -- the plan ---------------------------------------------------------------------


def test_every_interactive_priority_comes_before_every_bulk_one() -> None:
    # Redis serves lower numbers first, across all of a worker's queues
    interactive = {priority(Kind.INTERACTIVE, r) for r in range(2000)}
    bulk = {priority(Kind.BULK, r) for r in range(2000)}
    assert max(interactive) < min(bulk)
    assert interactive == set(range(BANDS[Kind.INTERACTIVE][0], BANDS[Kind.INTERACTIVE][1] + 1))
    assert bulk == set(range(BANDS[Kind.BULK][0], BANDS[Kind.BULK][1] + 1))
    assert min(interactive) >= 0 and max(bulk) <= 9  # kombu clamps to 0..9


@pytest.mark.parametrize("kind", list(Kind))
def test_an_editors_later_jobs_never_come_before_their_earlier_ones(kind: Kind) -> None:
    plan = run_priorities(kind, 0, 1000)
    assert plan == sorted(plan)
    assert plan[0] == BANDS[kind][0]
    # a run queued behind a backlog continues where the backlog ends
    assert run_priorities(kind, 10, 5) == plan[10:15]


def test_a_small_run_overtakes_the_tail_of_a_big_one() -> None:
    big = run_priorities(Kind.BULK, 0, 200)  # editor A, queued first
    small = run_priorities(Kind.BULK, 0, 5)  # editor B, no backlog
    ahead_of_small = [p for p in big if p <= max(small)]
    assert len(ahead_of_small) < len(big) // 4  # B waits for a small part of A, not all
    # while another run by A itself queues behind A's own backlog
    assert min(run_priorities(Kind.BULK, 200, 5)) >= max(small)


def test_a_negative_rank_is_refused() -> None:
    with pytest.raises(ValueError, match="rank"):
        priority(Kind.BULK, -1)


# -- on the broker ----------------------------------------------------------------


def _text(name: str, n: int) -> str:
    lines = [f"{name} digest", ""]
    lines += [f"September {i}, Almaty, a rally took place [{i}]." for i in range(1, n + 1)]
    lines += [""] + [f"[{i}]https://queues.test/{name}/{i}" for i in range(1, n + 1)]
    return "\n".join(lines) + "\n"


def _digest(name: str, n: int) -> Digest:
    return parse_digest(_text(name, n), name=name, year=2021)


@pytest.fixture
def broker(tmp_path: Path, redis_url: str) -> Iterator[tuple[redis.Redis, Settings]]:
    url = redis_url.rsplit("/", 1)[0] + "/7"  # a db of our own on the session's server
    client = redis.Redis.from_url(url)
    client.flushdb()
    settings = Settings(data_dir=tmp_path / "data", broker_url=url)
    configure(settings, url)
    yield client, settings
    gc.collect()  # chord results unsubscribe in __del__: while the server still runs
    client.flushdb()
    client.close()


def _messages(client: redis.Redis, queue: str, pri: int) -> list[dict[str, object]]:
    key = queue if pri == 0 else f"{queue}{SEP}{pri}"
    # LPUSH + BRPOP: the oldest message is the last element
    return [json.loads(raw) for raw in reversed(client.lrange(key, 0, -1))]


def _queue(session: Session, name: str, n: int, kind: Kind, editor: str) -> str:
    run_id = jobs.next_run_id(session, name)
    jobs.create_run(session, run_id, _digest(name, n), source_name=name)
    enqueue_run(session, run_id, kind=kind, editor=editor)
    return run_id


def _run_of(message: dict[str, object]) -> str:
    """The run id, the first argument of both capture_source and finalize_run's own."""
    properties = message["properties"]
    assert isinstance(properties, dict) and properties["body_encoding"] == "base64"
    args, _kwargs, _embed = json.loads(base64.b64decode(str(message["body"])))
    return str(args[0] if isinstance(args[0], str) else args[1])


def test_runs_land_on_their_kinds_queue_at_their_fair_priorities(
    broker: tuple[redis.Redis, Settings],
) -> None:
    client, settings = broker
    sessions = make_session_factory(make_engine(settings.effective_database_url))
    with sessions() as session:
        big = _queue(session, "big", 14, Kind.BULK, "alice")
        more = _queue(session, "more", 3, Kind.BULK, "alice")  # behind alice's backlog
        small = _queue(session, "small", 2, Kind.BULK, "bob")
        rerun = _queue(session, "rerun", 2, Kind.INTERACTIVE, "alice")
        assert editor_backlog(session, "alice", Kind.BULK, exclude_run="") == 17
        kinds = {r.id: (r.kind, r.editor) for r in session.query(Run)}
    assert kinds[rerun] == ("interactive", "alice") and kinds[small] == ("bulk", "bob")

    def runs_at(queue: str, pri: int) -> list[str]:
        return [_run_of(m) for m in _messages(client, queue, pri)]

    plan_big = run_priorities(Kind.BULK, 0, 14)
    plan_more = run_priorities(Kind.BULK, 14, 3)
    plan_small = run_priorities(Kind.BULK, 0, 2)
    for pri in range(10):
        expected = ([big] * plan_big.count(pri) + [more] * plan_more.count(pri)) + [
            small
        ] * plan_small.count(pri)
        assert runs_at(CAPTURE_QUEUE, pri) == expected, pri
        want_interactive = [rerun] * 2 if pri == BANDS[Kind.INTERACTIVE][0] else []
        assert runs_at(INTERACTIVE_QUEUE, pri) == want_interactive, pri
    # the chord bodies wait in the result backend until the captures finish
    assert all(client.llen(f"{DEFAULT_QUEUE}{SEP}{p}") == 0 for p in range(1, 10))


def test_an_empty_interactive_run_reports_on_the_interactive_queue(
    broker: tuple[redis.Redis, Settings],
) -> None:
    client, settings = broker
    sessions = make_session_factory(make_engine(settings.effective_database_url))
    with sessions() as session:
        run_id = _queue(session, "empty", 0, Kind.INTERACTIVE, "carol")
    (message,) = _messages(client, INTERACTIVE_QUEUE, BANDS[Kind.INTERACTIVE][0])
    headers = message["headers"]
    assert isinstance(headers, dict)
    assert headers["task"] == "sourcevault.finalize" and run_id in str(headers["argsrepr"])


def test_scheduled_rechecks_queue_behind_every_editors_digest(
    broker: tuple[redis.Redis, Settings],
) -> None:
    client, _ = broker
    recheck_one.delay(42)
    (message,) = _messages(client, CAPTURE_QUEUE, RECHECK_PRIORITY)
    headers = message["headers"]
    assert isinstance(headers, dict)
    assert headers["task"] == "sourcevault.recheck"
    assert BANDS[Kind.BULK][1] == RECHECK_PRIORITY


def test_an_editors_rerun_from_the_web_app_is_interactive(tmp_path: Path, redis_url: str) -> None:
    url = redis_url.rsplit("/", 1)[0] + "/8"
    client = redis.Redis.from_url(url)
    client.flushdb()
    made = make_web_app(tmp_path, broker_url=url)
    try:
        web = made.client()
        auth = {"Authorization": f"Bearer {made.editor_token}"}
        r = web.post("/api/digests", json={"text": _text("web", 2), "name": "web"}, headers=auth)
        assert r.status_code == 202, r.text
        first = r.json()["id"]
        r = web.post(f"/api/digests/{first}/rerun", headers=auth)
        assert r.status_code == 202, r.text
        second = r.json()["id"]
        with made.app.state.service.sessions() as session:
            runs = {run.id: run for run in session.query(Run)}
            assert (runs[first].kind, runs[second].kind) == ("bulk", "interactive")
            assert runs[first].editor == runs[second].editor == "editor"
        on_interactive = _messages(client, INTERACTIVE_QUEUE, BANDS[Kind.INTERACTIVE][0])
        assert [_run_of(m) for m in on_interactive] == [second, second]
    finally:
        made.app.state.service.close()
        gc.collect()  # as in the broker fixture
        client.flushdb()
        client.close()
