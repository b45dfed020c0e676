"""The shop's Celery app and its ``Actions`` facade: wiring only, no actions here.

Broker, result backend and coordination all use ``REDIS_URL`` (the demo points it at an
embedded Redis). Set ``ACTIONS_ENVIRONMENT=development`` for Gadget's short development
retry defaults. Run a worker with::

    REDIS_URL=redis://127.0.0.1:6379/0 celery -A example_project.celery_app worker
"""

from __future__ import annotations

import os

from celery import Celery

from celery_actions import Actions

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_URL = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL

app = Celery("shop", include=["example_project.shop_actions"])
app.conf.update(broker_url=REDIS_URL, result_backend=REDIS_URL)
actions = Actions(app)
