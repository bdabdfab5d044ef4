"""The broker transport: kombu's Redis transport, with one client per channel.

kombu's Redis channel builds a new `redis.Redis` for every operation it does not pass a
client to (`Channel.conn_or_acquire`): each reservation and acknowledgement of an
acks-late task, each queue-size query. Building one copies its response callbacks and
options, about a quarter of an embedded worker's consumer time on a 1,000-URL run (py-spy,
~0.5 ms of the worker's GIL a task). A client holds no connection of its own (each command
takes one from the channel's pool and gives it back), so it is safe to share between
threads, and one per channel pool does the same work. Everything else is kombu's.

`transport_for(broker_url)` names this transport for a `redis://` broker (Celery's
`broker_transport`); any other URL (TLS, Sentinel, a socket) keeps kombu's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import redis
from kombu.transport import redis as kombu_redis

__all__ = ["Channel", "Transport", "transport_for"]


class Channel(kombu_redis.Channel):
    _shared_client: redis.Redis | None = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        pool = self.pool  # made again after a connection error (`_disconnect_pools`)
        shared = self._shared_client
        if shared is None or shared.connection_pool is not pool:
            shared = self._shared_client = self._create_client()
        yield shared


class Transport(kombu_redis.Transport):
    Channel = Channel


def transport_for(broker_url: str) -> type[Transport] | None:
    """This transport for a plain Redis broker URL; None leaves kombu's default."""
    return Transport if urlsplit(broker_url).scheme == "redis" else None
