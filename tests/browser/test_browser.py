"""The shop and the Queues dashboard in a real browser (Debian's Chromium, Playwright),
against the example project on uvicorn with a real worker."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from celery_actions.testing import wait_for

from .conftest import ROOT, Shop, log_in, screenshot

XSS = '<script>alert("x")</script><img src=x onerror=alert(2)>'


def in_shop(shop: Shop, code: str) -> Any:
    """Run Python in the shop's project (its settings, its Redis); returns its JSON."""
    script = (
        "import django, json; django.setup()\n"
        "from example_project.shop.actions import actions, send_email, daily_report\n"
        "from datetime import datetime, timedelta, UTC\n" + code
    )
    done = subprocess.run([sys.executable, "-c", script], env=shop.env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def no_dialogs(page: Any) -> list[str]:
    """Every dialog a page opens (an XSS would open one)."""
    opened: list[str] = []
    page.on("dialog", lambda d: (opened.append(d.message), d.dismiss()))
    return opened


def test_a_click_enqueues_and_the_statuses_and_results_arrive_live(shop, browser):
    # Given Ann on the shop's page
    ann = log_in(browser, shop, "ann")
    page = ann.new_page()
    page.goto(shop.url + "/")
    # When she places an order
    page.click("button.buy >> nth=0")
    order = page.locator(".order").first
    # Then its receipt and its product sync are followed live until they complete
    order.locator(".receipt .status.complete").wait_for(timeout=30_000)
    order.locator(".sync .status.complete").wait_for(timeout=60_000)
    assert ".eml" in order.locator(".receipt .result").inner_text()
    assert '"name"' in order.locator(".sync .result").inner_text()
    screenshot(page, "shop.png")
    receipt = order.locator(".receipt").get_attribute("data-action")
    # And Ann reads it through the API, while Bob, another user, gets 404
    assert ann.request.get(f"{shop.url}/actions/api/actions/{receipt}").status == 200
    bob = log_in(browser, shop, "bob")
    found = bob.request.get(f"{shop.url}/actions/api/actions/{receipt}")
    assert found.status == 404 and found.json() == {"error": "no such action"}
    assert bob.request.get(f"{shop.url}/actions/api/actions/{receipt}/result").status == 404
    # And a product's stock is refreshed by an action enqueued from the page itself (the
    # browser API through its JS client), followed live to its result
    page.click("button.restock >> nth=0")
    refresh = page.locator(".product p.refresh").first
    refresh.locator(".status.complete").wait_for(timeout=60_000)
    assert '"stock"' in refresh.locator(".result").inner_text()
    # And customers are not staff: the dashboard answers 403
    assert bob.new_page().goto(shop.url + "/actions/").status == 403
    ann.close()
    bob.close()


def test_the_dashboard_filters_cancels_and_updates_live(shop, browser):
    # Given scheduled actions, one with an XSS payload in its params
    ids = in_shop(shop, (
        "later = datetime.now(UTC) + timedelta(days=1)\n"
        f"hs = [actions.enqueue(send_email, {{'to': 'a@b.c', 'subject': {XSS!r}}},"
        " start_at=later)]\n"
        "hs += [actions.enqueue(send_email, {'to': f'{i}@b.c', 'subject': 's'}, start_at=later)"
        " for i in range(2)]\n"
        "print(json.dumps([h.id for h in hs]))"
    ))  # fmt: skip
    olga = log_in(browser, shop, "olga")
    page = olga.new_page()
    dialogs = no_dialogs(page)
    # When the operator filters the actions by status and action
    page.goto(f"{shop.url}/actions/list/")
    page.select_option("select[name=status]", "scheduled")
    page.select_option("select[name=action]", "example_project.shop.actions.send_email")
    page.click("form.filters button")
    page.wait_for_url("**/actions/list/?*status=scheduled*")
    # Then they are listed
    for action_id in ids:
        page.locator(f"tr[data-id='{action_id}']").wait_for()
    screenshot(page, "dashboard-actions.png")
    # And the XSS payload shows as text on the action's page
    page.click(f"tr[data-id='{ids[0]}'] a")
    assert json.loads(page.locator("pre.params").inner_text())["subject"] == XSS
    assert dialogs == []
    screenshot(page, "dashboard-action.png")
    # When it is cancelled there
    page.click("form.ops button[value=cancel]")
    assert "cancelled" in page.locator(".flash").inner_text()
    page.locator(".fields .badge.s-cancelled").wait_for()
    # And the others through a bulk cancel, after seeing the count
    page.goto(f"{shop.url}/actions/list/?status=scheduled&action="
              "example_project.shop.actions.send_email")  # fmt: skip
    page.click("text=Cancel all matching")
    count = int(page.locator("#confirm-count").inner_text().replace(",", ""))
    assert count >= 2
    page.click("form button:not([disabled])")
    assert f"{count:,} action(s) cancelled" in page.locator(".flash").inner_text()
    statuses = in_shop(shop, (
        f"print(json.dumps([actions.handle(send_email, i).status().value for i in {ids!r}]))"
    ))  # fmt: skip
    assert statuses == ["cancelled"] * 3
    # And the overview updates live, without a reload, when more actions complete
    page.goto(f"{shop.url}/actions/")
    page.locator("#live-state").wait_for()
    tile = page.locator("a.tile.s-complete b")
    before = int(tile.inner_text().replace(",", ""))
    page.evaluate("window.notReloaded = true")
    in_shop(shop, (
        "hs = actions.enqueue_many(daily_report, [{'day': '2026-01-0%d' % i} for i in (1, 2)])\n"
        "hs.results(timeout=30)\nprint('[]')"
    ))  # fmt: skip
    wait_for(
        lambda: int(tile.inner_text().replace(",", "")) >= before + 2,
        timeout=15,
        what="the complete tile pushed",
    )  # (the page's CSP forbids Playwright's eval)
    assert page.evaluate("window.notReloaded") is True
    screenshot(page, "dashboard-overview.png")
    page.goto(f"{shop.url}/actions/queues/")
    screenshot(page, "dashboard-queues.png")
    olga.close()


def test_a_read_only_viewer_cannot_operate_and_csrf_is_enforced(shop, browser):
    # Given a viewer (read-only staff) and an action scheduled far ahead
    (action_id,) = in_shop(shop, (
        "h = actions.enqueue(send_email, {'to': 'v@b.c', 'subject': 's'},"
        " start_at=datetime.now(UTC) + timedelta(days=1))\nprint(json.dumps([h.id]))"
    ))  # fmt: skip
    vic = log_in(browser, shop, "vic")
    page = vic.new_page()
    page.goto(f"{shop.url}/actions/action/?id={action_id}")
    # Then no operation is offered, and a forged POST is refused
    assert page.locator("form.ops").count() == 0
    refused = vic.request.post(f"{shop.url}/actions/operate/",
                               form={"op": "cancel", "id": action_id})  # fmt: skip
    assert refused.status == 403
    # And the browser API refuses an enqueue without the CSRF token
    api = vic.request.post(f"{shop.url}/actions/api/enqueue/send_email",
                           data={"params": {"to": "x@y.z", "subject": "s"}})  # fmt: skip
    assert api.status == 403
    vic.close()
