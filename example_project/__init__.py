"""The shop: a runnable Django project that shows every celery-actions feature.

- ``settings``: SQLite (``SQLITE_PATH``) or PostgreSQL (``DATABASE_URL``); the embedded or
  a given Redis (``REDIS_URL``); ``CELERY_*`` settings, the nightly report's beat schedule.
- ``celery_app``: the Celery app and its ``Actions`` facade (wiring only; imported here, as
  Celery's Django guide does, so the facade exists before Django's apps are ready).
- ``shop``: models (Product, Customer, Order), their admin, and the shop's actions in their
  own module (``shop/actions.py``, found by autodiscovery).
- ``supplier_api``: a local HTTP service that fails at random and rate-limits.
- ``demo``: ``python -m example_project.demo`` migrates, starts everything and runs a mix.
- ``manage.py``: ``python example_project/manage.py runserver`` for the admin.
"""

from .celery_app import app as celery_app

__all__ = ["celery_app"]
