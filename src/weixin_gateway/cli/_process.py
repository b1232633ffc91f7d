"""Process-wide settings of the long-running commands: open files and the garbage collector.

Both matter once a process holds thousands of long polls (``benchmarks/scenarios/idle.py``):

* **Open files.** ``serve`` holds one ``getupdates`` connection per account and ``simulator``
  holds the other end, so 10,000 accounts need more than 10,000 descriptors in each process,
  while many systems start processes with a soft limit of 1,024. Any process may raise its soft
  limit up to its hard limit; :func:`raise_open_files_limit` does that at start-up.
* **The cyclic garbage collector.** A parked poll's objects (request, response parser, timers,
  coroutine frames) live for the whole hold, so they outlive the young generations and are
  promoted; every ~25 % growth of the old generation then costs a full collection over every
  object in the process — about 1 s of CPU every half minute with 10,000 accounts, a third of
  the gateway's idle CPU. :func:`tune_garbage_collector` freezes what start-up built (modules,
  the app) out of the collector's reach and collects the young generation every 10,000 net
  allocations instead of 700, which makes the old-generation passes rare.
"""

from __future__ import annotations

import gc
import logging
import resource

__all__ = ["YOUNG_GC_THRESHOLD", "raise_open_files_limit", "tune_garbage_collector"]

log = logging.getLogger(__name__)

#: What is asked for when the hard limit is "unlimited" (Linux caps it at ``fs.nr_open``).
UNLIMITED_TARGET = 1 << 20
#: Net allocations of tracked objects between young collections (CPython's default: 700).
YOUNG_GC_THRESHOLD = 10_000


def raise_open_files_limit() -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = UNLIMITED_TARGET if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:  # e.g. above fs.nr_open: keep what we have
            log.warning("could not raise the open-file limit from %d: %s", soft, exc)
            return soft
        return target
    return soft


def tune_garbage_collector() -> None:
    """Call once start-up is done, just before the event loop runs."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GC_THRESHOLD, older, oldest)
