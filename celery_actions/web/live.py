"""Server push for the dashboard: a page's live regions re-rendered each second and sent
over server-sent events when they change (``event: regions``, data ``{id: html}``).

A stream lasts ``lifetime`` seconds, then ends; the browser's EventSource reconnects at
once (``retry: 500``). Under ASGI a stream may last long (``ASGI_LIFETIME_S``); under WSGI,
where a stream holds a worker thread, it is short (``WSGI_LIFETIME_S``), which makes the
push a long-poll.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Iterator, Mapping

from .layout import Viewer
from .pages import Dashboard

INTERVAL_S = 1.0
ASGI_LIFETIME_S = 300.0
WSGI_LIFETIME_S = 25.0


def sse(event: str, data: str) -> bytes:
    """One server-sent event."""
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"event: {event}\n{lines}\n".encode()


class LiveRegions:
    """The regions of one page as one viewer sees them; yields those that changed."""

    def __init__(
        self, dashboard: Dashboard, page: str, query: Mapping[str, str], viewer: Viewer
    ) -> None:
        self.dashboard = dashboard
        self.page = page
        self.query = dict(query)
        self.viewer = viewer
        self._seen: dict[str, str] = {}

    def changed(self) -> bytes | None:
        """An event with the regions that changed since the last call, or None."""
        regions = self.dashboard.regions(self.page, self.query, self.viewer)
        out = {}
        for region, body in regions.items():
            digest = hashlib.sha1(body.encode()).hexdigest()
            if self._seen.get(region) != digest:
                self._seen[region] = digest
                out[region] = str(body)
        return sse("regions", json.dumps(out)) if out else None

    def frames(self, lifetime: float = WSGI_LIFETIME_S) -> Iterator[bytes]:
        """The stream, for a WSGI server (blocks its thread for ``lifetime`` at most)."""
        yield b"retry: 500\n\n"
        self.changed()  # the page was rendered just now: send changes from here on
        end = time.monotonic() + lifetime
        while time.monotonic() < end:
            time.sleep(INTERVAL_S)  # the push interval, not a synchronisation
            event = self.changed()
            yield event if event is not None else b": idle\n\n"

    async def aframes(self, lifetime: float = ASGI_LIFETIME_S) -> AsyncIterator[bytes]:
        """The stream, for an ASGI server."""
        yield b"retry: 500\n\n"
        await asyncio.to_thread(self.changed)
        end = time.monotonic() + lifetime
        while time.monotonic() < end:
            await asyncio.sleep(INTERVAL_S)
            event = await asyncio.to_thread(self.changed)
            yield event if event is not None else b": idle\n\n"
