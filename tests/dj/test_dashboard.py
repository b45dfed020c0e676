"""The Queues dashboard in Django: permissions, escaping, filters, operator actions and
the live stream, against a real worker."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from celery_actions import ActionStatus
from celery_actions.testing import wait_for

XSS = '<script>alert("x")</script>'


def staff(operate: bool = False, enforce_csrf_checks: bool = False) -> Client:
    u = User.objects.create_user(uuid.uuid4().hex[:8], password="pw", is_staff=True)
    u.user_permissions.add(Permission.objects.get(codename="view_actionrecord"))
    if operate:
        u.user_permissions.add(Permission.objects.get(codename="operate_actionrecord"))
    client = Client(enforce_csrf_checks=enforce_csrf_checks)
    client.force_login(u)
    return client


@pytest.fixture
def viewer(transactional_db: Any) -> Client:
    return staff()


@pytest.fixture
def operator(transactional_db: Any) -> Client:
    return staff(operate=True)


def test_only_staff_with_the_permission_see_the_dashboard(transactional_db):
    # Anonymous visitors are sent to log in; non-staff and staff without the permission: 403
    assert Client().get("/actions/").status_code == 302
    plain = Client()
    plain.force_login(User.objects.create_user("plain", password="pw"))
    assert plain.get("/actions/").status_code == 403
    assert plain.get("/actions/live/?page=overview").status_code == 403
    bare = Client()
    bare.force_login(User.objects.create_user("bare", password="pw", is_staff=True))
    assert bare.get("/actions/list/").status_code == 403
    # And staff with the view permission see every page, read-only
    viewer = staff()
    for path in ("/actions/", "/actions/queues/", "/actions/list/"):
        page = viewer.get(path)
        assert page.status_code == 200 and b"read-only" in page.content


def test_params_errors_and_tracebacks_are_escaped(viewer, actions, dj_worker):
    # Given an action whose params and error carry an XSS payload
    from tests.djproject.shop.actions import browser_fail

    handle = actions.enqueue(browser_fail, {"message": XSS})
    with pytest.raises(ValueError):
        handle.result(timeout=20)
    # Then its page shows them as text
    page = viewer.get(f"/actions/action/?id={handle.id}").content.decode()
    assert XSS not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "Traceback" in page  # in the timeline, escaped
    listing = viewer.get("/actions/list/?status=failed").content.decode()
    assert handle.id in listing and XSS not in listing


def test_filters_search_and_counts(viewer, actions, dj_worker):
    from tests.djproject.shop.actions import greet

    handles = actions.enqueue_many(greet, [{"name": f"n{i}"} for i in range(3)])
    handles.results(timeout=20)
    page = viewer.get("/actions/list/?status=complete&action=tests.djproject.shop.actions.greet")
    text = page.content.decode()
    assert all(h.id in text for h in handles)
    assert "matching" in text
    found = viewer.get(f"/actions/list/?id={handles[1].id}").content.decode()
    assert "1 action" in found and handles[1].id in found and handles[0].id not in found


def test_read_only_viewers_cannot_operate(viewer, actions):
    from tests.djproject.shop.actions import greet

    later = actions.enqueue(greet, {"name": "x"}, start_at="2099-01-01T00:00:00Z")
    page = viewer.get(f"/actions/action/?id={later.id}").content.decode()
    assert "Cancel" not in page
    refused = viewer.post("/actions/operate/", {"op": "cancel", "id": later.id})
    assert refused.status_code == 403
    assert later.status() is ActionStatus.SCHEDULED


def test_an_operator_cancels_retries_and_confirms_bulk_operations(operator, actions, dj_worker):
    from tests.djproject.shop.actions import greet

    # Given three actions scheduled far ahead
    tag = uuid.uuid4().hex[:6]
    later = actions.enqueue_many(greet, [{"name": tag}] * 3, start_at="2099-01-01T00:00:00Z")
    # When an operator cancels one from its page
    done = operator.post("/actions/operate/", {"op": "cancel", "id": later[0].id})
    assert done.status_code == 302 and "cancelled" in done["Location"]
    assert later[0].status() is ActionStatus.CANCELLED
    # And retries another now: it runs at once
    operator.post("/actions/operate/", {"op": "retry", "id": later[1].id})
    assert later[1].result(timeout=20) == f"Hello, {tag}!"
    # Then a bulk cancel shows its count first, then cancels what the filter matches
    query = "op=cancel&status=scheduled&action=tests.djproject.shop.actions.greet"
    confirm = operator.get(f"/actions/confirm/?{query}").content.decode()
    assert "id=confirm-count>" in confirm
    count = int(confirm.split("id=confirm-count>")[1].split("<")[0].replace(",", ""))
    assert count >= 1
    done = operator.post(
        "/actions/operate/",
        {
            "op": "bulk-cancel",
            "status": "scheduled",
            "action": "tests.djproject.shop.actions.greet",
        },
    )
    assert done.status_code == 302
    assert later[2].status() is ActionStatus.CANCELLED


def test_an_operators_post_without_the_csrf_token_is_refused(transactional_db, actions):
    from tests.djproject.shop.actions import greet

    # Given an operator whose browser enforces CSRF, and an action that could be cancelled
    client = staff(operate=True, enforce_csrf_checks=True)
    later = actions.enqueue(greet, {"name": "x"}, start_at="2099-01-01T00:00:00Z")
    # When a cross-site form posts the operation with no token
    forged = client.post("/actions/operate/", {"op": "cancel", "id": later.id})
    # Then it is refused and nothing changed
    assert forged.status_code == 403
    assert later.status() is ActionStatus.SCHEDULED
    # And with the page's own token the same post goes through
    page = client.get(f"/actions/action/?id={later.id}").content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    done = client.post("/actions/operate/", {"op": "cancel", "id": later.id,
                                             "csrfmiddlewaretoken": token})  # fmt: skip
    assert done.status_code == 302 and later.status() is ActionStatus.CANCELLED


def test_an_operator_pauses_and_limits_a_queue(operator, actions, dj_worker):
    from tests.djproject.shop.actions import greet

    queue = f"dash-{uuid.uuid4().hex[:6]}"
    assert operator.post("/actions/operate/", {"op": "pause", "queue": queue}).status_code == 302
    held = actions.enqueue(greet, {"name": "q"}, queue={"name": queue, "maxConcurrency": 1})
    assert held.info().reason == f"queue {queue}: paused"
    page = operator.get("/actions/queues/").content.decode()
    assert queue in page and "paused" in page
    bad = operator.post("/actions/operate/", {"op": "limit", "queue": queue, "limit": "0"})
    assert bad.status_code == 400
    operator.post("/actions/operate/", {"op": "limit", "queue": queue, "limit": "3"})
    operator.post("/actions/operate/", {"op": "resume", "queue": queue})
    assert held.result(timeout=20) == "Hello, q!"


def test_the_live_stream_pushes_changed_regions(viewer, actions, dj_worker):
    from tests.djproject.shop.actions import greet

    # Given the overview's live stream (WSGI: a short stream the browser reconnects to)
    response = viewer.get("/actions/live/?page=overview")
    assert response["Content-Type"] == "text/event-stream"
    chunks = iter(response.streaming_content)
    assert next(chunks).startswith(b"retry:")
    next(chunks)  # the first tick: the regions as the page was rendered are known
    # When an action completes
    actions.enqueue(greet, {"name": "live"}).result(timeout=20)
    # Then the counts region is pushed with the new counts
    try:
        wait_for(lambda: b"live-counts" in next(chunks), timeout=10, what="the counts pushed")
    finally:
        response.close()
