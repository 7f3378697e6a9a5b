"""Signals and reloads: ``run_daemon`` as ``metalosc serve`` runs it, on fake models, with real
signals sent to this process.

Rules: time is a frozen ``MockClock`` (pytest-trio's ``mock_clock``): it moves only when a test
jumps it, so "a second signal a second later" and "the beat's times" are exact, and the graceful
stop's threads (closing the models) cannot race a grace deadline. Nothing here sleeps: tests wait
for events the daemon reports (``READY=1``…) or for every task to block. While a test runs, the
default actions of SIGINT/SIGTERM/SIGHUP are replaced by "ignore", so that a signal trio hands back
after the daemon stopped listening cannot end the test run.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Callable, Collection, Iterator
from functools import partial
from typing import Any

import pytest
import trio
import trio.testing
from metalosc.protocol import (
    Beat,
    Bundle,
    Instrument,
    ModelBundleError,
    Subscribe,
    decode_packet,
    encode,
)
from metalosc.server import (
    ConfigError,
    Executor,
    RunningServer,
    Settings,
    SystemdNotifier,
    ThreadExecutor,
)
from metalosc.server._lifecycle import FORCE_AFTER_S, StopRequests, run_daemon
from metalosc.server.testing import FAST_SETTINGS, FakeModel, FakeModelSource, fake_analysis
from structlog.testing import capture_logs

BASE_SETTINGS: dict[str, Any] = {**FAST_SETTINGS}


class RecordingNotifier(SystemdNotifier):
    """``sd_notify`` without a socket: every datagram's fields are kept, and ``changed`` is set
    (and renewed) after each one."""

    def __init__(self) -> None:
        super().__init__(None)
        self.sent: list[str] = []
        self.changed = trio.Event()

    def notify(self, *fields: str) -> bool:
        self.sent.append(fields[0])
        self.changed.set()
        self.changed = trio.Event()
        return True

    async def wait_for(self, field: str, count: int = 1) -> None:
        with trio.fail_after(30):  # a frozen clock: only a hang can trip this... so it never does
            while self.sent.count(field) < count:
                await self.changed.wait()


@pytest.fixture(autouse=True)
def _signals_ignored() -> Iterator[None]:
    """SIGINT/SIGTERM/SIGHUP ignored by default while a test runs (module docstring)."""
    wanted = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {signum: signal.signal(signum, signal.SIG_IGN) for signum in wanted}
    yield
    for signum, handler in before.items():
        signal.signal(signum, handler)


def _kill(signum: signal.Signals) -> None:
    os.kill(os.getpid(), signum)


async def _until(predicate: Callable[[], bool]) -> None:
    """Let the daemon run (no clock moves) until ``predicate`` holds; real waits are for
    threads, so a few thousand rounds are plenty."""
    for _ in range(5000):
        if predicate():
            return
        await trio.testing.wait_all_tasks_blocked()
        await trio.lowlevel.checkpoint()
    raise AssertionError("the daemon never got there")


def test_copies_of_a_stop_request_are_one_request_and_a_later_one_forces() -> None:
    requests = StopRequests(force_after=1.0)
    assert requests.classify(10.0) == "stop"
    assert requests.classify(10.0) == "copy"
    assert requests.classify(10.999) == "copy"
    assert requests.classify(11.0) == "force"
    assert FORCE_AFTER_S >= 1.0


async def test_a_stop_signal_and_its_copy_are_one_graceful_stop(
    mock_clock: trio.testing.MockClock, fake_source: FakeModelSource
) -> None:
    notifier = RecordingNotifier()
    forced: list[int] = []
    with capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                lambda: run_daemon(
                    Settings(**BASE_SETTINGS),
                    executors=fake_source,
                    notifier=notifier,
                    force_exit=forced.append,
                )
            )
            await notifier.wait_for("READY=1")
            _kill(signal.SIGTERM)
            await _until(lambda: any(e["event"] == "stopping" for e in logs))
            _kill(signal.SIGTERM)  # the copy: a process group signalled, a wrapper forwarding
            _kill(signal.SIGINT)  # Ctrl-C in the same instant is the same request too
    assert forced == []
    assert notifier.sent.count("STOPPING=1") == 1
    assert notifier.sent.index("READY=1") < notifier.sent.index("STOPPING=1")
    events = [e["event"] for e in logs]
    assert "shutdown_forced" not in events
    assert "stopped" in events
    actions = [e.get("action") for e in logs if e["event"] == "signal_received"]
    assert actions[0] == "stop"
    assert actions[1:] in ([], ["ignored"], ["ignored", "ignored"])  # copies may coalesce
    assert all(m.closed for m in fake_source.models.values())


async def test_a_second_stop_request_a_second_later_forces_the_exit(
    mock_clock: trio.testing.MockClock,
) -> None:
    """The models take their time to close (a stuck worker): the stop is under way when a second
    SIGTERM comes, :data:`FORCE_AFTER_S` later; that one forces the exit (status 70)."""
    gate = threading.Event()

    class StuckOnClose(FakeModel):
        def close(self) -> None:
            gate.wait(30)
            super().close()

    async def source(instruments: Collection[Instrument]) -> dict[Instrument, Executor]:
        return {i: ThreadExecutor(StuckOnClose(i), fake_analysis()) for i in instruments}

    notifier = RecordingNotifier()
    forced: list[int] = []
    try:
        with capture_logs() as logs:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    lambda: run_daemon(
                        Settings(**BASE_SETTINGS),
                        executors=source,
                        notifier=notifier,
                        force_exit=forced.append,
                    )
                )
                await notifier.wait_for("READY=1")
                _kill(signal.SIGTERM)
                await _until(lambda: any(e["event"] == "stopping" for e in logs))
                mock_clock.jump(FORCE_AFTER_S)
                _kill(signal.SIGTERM)
                await _until(lambda: bool(forced))
                gate.set()  # the stuck models close; the (not really forced) stop completes
    finally:
        gate.set()
    assert forced == [70]
    assert [e["event"] for e in logs].count("shutdown_forced") == 1


async def test_a_stop_signal_while_the_models_load_stops_the_loading(
    mock_clock: trio.testing.MockClock, fake_source: FakeModelSource
) -> None:
    loading = trio.Event()

    async def slow_source(instruments: Collection[Instrument]) -> Any:
        loading.set()
        await trio.sleep_forever()  # the models never finish loading (a frozen clock)
        return await fake_source(instruments)

    notifier = RecordingNotifier()
    with capture_logs() as logs, trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                lambda: run_daemon(
                    Settings(**BASE_SETTINGS), executors=slow_source, notifier=notifier
                )
            )
            await loading.wait()
            _kill(signal.SIGTERM)
    assert notifier.sent == ["STOPPING=1"]
    assert [e.get("action") for e in logs if e["event"] == "signal_received"] == ["stop"]


def _beats(sock: socket.socket) -> dict[float, float]:
    """Every Beat received so far: its beat number (bar·4 + beat) -> its bundle's timetag."""
    heard: dict[float, float] = {}
    while True:
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return heard
        packet = decode_packet(data, outgoing=True)
        if isinstance(packet, Bundle) and packet.timetag is not None:
            for message in packet.messages:
                if isinstance(message, Beat):
                    heard[message.bar * 4 + message.beat] = packet.timetag


