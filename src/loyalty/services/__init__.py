"""The domain: every business rule lives here.

Services take a `Context` (session, settings, clock, the calling actor), never import FastAPI and
never commit: the caller's unit of work (`Database.unit_of_work`) does, once, on success.
"""
