"""Test helpers: a real redis-server and real Celery worker processes.

Use them in your own project's tests (``pytest_plugins = ["celery_actions.testing"]``)::

    def test_welcome(redis_url, start_worker):
        start_worker("proj.celery", env={"REDIS_URL": redis_url})
        assert actions.enqueue(send_email, {"to": "a@b.c"}).result(timeout=10)

No stand-ins: the server is a real ``redis-server`` on a free port, the workers are
``celery -A <module> worker`` subprocesses.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import redis

from .embedded import EmbeddedRedis
from .keys import DEFAULT_PREFIX, Keys


def wait_for(
    condition: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02, what: str = ""
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


class WorkerProcess:
    """A ``celery -A <app> worker`` subprocess, in its own process group."""

    def __init__(
        self,
        app_module: str,
        *,
        redis_url: str,
        name: str,
        pool: str = "threads",
        concurrency: int = 4,
        env: Mapping[str, str] | None = None,
        args: tuple[str, ...] = (),
        key_prefix: str = DEFAULT_PREFIX,
        cwd: str | None = None,
    ) -> None:
        self.app_module = app_module
        self.redis_url = redis_url
        self.name = name
        self.pool = pool
        self.concurrency = concurrency
        self.env = {**os.environ, "REDIS_URL": redis_url, **(env or {})}
        self.args = args
        self.keys = Keys(key_prefix)
        self.cwd = cwd
        self.log = Path(tempfile.mkstemp(prefix=f"worker-{name}-", suffix=".log")[1])
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> WorkerProcess:
        """Start the worker and wait until it consumes (it registers in Redis)."""
        client = redis.Redis.from_url(self.redis_url)
        client.zrem(self.keys.workers, self.name)
        command = [
            sys.executable, "-m", "celery", "-A", self.app_module, "worker",
            "-P", self.pool, "-c", str(self.concurrency), "-n", self.name,
            "--without-mingle", "--without-gossip", "-l", "INFO", *self.args,
        ]  # fmt: skip
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                command,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.cwd,
            )

        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"worker {self.name} exited:\n{self.output()}")
            return client.zscore(self.keys.workers, self.name) is not None

        wait_for(ready, timeout, 0.05, f"worker {self.name} to start:\n{self.log}")
        client.close()
        return self

    def output(self) -> str:
        """The worker's log so far."""
        return self.log.read_text(errors="replace")

    @property
    def alive(self) -> bool:
        """True while the main process runs."""
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send a signal to the worker's whole process group (main process and pool)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            if sig == signal.SIGKILL:
                self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    """A private redis-server for the test session."""
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture(scope="session")
def redis_url(redis_server: EmbeddedRedis) -> str:
    """The URL of the session's redis-server."""
    return redis_server.url


@pytest.fixture
def start_worker(redis_url: str) -> Iterator[Callable[..., WorkerProcess]]:
    """Start worker subprocesses; all are stopped at the end of the test."""
    started: list[WorkerProcess] = []

    def start(app_module: str, **kwargs: Any) -> WorkerProcess:
        kwargs.setdefault("name", f"w{len(started)}-{os.getpid()}-{time.monotonic_ns()}@test")
        kwargs.setdefault("redis_url", redis_url)
        worker = WorkerProcess(app_module, **kwargs).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
