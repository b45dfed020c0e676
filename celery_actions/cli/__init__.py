"""``celery -A proj actions ...``: the command-line view of actions, queues and workers."""
