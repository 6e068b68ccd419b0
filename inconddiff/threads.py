"""How many threads array work may use: the cores this process may run on."""

from __future__ import annotations

import os

MAX_THREADS = 8
"""numpy and OpenCV release the GIL in their array work, Python's own steps between do not: more threads than
this gain little."""


def worker_threads() -> int:
    """The cores this process may use (a container's share, not the host's), at most `MAX_THREADS`."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_THREADS))