async def _play(clock: trio.testing.MockClock, seconds: float, step: float = 0.05) -> None:
    for _ in range(round(seconds / step)):
        clock.jump(step)
        await trio.testing.wait_all_tasks_blocked()


async def test_sighup_reloads_settings_and_bundles_and_the_beat_keeps_its_times(
    mock_clock: trio.testing.MockClock, fake_source: FakeModelSource
) -> None:
    notifier = RecordingNotifier()
    settings = Settings(**BASE_SETTINGS)
    # What the edited file says: a deeper buffer, one more network allowed and fewer subscribers
    # (applied), another tempo (a start value: the music keeps the game's) and another port
    # (needs a restart).
    edited = Settings(
        **{
            **BASE_SETTINGS,
            "buffer_depth": 6,
            "allow": ("127.0.0.0/8", "10.0.0.0/8"),
            "max_subscribers": 2,
            "bpm": 90.0,
            "port": 1,
        }
    )
    with (
        capture_logs() as logs,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener,
    ):
        listener.bind(("127.0.0.1", 0))
        listener.setblocking(False)
        async with trio.open_nursery() as nursery:
            server: RunningServer = await nursery.start(
                partial(
                    run_daemon,
                    settings,
                    reload_settings=lambda: edited,
                    executors=fake_source,
                    notifier=notifier,
                )
            )
            listener.sendto(encode(Subscribe()), server.address)
            await _play(mock_clock, 4.0)
            before = _beats(listener)
            anchors = server.clock.anchors
            first_models = fake_source.models

            _kill(signal.SIGHUP)
            await notifier.wait_for("READY=1", count=2)
            assert notifier.sent[-2:] == ["RELOADING=1", "READY=1"]
            await _play(mock_clock, 4.0)
            after = _beats(listener)
            _kill(signal.SIGTERM)

    assert len(fake_source.opened) == 2
    assert all(m.closed for m in first_models.values())
    assert server.settings.buffer_depth == 6
    assert all(b.depth == 6 for b in server.conductor.buffers.values())
    assert server.clock.bpm == 300.0  # a start value: the music keeps the tempo it has
    assert server.settings.bpm == 90.0  # (and the file's says how the next start begins)
    assert server.settings.port == settings.port  # needs a restart: not applied, and said so
    [reloaded] = [e for e in logs if e["event"] == "settings_reloaded"]
    assert reloaded["applied"] == ["buffer_depth", "allow", "max_subscribers"]
    assert server.controller is not None
    assert server.controller.access is not None
    assert server.controller.access.allows("10.1.2.3")
    assert not server.controller.access.allows("192.168.1.2")
    assert server.subscriptions.capacity == 2
    assert reloaded["start_values_kept"] == ["bpm"]
    assert reloaded["restart_needed"] == ["port"]
    # The beat: same tempo map, the transport never restarted, and every beat heard before and
    # after the reload sounds exactly where the first anchor put it.
    assert server.clock.anchors == anchors
    assert [e["event"] for e in logs].count("transport_started") == 1
    assert before
    assert after
    assert min(after) > max(before)
    (anchor,) = anchors
    for beat, timetag in {**before, **after}.items():
        expected = server.clock.to_unix(anchor.time + beat * 60.0 / anchor.bpm)
        assert timetag == pytest.approx(expected, abs=1e-6), beat


