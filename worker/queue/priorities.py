"""Queue kinds and fair shares: the queue and Celery priority of every task a run sends.

Two kinds of work share the workers:

- interactive: an editor waiting on the result (the web app's re-run,
  `sourcevault submit --interactive`);
- bulk: digests as submitted, and the scheduled re-checks beat queues.

How kombu's Redis transport orders messages (read in kombu/transport/redis.py, 5.7): a
message of priority p (0-9, 0 first) is LPUSHed to the list `<queue>` (p = 0) or
`<queue>\\x06\\x16<p>`; a worker sends one BRPOP over the lists of all its queues, ordered
*priority first, then queue* (`for pri in priority_steps for queue in queues`), and Redis
serves the first non-empty list. So a lower priority number wins across queues; for equal
numbers the worker's queue order decides, as given by `-Q` when
`queue_order_strategy="priority"` (the default, round_robin, rotates it). The default
`priority_steps` are [0, 3, 6, 9]; worker.queue.app sets all ten.

Hence:

- interactive tasks use priorities 0-3 and bulk tasks 4-9, so every worker takes an
  interactive task before any bulk one, whatever queues it consumes in what order; they
  also travel on their own queue (`interactive`), which operators can watch and give
  dedicated workers;
- within each band, fair shares between editors: the n-th job an editor has waiting
  gets a priority that grows with n (geometrically: ranks 0-3, 4-11, 12-35, ... share
  a level), so a small digest from editor B overtakes the tail of a big one editor A
  queued earlier instead of waiting for all of it. It is fair queueing quantized to the
  band's levels; the rank counts the editor's jobs of that kind still pending when a run
  is queued, plus the job's place in its run.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.store.models import CaptureJob, JobStatus, Run

__all__ = [
    "BANDS",
    "CAPTURE_QUEUE",
    "DEFAULT_QUEUE",
    "INTERACTIVE_QUEUE",
    "RECHECK_PRIORITY",
    "Kind",
    "callback_route",
    "capture_queue",
    "editor_backlog",
    "priority",
    "run_priorities",
]

INTERACTIVE_QUEUE = "interactive"
CAPTURE_QUEUE = "capture"  # bulk captures and re-checks (network-bound)
DEFAULT_QUEUE = "default"  # bookkeeping: bulk runs' reports, beat's re-check tick


class Kind(StrEnum):
    INTERACTIVE = "interactive"
    BULK = "bulk"


# (first, last) Celery priority of each kind; 0 is served first on Redis.
BANDS: dict[Kind, tuple[int, int]] = {Kind.INTERACTIVE: (0, 3), Kind.BULK: (4, 9)}
FIRST_SHARE = 4  # ranks 0..3 share a band's first level
GROWTH = 3  # each further level holds 3x the ranks of the one before
# Scheduled re-checks are maintenance: behind every editor's digest.
RECHECK_PRIORITY = BANDS[Kind.BULK][1]


def capture_queue(kind: Kind) -> str:
    return INTERACTIVE_QUEUE if kind is Kind.INTERACTIVE else CAPTURE_QUEUE


def callback_route(kind: Kind) -> tuple[str, int]:
    """(queue, priority) of a run's finalize task: an interactive run's report must not
    wait behind bulk captures; a bulk one's goes with the bookkeeping."""
    if kind is Kind.INTERACTIVE:
        return INTERACTIVE_QUEUE, BANDS[Kind.INTERACTIVE][0]
    return DEFAULT_QUEUE, BANDS[Kind.BULK][0]


def priority(kind: Kind, rank: int) -> int:
    """The priority of an editor's `rank`-th waiting job (0-based) of this kind."""
    if rank < 0:
        raise ValueError(f"rank must not be negative, not {rank}")
    level, last = BANDS[kind]
    bound = FIRST_SHARE
    while rank >= bound and level < last:
        level += 1
        bound *= GROWTH
    return level


def editor_backlog(session: Session, editor: str, kind: Kind, *, exclude_run: str) -> int:
    """Jobs of this editor and kind not yet finished, in runs other than `exclude_run`."""
    count = session.scalar(
        select(func.count(CaptureJob.id))
        .join(Run, Run.id == CaptureJob.run_id)
        .where(
            Run.editor == editor,
            Run.kind == kind.value,
            Run.id != exclude_run,
            CaptureJob.status.in_([JobStatus.PENDING, JobStatus.IN_PROGRESS]),
        )
    )
    return int(count or 0)


def run_priorities(kind: Kind, backlog: int, jobs: int) -> list[int]:
    """Priorities of a run's `jobs` capture tasks, in order, after `backlog` waiting ones."""
    return [priority(kind, backlog + i) for i in range(jobs)]
