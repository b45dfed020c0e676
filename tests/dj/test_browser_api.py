"""The browser API against a real worker: enqueue, status, long-polled result, events,
cancel; identity checks, CSRF, permissions, the per-identity rate limit."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from celery_actions.testing import wait_for

API = "/actions/api"
GREET = "tests.djproject.shop.actions.greet"


def post(client: Client, path: str, body: Any, **headers: str) -> Any:
    return client.post(path, json.dumps(body), content_type="application/json", **headers)


def user(name: str = "", **perms: bool) -> User:
    found = User.objects.create_user(name or uuid.uuid4().hex[:8], password="pw")
    for codename in perms:
        found.user_permissions.add(Permission.objects.get(codename=codename))
    return found


def logged_in(u: User, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    client.force_login(u)
    return client


@pytest.fixture
def ann(transactional_db: Any) -> Client:
    return logged_in(user())


def test_a_browser_enqueue_is_followed_by_its_enqueuer_only(ann, dj_worker):
    # Given a browser action enqueued by Ann
    done = post(ann, f"{API}/enqueue/greet", {"params": {"name": "Ann"}})
    assert done.status_code == 202, done.content
    action_id = done.json()["id"]
    assert done.json()["action"] == GREET
    # Then Ann long-polls its result
    found = ann.get(f"{API}/actions/{action_id}/result?wait=20").json()
    assert found["finished"] and found["status"] == "complete"
    assert found["result"] == "Hello, Ann!"
    assert ann.get(f"{API}/actions/{action_id}").json()["status"] == "complete"
    # And Bob, another identity, gets 404 for its status, result, events and cancel
    bob = logged_in(user())
    for response in (
        bob.get(f"{API}/actions/{action_id}"),
        bob.get(f"{API}/actions/{action_id}/result"),
        bob.get(f"{API}/actions/{action_id}/events"),
        post(bob, f"{API}/actions/{action_id}/cancel", {}),
    ):
        assert response.status_code == 404
        assert response.json() == {"error": "no such action"}
    # And so does an anonymous visitor, and an unknown id reads the same
    assert Client().get(f"{API}/actions/{action_id}").status_code == 404
    assert ann.get(f"{API}/actions/nope-{action_id}").json() == {"error": "no such action"}


def test_anonymous_visitors_are_identified_by_their_session(transactional_db, dj_worker):
    # Given an anonymous visitor who enqueues
    visitor = Client()
    action_id = post(visitor, f"{API}/enqueue/greet", {"params": {"name": "V"}}).json()["id"]
    # Then the same session reads it, another anonymous session does not
    assert visitor.get(f"{API}/actions/{action_id}/result?wait=20").json()["result"] == "Hello, V!"
    assert Client().get(f"{API}/actions/{action_id}/result").status_code == 404


def test_events_stream_the_status_until_the_outcome(ann, dj_worker, uid):
    # Given a browser action that runs until released
    params = {"key": f"k-{uid}", "release": f"rel-{uid}"}
    action_id = post(ann, f"{API}/enqueue/browser_hold", {"params": params}).json()["id"]
    from tests.djproject.shop.actions import r

    wait_for(lambda: r.llen(f"k-{uid}") == 1, what="running")
    # When its events are read (WSGI: a stream that lasts until the outcome or 25 s)
    response = ann.get(f"{API}/actions/{action_id}/events")
    assert response["Content-Type"] == "text/event-stream"
    chunks = iter(response.streaming_content)
    assert next(chunks).startswith(b"retry:")
    first = next(chunks).decode()
    assert first.startswith("event: status") and '"status": "running"' in first
    r.set(f"rel-{uid}", 1)
    rest = b"".join(chunks).decode()
    # Then it ends with the outcome
    assert 'event: status\ndata: {"id"' in rest
    assert rest.rstrip().split("\n")[-2] == "event: result"
    assert json.loads(rest.rstrip().split("\n")[-1].removeprefix("data: "))["result"] == "released"


def test_cancel_from_the_browser(ann, dj_worker):
    # Given a browser action scheduled an hour ahead
    body = {"params": {"name": "later"}, "options": {"startAt": "2099-01-01T00:00:00Z"}}
    action_id = post(ann, f"{API}/enqueue/greet", body).json()["id"]
    # When its enqueuer cancels it
    done = post(ann, f"{API}/actions/{action_id}/cancel", {})
    # Then it is cancelled
    assert done.json()["cancelled"] is True and done.json()["status"] == "cancelled"
    assert ann.get(f"{API}/actions/{action_id}/result").json()["status"] == "cancelled"


def test_a_failure_reaches_the_browser_without_its_traceback(ann, dj_worker):
    action_id = post(ann, f"{API}/enqueue/browser_fail", {"params": {"message": "no <b>"}}
                     ).json()["id"]  # fmt: skip
    found = ann.get(f"{API}/actions/{action_id}/result?wait=20").json()
    assert found["status"] == "failed"
    assert found["error"] == {"type": "ValueError", "message": "no <b>"}
    assert "Traceback" not in json.dumps(found)


def test_an_unmarked_action_cannot_be_enqueued_from_a_browser(ann):
    # shop.actions.ship is an action, but not marked for browsers
    for name in ("ship", "tests.djproject.shop.actions.ship", "nothing"):
        response = post(ann, f"{API}/enqueue/{name}", {"params": {"id": 1}})
        assert response.status_code == 404
        assert "no browser action" in response.json()["error"]


def test_the_allowlist_setting_marks_actions_for_browsers(ann):
    # send_receipt is named in CELERY_ACTIONS_BROWSER_ACTIONS (not by a decorator flag)
    response = post(ann, f"{API}/enqueue/send_receipt", {"params": {"order_id": 1, "key": "x"}})
    assert response.status_code == 202


def test_an_action_s_permission_is_required(transactional_db):
    # Given a browser action that needs shop.change_order
    plain, allowed = logged_in(user()), logged_in(user(change_order=True))
    # Then a user without it gets 403, one with it 202
    assert post(plain, f"{API}/enqueue/restricted", {"params": {"note": "x"}}).status_code == 403
    assert post(allowed, f"{API}/enqueue/restricted", {"params": {"note": "x"}}).status_code == 202


def test_csrf_is_enforced_for_session_calls(transactional_db):
    # Given a logged-in browser that checks CSRF as real browsers do
    client = logged_in(user(), enforce_csrf_checks=True)
    # Then an enqueue without the token is refused
    refused = post(client, f"{API}/enqueue/greet", {"params": {"name": "x"}})
    assert refused.status_code == 403 and "CSRF" in refused.json()["error"]
    # And with the csrftoken cookie's value as X-CSRFToken it goes through
    client.get("/actions/api/openapi.json")
    from django.middleware.csrf import _get_new_csrf_string

    token = _get_new_csrf_string()
    client.cookies["csrftoken"] = token
    accepted = post(client, f"{API}/enqueue/greet", {"params": {"name": "x"}},
                    HTTP_X_CSRFTOKEN=token)  # fmt: skip
    assert accepted.status_code == 202, accepted.content


def test_options_a_browser_may_not_set_are_refused(ann):
    for option in ({"queue": "emails"}, {"retryFor": 1000}, {"celery_queue": "x"}):
        response = post(ann, f"{API}/enqueue/greet", {"params": {"name": "x"}, "options": option})
        assert response.status_code == 400
        assert "cannot be set from a browser" in response.json()["error"]
    bad = post(ann, f"{API}/enqueue/greet", {"params": {"nam": "x"}})
    assert bad.status_code == 400 and bad.json()["field"]


def test_ids_a_browser_chooses_are_its_own(transactional_db, dj_worker):
    # Given two users who choose the same id
    ann, bob = logged_in(user()), logged_in(user())
    body = {"params": {"name": "x"}, "options": {"id": "order-7", "onDuplicateID": "ignore"}}
    first = post(ann, f"{API}/enqueue/greet", body).json()["id"]
    again = post(ann, f"{API}/enqueue/greet", body).json()["id"]
    other = post(bob, f"{API}/enqueue/greet", body)
    # Then each gets an action of their own; the same user gets the same one back
    assert first == again and first.endswith("-order-7")
    assert other.status_code == 202 and other.json()["id"] != first


def test_enqueue_many_and_the_identity_rate_limit(transactional_db, dj_worker, settings):
    client = logged_in(user())
    body = {"params": [{"name": str(i)} for i in range(3)], "options": {"id": "batch"}}
    done = post(client, f"{API}/enqueue-many/greet", body)
    assert done.status_code == 202
    ids = [a["id"] for a in done.json()["actions"]]
    assert [i.rsplit("-", 1)[1] for i in ids] == ["0", "1", "2"]
    for i, action_id in enumerate(ids):
        found = client.get(f"{API}/actions/{action_id}/result?wait=20").json()
        assert found["result"] == f"Hello, {i}!"
    # When one identity enqueues past its bucket (50/s, burst 3: 150)
    big = post(client, f"{API}/enqueue-many/greet", {"params": [{"name": "x"}] * 100})
    over = post(client, f"{API}/enqueue-many/greet", {"params": [{"name": "x"}] * 100})
    # Then it gets 429 with Retry-After, while another identity is not affected
    assert big.status_code == 202
    assert over.status_code == 429 and int(over["Retry-After"]) >= 1
    assert post(logged_in(user()), f"{API}/enqueue/greet", {"params": {"name": "x"}}
                ).status_code == 202  # fmt: skip


def test_cookieless_visitors_share_their_address_bucket(transactional_db, actions):
    from django.contrib.sessions.models import Session

    # Given anonymous callers that send no cookie (each call would get a new session), from
    # one address of their own, and a bucket of 1/s (burst 3: 3 items, then 1 a second)
    conf = actions.app.conf
    saved = conf.get("actions_browser_rate_limit")
    conf["actions_browser_rate_limit"] = "1/s"
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7"
    body = {"params": [{"name": "x"}] * 3}
    try:
        first = post(Client(REMOTE_ADDR=address), f"{API}/enqueue-many/greet", body)
        sessions = Session.objects.count()
        # When a second such caller goes past the address's bucket
        over = post(Client(REMOTE_ADDR=address), f"{API}/enqueue-many/greet", body)
        sessions_after = Session.objects.count()
        elsewhere = post(Client(REMOTE_ADDR="10.255.0.1"), f"{API}/enqueue/greet",
                         {"params": {"name": "y"}})  # fmt: skip
    finally:
        conf["actions_browser_rate_limit"] = saved
    # Then it gets 429 before any session is made for it; another address is not affected
    assert first.status_code == 202, first.content
    assert over.status_code == 429 and int(over["Retry-After"]) >= 1
    assert sessions_after == sessions
    assert elsewhere.status_code == 202


def test_an_enqueue_in_the_requests_transaction_is_held_until_it_commits(ann):
    from django.db import transaction

    from tests.djproject.celery_app import actions

    # Given a browser enqueue made inside the request's transaction (as ATOMIC_REQUESTS)
    with transaction.atomic():
        done = post(ann, f"{API}/enqueue/greet", {"params": {"name": "Held"}})
        # Then it is answered at once as held (nothing is published before the commit)
        assert done.status_code == 202, done.content
        found = done.json()
        assert (found["status"], found["action"]) == ("held", GREET)
        assert actions.runtime.store.record(found["id"]) is None
    # and published on commit, with its enqueuer's identity
    record = actions.runtime.store.record(found["id"])
    assert record is not None and record["identity"].startswith("u:")
    assert ann.get(f"{API}/actions/{found['id']}").status_code == 200


def test_the_openapi_document_covers_every_api_route():
    from django.urls import get_resolver

    doc = json.loads(Client().get(f"{API}/openapi.json").content)
    resolver = get_resolver()
    routes = set()
    for pattern in resolver.url_patterns:
        if str(pattern.pattern) == "actions/":
            for sub in pattern.url_patterns:
                route = str(sub.pattern)
                if route.startswith("api/") and route != "api/openapi.json":
                    routes.add("/" + route.replace("<str:action>", "{action}")
                               .replace("<str:action_id>", "{id}"))  # fmt: skip
    assert routes == set(doc["paths"])
