"""``make chaos``: long fault runs against real workers and a real Redis."""
