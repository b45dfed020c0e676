"""Pure logic: option models and precedence, params, the retry decision, priorities, the
wire protocol, settings and rate specs. Imports neither redis, celery nor django."""
