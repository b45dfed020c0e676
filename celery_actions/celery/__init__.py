"""The Celery side: the task base class and its attempts, the worker bootstep and pump,
the dispatcher and publisher (with the outbox), Redis-broker envelopes, the result writer
and the Celery settings the guarantees need."""
