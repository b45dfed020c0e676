"""The Django project of the Django benchmarks: one model, a model action and the global
action doing the same work, a no-op action for the enqueue cost. ``BENCH_SQLITE`` names
its SQLite file; ``DATABASE_URL`` selects PostgreSQL instead."""

from .celery_app import app as celery_app

__all__ = ["celery_app"]
