"""A small Django project for the Django tests: a shop app with actions, tasks and an admin.

Importing the package imports its Celery app (as Celery's Django guide has it), so the
``Actions`` facade exists before Django's apps are ready.
"""

from .celery_app import app as celery_app

__all__ = ["celery_app"]
