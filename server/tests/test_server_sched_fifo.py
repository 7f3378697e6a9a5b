"""Real-time scheduling of the event-loop thread (``_sched_fifo``).

Rules: the real system call is made only on a helper thread (the policy is per thread), so
pytest's own thread never changes; where the process may not use real-time scheduling, that
test is skipped and the refusal path is tested with a stand-in that refuses.
"""

from __future__ import annotations

import os
import resource
import threading
from collections.abc import Callable
from typing import Any

import pytest
import structlog
from metalosc.server import ConfigError, load_settings
from metalosc.server._cli import build_parser
from metalosc.server._sched_fifo import raise_event_loop_priority

PRIORITY = 10


def _allowed() -> bool:
    soft, _ = resource.getrlimit(resource.RLIMIT_RTPRIO)
    return os.geteuid() == 0 or soft == resource.RLIM_INFINITY or soft >= PRIORITY


def _on_a_thread(body: Callable[[], Any]) -> Any:
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(body()))
    thread.start()
    thread.join(timeout=10)
    return result[0]


@pytest.mark.skipif(not _allowed(), reason="this process may not use SCHED_FIFO")
def test_the_thread_runs_fifo_its_new_threads_do_not_and_restore_undoes_it() -> None:
    def body() -> tuple[int, int, int, int]:
        restore = raise_event_loop_priority(PRIORITY)
        raised = os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK
        priority = os.sched_getparam(0).sched_priority
        child = _on_a_thread(lambda: os.sched_getscheduler(0))
        restore()
        return raised, priority, child, os.sched_getscheduler(0)

    raised, priority, child, after = _on_a_thread(body)
    assert (raised, priority) == (os.SCHED_FIFO, PRIORITY)
    assert child == os.SCHED_OTHER  # SCHED_RESET_ON_FORK: what it starts is ordinary
    assert after == os.SCHED_OTHER


def test_a_refusal_is_one_warning_and_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(pid: int, policy: int, param: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    with structlog.testing.capture_logs() as logs:
        restore = _on_a_thread(lambda: raise_event_loop_priority(PRIORITY))
    restore()  # a no-op, not a second refusal
    assert [e["event"] for e in logs] == ["realtime_unavailable"]
    assert logs[0]["log_level"] == "warning"
    assert "LimitRTPRIO" in logs[0]["hint"]


def test_priority_zero_leaves_the_thread_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(os, "sched_setscheduler", lambda *args: calls.append(args))
    with structlog.testing.capture_logs() as logs:
        raise_event_loop_priority(0)()
    assert calls == []
    assert logs == []


def test_realtime_priority_is_a_setting_a_flag_and_range_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("METALOSC_REALTIME_PRIORITY")  # the suite's own override
    assert load_settings(None).realtime_priority == PRIORITY
    args = build_parser().parse_args(["serve", "--realtime-priority", "0"])
    assert load_settings(None, realtime_priority=args.realtime_priority).realtime_priority == 0
    monkeypatch.setenv("METALOSC_REALTIME_PRIORITY", "100")
    with pytest.raises(ConfigError, match="realtime_priority"):
        load_settings(None)
