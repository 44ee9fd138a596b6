"""Deployable flows, one module each: composition of tasks only.

A flow run is a process of its own that builds, solves and publishes with large arrays: it keeps
the memory it frees for its next stage (:func:`settings.keep_memory`; ``THREELISTS_KEEP_MEMORY=0``
turns that off).
"""

from settings import keep_memory

keep_memory()