@pytest.mark.parametrize("broken", ["config", "bundles"])
async def test_a_reload_with_a_bad_config_or_bad_bundles_keeps_everything(
    broken: str, mock_clock: trio.testing.MockClock, fake_source: FakeModelSource
) -> None:
    notifier = RecordingNotifier()
    settings = Settings(**BASE_SETTINGS)

    def reload_settings() -> Settings:
        if broken == "config":
            raise ConfigError("invalid settings: lookahead = -1 (file x.toml): too small")
        fake_source.fail_next = ModelBundleError(
            settings.models / "guitar" / "manifest.json", "not JSON"
        )
        return Settings(**{**BASE_SETTINGS, "buffer_depth": 7})

    with capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            server: RunningServer = await nursery.start(
                partial(
                    run_daemon,
                    settings,
                    reload_settings=reload_settings,
                    executors=fake_source,
                    notifier=notifier,
                )
            )
            models = fake_source.models
            _kill(signal.SIGHUP)
            await notifier.wait_for("READY=1", count=2)
            _kill(signal.SIGTERM)
    failed = "config_reload_failed" if broken == "config" else "models_reload_failed"
    assert [e["event"] for e in logs if e["log_level"] == "error"] == [failed]
    assert len(fake_source.opened) == 1
    assert fake_source.models == models  # the same model objects: nothing reopened
    assert server.settings.buffer_depth == 4
    assert all(b.depth == 4 for b in server.conductor.buffers.values())
    assert server.metrics["reloads_failed"] == 1
    assert server.metrics["reloads"] == 0
