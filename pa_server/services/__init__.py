"""Domain services over a SQLAlchemy `Session`: one function per use case, clock passed in.

Write functions flush but do not commit: the caller (an API request, the CLI, the planner
loop) commits once, so each use case is one transaction and nothing is half-written.
Errors are the tree in `pa_server.services.errors`.
"""
