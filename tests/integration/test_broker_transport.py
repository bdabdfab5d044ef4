"""The broker transport (worker.queue.transport): kombu's Redis transport, one client per
channel, against a real redis-server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu import Connection
from kombu.transport import redis as kombu_redis

from worker.queue.app import configure
from worker.queue.transport import Channel, Transport, transport_for
from worker.settings import load_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def clients_made(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    made: list[object] = []
    real = kombu_redis.Channel._create_client

    def counting(self: kombu_redis.Channel, *args: object, **kwargs: object) -> object:
        made.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(kombu_redis.Channel, "_create_client", counting)
    yield made


def _round_trips(conn: Connection, queue: str, n: int) -> list[object]:
    """n messages through an acks-late style queue: put, reserve, acknowledge."""
    got = []
    with conn.SimpleQueue(queue) as q:
        for i in range(n):
            q.put({"i": i})
        for _ in range(n):
            message = q.get(timeout=5)
            got.append(message.payload["i"])
            message.ack()
        with pytest.raises(q.Empty):
            q.get(block=False)
    return got


def test_one_client_serves_every_operation_of_a_channel(
    redis_url: str, clients_made: list[object]
) -> None:
    with Connection(redis_url, transport=Transport) as conn:
        assert _round_trips(conn, "sv-test-shared", 20) == list(range(20))
        channel = conn.default_channel
        assert isinstance(channel, Channel)
    ours = [c for c in clients_made if c is channel]
    # the shared one, and kombu's own long-lived client for BRPOP (Channel.client)
    assert len(ours) <= 2


def test_kombus_own_channel_makes_a_client_per_operation(
    redis_url: str, clients_made: list[object]
) -> None:
    # what the shared client saves (and proof the count above can fail)
    with Connection(redis_url) as conn:
        _round_trips(conn, "sv-test-plain", 20)
    assert len(clients_made) > 40


def test_after_the_pools_are_dropped_a_new_client_uses_the_new_pool(redis_url: str) -> None:
    with Connection(redis_url, transport=Transport) as conn:
        channel = conn.default_channel
        with channel.conn_or_acquire() as first:
            first.ping()
        channel._disconnect_pools()  # what kombu does on a connection error
        with channel.conn_or_acquire() as second:
            assert second is not first
            assert second.connection_pool is channel.pool
        assert _round_trips(conn, "sv-test-again", 3) == [0, 1, 2]


def test_the_app_uses_it_for_a_redis_broker_only(redis_url: str, tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    app = configure(settings, redis_url)
    with app.connection_for_write() as conn:
        assert conn.transport_cls is Transport
    assert transport_for("rediss://broker.example:6380/0") is None
    assert transport_for("sentinel://localhost:26379") is None
    assert transport_for("redis+socket:///run/valkey.sock") is None
