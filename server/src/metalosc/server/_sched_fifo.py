"""Real-time scheduling for the event-loop thread, the way audio servers (JACK, PipeWire) do it.

Why: on a machine whose cores are busy decoding, the model workers' ``nice 10`` is not enough.
Linux's fair scheduler wakes the event loop behind a running worker's time slice, so a ping
that arrives while both cores decode waited up to 3-5 ms in the kernel before the daemon read
it (``bench/ping_latency.py`` with kernel receive timestamps: p99 3.2 ms between the datagram's
arrival and ``recvfrom`` returning). Neither less work in the daemon, GC, the GIL switch interval
nor bigger batches moved it; giving the loop a core of its own did (p99 0.57 ms), and so does
``SCHED_FIFO`` at a low priority without giving up a core: the loop then preempts the workers the
moment a datagram or a timer wakes it (round trip to the client's socket, p99 under full decode
load: 2.95 ms without, 0.67-0.82 ms with; decode throughput unchanged).

Only the calling thread is raised, with ``SCHED_RESET_ON_FORK``: every thread or process it
starts afterwards (trio's worker threads, model workers spawned on reload) comes up as an
ordinary ``SCHED_OTHER`` task, so a decode can never run at real-time priority. The event loop
sleeps between events, and the kernel's real-time throttling (95% of each second by default)
bounds what a bug could take.

Needs ``CAP_SYS_NICE`` or an ``RLIMIT_RTPRIO`` at least ``priority`` (systemd:
``LimitRTPRIO=``; Docker: ``--ulimit rtprio=N`` or ``--cap-add SYS_NICE``); without it the
daemon logs one warning and runs as before.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import structlog

__all__ = ["raise_event_loop_priority"]

log = structlog.get_logger("metalosc.server.realtime")

HINT = "grant LimitRTPRIO= (systemd), --ulimit rtprio= or --cap-add SYS_NICE (Docker)"


def _unchanged() -> None:
    pass


def raise_event_loop_priority(priority: int) -> Callable[[], None]:
    """Put the calling thread under ``SCHED_FIFO`` at ``priority`` (0: leave it alone).

    Returns the function that puts the thread back as it was (call it on the same thread when
    the daemon stops: an embedding program keeps its thread). A refusal is logged
    (``realtime_unavailable``), not raised, and returns a function that does nothing.
    """
    if priority <= 0:
        return _unchanged
    if not hasattr(os, "sched_setscheduler"):
        log.warning("realtime_unavailable", priority=priority, error="not supported here")
        return _unchanged
    policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(priority))
    except OSError as exc:
        log.warning("realtime_unavailable", priority=priority, error=str(exc), hint=HINT)
        return _unchanged
    log.info("realtime_enabled", policy="SCHED_FIFO", priority=priority)

    def restore() -> None:
        os.sched_setscheduler(0, policy, param)

    return restore
