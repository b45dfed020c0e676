"""``celery -A proj actions dashboard``: the same pages for a Celery app without Django."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from celery_actions.testing import wait_for
from celery_actions.testing.embedded import free_port


@pytest.fixture
def dashboard(redis_url: str) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "REDIS_URL": redis_url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tests.app", "actions", "dashboard",
         "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            with urllib.request.urlopen(base + "/", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    try:
        wait_for(up, timeout=30, what="the dashboard server")
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode(), response.headers.get("Set-Cookie", "")


def test_the_cli_dashboard_serves_the_pages_and_guards_operations(dashboard, tapp):
    # Given an action scheduled far ahead
    later = tapp.actions.enqueue(tapp.add, {"a": 1}, start_at="2099-01-01T00:00:00Z")
    # Then the pages are served, the action listed and shown
    status, page, _ = get(dashboard + "/")
    assert status == 200 and "scheduled" in page
    assert later.id in get(dashboard + "/list/?status=scheduled")[1]
    _, detail, cookie = get(f"{dashboard}/action/?id={later.id}")
    assert "Cancel" in detail
    assert get(dashboard + "/static/dashboard.js")[0] == 200
    # And an operation without the page's CSRF token is refused
    body = f"op=cancel&id={later.id}".encode()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(dashboard + "/operate/", data=body))
    assert refused.value.code == 403
    refused.value.close()
    # When it is sent with the cookie and the form's token, the action is cancelled
    token = re.search(r'name=csrfmiddlewaretoken value="([^"]+)"', detail)
    assert token is not None
    jar = cookie.split(";")[0]
    request = urllib.request.Request(
        dashboard + "/operate/",
        data=body + f"&csrfmiddlewaretoken={token.group(1)}".encode(),
        headers={"Cookie": jar},
    )
    with urllib.request.urlopen(request, timeout=10) as done:
        assert done.status == 200  # followed the redirect to the action's page
    assert later.status().value == "cancelled"
