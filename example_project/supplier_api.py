"""A small local "supplier API" that misbehaves the way real ones do.

It serves on 127.0.0.1 at a free port, in a background thread:

- ``GET /products/<id>``: the product as JSON; fails with HTTP 500 at ``failure_rate``.
- ``POST /charges``: always HTTP 402 (the card is declined).
- ``GET /health``: 200.

The product endpoint answers HTTP 429 (with ``Retry-After: 1``) once more than
``rate_limit_per_s`` requests were accepted in the last second. Failures and latency are
drawn from a RNG seeded by ``(seed, path, n)`` where n counts the requests to that path,
so the n-th request for a product fails or succeeds the same way on every run, whatever
order concurrent requests arrive in. Only the 429s depend on timing.

Run it alone with ``python -m example_project.supplier_api [port]``.
"""

from __future__ import annotations

import json
import random
import re
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PRODUCT_PATH = re.compile(r"^/products/(\d+)$")
PRODUCT_NAMES = ("Teapot", "Mug", "Kettle", "Strainer", "Tea tin", "Tray", "Cosy", "Spoon")


@dataclass(frozen=True, slots=True)
class SupplierConfig:
    """How badly the API behaves."""

    failure_rate: float = 0.35
    """Share of product requests that fail with HTTP 500."""
    rate_limit_per_s: int = 8
    """Product requests accepted per sliding second; the rest get HTTP 429."""
    seed: int = 7
    """Seed of the failure and latency draws."""
    min_latency_ms: int = 40
    """Fastest answer."""
    max_latency_ms: int = 160
    """Slowest answer."""


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer: status, JSON body, extra headers."""

    status: int
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()


class SupplierAPI:
    """The service: its rules, its counters, and the server thread running it."""

    def __init__(self, config: SupplierConfig | None = None) -> None:
        self.config = config or SupplierConfig()
        self.answers: Counter[int] = Counter()
        """How many answers of each HTTP status were sent."""
        self._lock = threading.Lock()
        self._accepted: deque[float] = deque()
        self._requests_per_path: Counter[str] = Counter()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` once started."""
        if self._server is None:
            raise RuntimeError("the supplier API is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, port: int = 0) -> SupplierAPI:
        """Bind (a free port by default) and serve in a daemon thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="supplier-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SupplierAPI:
        return self if self._server is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def answer(self, method: str, path: str) -> tuple[Reply, float]:
        """Decide the reply to one request, and how long to take (seconds)."""
        if method == "GET" and path == "/health":
            return Reply(200, {"ok": True}), 0.0
        product = PRODUCT_PATH.match(path)
        with self._lock:
            if product is not None and not self._admit(time.monotonic()):
                return self._count(_too_many()), 0.0
            self._requests_per_path[path] += 1
            draw = random.Random(f"{self.config.seed}:{path}:{self._requests_per_path[path]}")
        latency = draw.uniform(self.config.min_latency_ms, self.config.max_latency_ms) / 1000
        if method == "GET" and product is not None:
            if draw.random() < self.config.failure_rate:
                reply = Reply(500, {"error": "internal", "message": "supplier backend hiccup"})
            else:
                reply = Reply(200, _product(int(product.group(1))))
        elif method == "POST" and path == "/charges":
            reply = Reply(402, {"error": "card_declined", "message": "insufficient funds"})
        else:
            reply = Reply(404, {"error": "not_found", "message": f"no route {method} {path}"})
        with self._lock:
            return self._count(reply), latency

    def _admit(self, now: float) -> bool:
        window = self._accepted
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= self.config.rate_limit_per_s:
            return False
        window.append(now)
        return True

    def _count(self, reply: Reply) -> Reply:
        self.answers[reply.status] += 1
        return reply


def _too_many() -> Reply:
    return Reply(
        429,
        {"error": "rate_limited", "message": "too many requests, slow down"},
        (("Retry-After", "1"),),
    )


def _product(product_id: int) -> dict[str, Any]:
    name = PRODUCT_NAMES[product_id % len(PRODUCT_NAMES)]
    return {
        "id": product_id,
        "name": f"{name} #{product_id}",
        "price_cents": 500 + (product_id * 37) % 4500,
        "stock": (product_id * 13) % 60,
    }


def _handler_for(api: SupplierAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        """Routes every request through ``api.answer``."""

        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._reply("GET")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self._reply("POST")

        def _reply(self, method: str) -> None:
            reply, latency = api.answer(method, self.path.split("?", 1)[0])
            if latency:
                time.sleep(latency)  # simulated service time, not synchronisation
            data = json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep quiet: the demo shows the outcome in its table."""

    return Handler


def main(argv: list[str]) -> None:
    """Serve in the foreground until Ctrl-C."""
    api = SupplierAPI().start(int(argv[0]) if argv else 0)
    print(f"supplier API at {api.url} (Ctrl-C to stop)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        api.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
