"""A runnable shop that shows every celery-actions feature.

- ``celery_app``: the Celery app and its ``Actions`` facade (wiring only).
- ``shop_actions``: the shop's actions (syncing products, emails, a daily report, charges).
- ``supplier_api``: a local HTTP service that fails at random and rate-limits.
- ``demo``: ``python -m example_project.demo`` starts everything and enqueues a mix.
"""
