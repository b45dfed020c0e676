"""The only package that talks to Redis: key names, Lua scripts, connections, the enqueue
writer, the job lifecycle store, read-only views and start-up checks."""
