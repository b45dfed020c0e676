"""The Queues dashboard, framework-neutral: server-rendered pages (``pages.py``), their
live updates (``live.py``), operator actions (``operate.py``), and a small WSGI server
for ``celery -A proj actions dashboard`` (``server.py``). The Django app mounts the same
pages (``celery_actions/django/urls.py``)."""
