"""The Django integration: ``INSTALLED_APPS += ["celery_actions.django"]`` (label
``celery_actions``).

- ``apps.py``: the app; at start it finds the ``Actions`` facade, holds enqueues made inside
  ``transaction.atomic()`` until the commit, registers the outbox relay with every worker's
  pump and imports each installed app's ``actions.py``.
- ``conf.py`` and ``checks.py``: the Django settings and their system checks.
- ``models.py``, ``outbox.py``: the transactional outbox.
- ``model_actions.py``: ``@actions.model_action(Model)``.
- ``tasks.py``: ``TASKS = {"default": {"BACKEND": "celery_actions.django.tasks.ActionsBackend"}}``.
- ``admin.py``: read-only action records, "run <action> on selected".
"""

from .model_actions import RecordNotFound, records

__all__ = ["RecordNotFound", "records"]
