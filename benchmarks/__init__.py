"""Benchmarks of celery-actions against raw Celery: ``python -m benchmarks`` (``make bench``)."""
