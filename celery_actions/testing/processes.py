"""Real Celery worker subprocesses, for the demo, the benchmarks and tests.

``WorkerProcess`` runs ``celery -A <module> worker`` in its own process group and waits
until the worker consumes (the celery-actions bootstep registers it in Redis).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import redis

from ..redis.keys import DEFAULT_PREFIX, Keys


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
        name: str | None = None,
        pool: str = "threads",
        concurrency: int = 4,
        env: Mapping[str, str] | None = None,
        args: tuple[str, ...] = (),
        key_prefix: str = DEFAULT_PREFIX,
        cwd: str | None = None,
    ) -> None:
        self.app_module = app_module
        self.redis_url = redis_url
        self.name = name or f"worker-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        self.pool = pool
        self.concurrency = concurrency
        self.env = {**os.environ, "REDIS_URL": redis_url, **(env or {})}
        self.args = args
        self.keys = Keys(key_prefix)
        self.cwd = cwd
        fd, path = tempfile.mkstemp(prefix=f"worker-{self.name}-", suffix=".log")
        os.close(fd)
        self.log = Path(path)  # kept after stop(), for post-mortems
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

        try:
            wait_for(ready, timeout, 0.05, f"worker {self.name} to start:\n{self.log}")
        except BaseException:
            self.stop()
            raise
        finally:
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

    def terminate(self) -> None:
        """SIGTERM to the main process only, as a process manager does for a deploy
        (systemd with ``KillMode=mixed``, Kubernetes, supervisord): a warm shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)

    def stop(self, timeout: float = 15.0) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


class CeleryProcess:
    """Any other ``celery -A <app> <command>`` subprocess (``beat``, ``flower``), in its own
    process group, with its output in a log file."""

    def __init__(
        self,
        app_module: str,
        command: str,
        *args: str,
        redis_url: str,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> None:
        self.argv = [sys.executable, "-m", "celery", "-A", app_module, command, *args]
        self.env = {**os.environ, "REDIS_URL": redis_url, **(env or {})}
        self.cwd = cwd
        fd, path = tempfile.mkstemp(prefix=f"celery-{command}-", suffix=".log")
        os.close(fd)
        self.log = Path(path)  # kept after stop(), for post-mortems
        self.proc: subprocess.Popen[bytes] | None = None

    def start(
        self, ready: Callable[[CeleryProcess], Any] | None = None, timeout: float = 30.0
    ) -> CeleryProcess:
        """Start it and wait until ``ready(self)`` is true (if given)."""
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=self.cwd,
            )  # fmt: skip
        if ready is not None:

            def started() -> Any:
                if self.proc is not None and self.proc.poll() is not None:
                    raise AssertionError(f"{self.argv[4:6]} exited:\n{self.output()}")
                return ready(self)

            try:
                wait_for(started, timeout, 0.1, f"{self.argv[4:6]} to be ready:\n{self.log}")
            except BaseException:
                self.stop()
                raise
        return self

    def output(self) -> str:
        """Its log so far."""
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to its process group, then SIGKILL if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
