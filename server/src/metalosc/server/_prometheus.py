"""The metrics endpoint: the daemon's counters and state as Prometheus text over HTTP.

``prometheus_client`` serves HTTP on threads of its own, and the daemon's state belongs to the
trio thread. So at each scrape :class:`DaemonCollector` asks the trio thread for a snapshot
(``trio.from_thread.run_sync``): nothing is read while the event loop changes it, and between
scrapes the event loop does no work for metrics at all. The processes' memory is then read from
``/proc/<pid>/`` on the HTTP thread, because the kernel takes a while to add up a big worker's
pages and the event loop must not wait for that. Only per-process ``/proc`` files are read, which
the systemd unit's ``ProcSubset=pid`` leaves visible (``prometheus_client``'s own process
collector needs ``/proc/stat`` and would report nothing there).

Names follow Prometheus' conventions: ``metalosc_`` prefix, counters end in ``_total``,
durations are ``_seconds``, sizes ``_bytes``.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import get_args
from wsgiref.simple_server import WSGIServer

import trio
from metalosc.protocol import INSTRUMENTS, KEY_NAMES, Instrument
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)

from ._buffer import PhraseBuffer
from ._clock import BeatClock
from ._conductor import Conductor
from ._controls import Controls
from ._generation import Generator
from ._metrics import Metrics, RejectReason
from ._runner import ModelRunner
from ._scheduled import ScheduledBundles
from ._subscriptions import Subscriptions
from ._transport import Transport
from ._udp import Peer, UdpEndpoint
from ._worker import ProcessExecutor

__all__ = [
    "DaemonCollector",
    "DaemonView",
    "MetricsEndpoint",
    "daemon_families",
    "metrics_registry",
    "process_families",
]

PREFIX = "metalosc_"

COUNT_HELP = {
    "packets_received": "UDP datagrams received from clients.",
    "cues_sent": "Cues (what sounds at one beat position) sent to the subscribers of a mode.",
    "late_sends": "Bundle-mode cues sent after their sound time.",
    "packets_decoded": "Datagrams that decoded as OSC (a message or a bundle).",
    "packets_malformed": "Datagrams that did not decode (malformed, unknown address, bad "
    "arguments); also counted in packets_rejected by reason.",
    "error_replies_suppressed": "/metal/error replies not sent: the peer or the daemon was over "
    "its error budget.",
    "replies_withheld": "Replies to a stranger (a peer that never subscribed) withheld: larger "
    "than the request they answer.",
    "worker_restarts": "Model worker processes restarted after dying, hanging or failing.",
    "subscriptions_refused": "Subscriptions refused (too many subscribers).",
    "silent_bars": "Bars that had nothing decoded to play.",
    "plans_dropped": "Bar plans dropped because the decoder's follower fell behind.",
    "bundles_scheduled": "Client bundles timetagged in the future, held for their time.",
    "bundles_refused": "Client bundles refused for being too far ahead or too many.",
    "subscribers_gone": "Subscriptions dropped because their destination refused a datagram.",
}
"""Help text of the event counts in :class:`~metalosc.server.Metrics`; a count not named here is
exported all the same, as ``metalosc_<name>_total``."""
_UNANSWERED = {"denied": "packets_denied", "shed": "packets_shed"}
"""Reasons of the rejected-packets counter for datagrams dropped before parsing, with the event
count each one reads."""
_OWN_FAMILIES = frozenset(
    {"errors", "reloads", "reloads_failed", "packets_oversize", *_UNANSWERED.values()}
)
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass
class DaemonView:
    """What the metrics endpoint reads of a running daemon (all owned by the trio thread).
    ``startup_s`` is set (seconds to ready) once the daemon is ready."""

    metrics: Metrics
    endpoint: UdpEndpoint
    subscriptions: Subscriptions
    buffers: Mapping[Instrument, PhraseBuffer]
    runners: Mapping[Instrument, ModelRunner]
    generator: Generator
    conductor: Conductor
    clock: BeatClock
    controls: Controls
    transport: Transport
    scheduled: ScheduledBundles
    startup_s: float | None = None


def _version() -> str:
    try:
        return version("metalosc-server")
    except PackageNotFoundError:  # pragma: no cover - always installed in the workspace
        return "unknown"


def daemon_families(view: DaemonView) -> list[Metric]:
    """Every series of the daemon's own state, read now (call it on the trio thread)."""
    families: list[Metric] = []

    def counter(name: str, help_text: str, value: float) -> None:
        families.append(CounterMetricFamily(PREFIX + name, help_text, value=value))

    def gauge(name: str, help_text: str, value: float) -> None:
        families.append(GaugeMetricFamily(PREFIX + name, help_text, value=value))

    def per_instrument(
        family: CounterMetricFamily | GaugeMetricFamily, values: Callable[[Instrument], float]
    ) -> None:
        for instrument in INSTRUMENTS:
            family.add_metric([instrument], values(instrument))
        families.append(family)

    info = InfoMetricFamily(PREFIX + "build", "The daemon's version.")
    info.add_metric([], {"version": _version()})
    families.append(info)
    gauge(
        "ready", "1 once the models are loaded and the buffers primed.", view.startup_s is not None
    )
    if view.startup_s is not None:
        gauge("startup_seconds", "Seconds from start to ready.", view.startup_s)

    counts = view.metrics.counts
    endpoint = view.endpoint
    counter("packets_sent_total", "UDP datagrams sent.", endpoint.sent)
    counter(
        "packet_send_failures_total",
        "UDP datagrams that could not be sent.",
        endpoint.send_failures,
    )
    rejected = CounterMetricFamily(
        PREFIX + "packets_rejected",
        "Client datagrams refused, by reason: from a peer outside the allowlist (denied) or over "
        "its input budget (shed), dropped unanswered; the others answered with /metal/error.",
        labels=["reason"],
    )
    for reason, count in _UNANSWERED.items():
        rejected.add_metric([reason], counts[count])
    for reason in get_args(RejectReason):
        rejected.add_metric([reason], view.metrics.rejected[reason])
    families.append(rejected)
    reloads = CounterMetricFamily(
        PREFIX + "reloads",
        "Reloads (SIGHUP) of settings and bundles, by result.",
        labels=["result"],
    )
    reloads.add_metric(["ok"], counts["reloads"])
    reloads.add_metric(["failed"], counts["reloads_failed"])
    families.append(reloads)
    # The known counts from zero on (a series that appears only once something happened hides
    # the first event from rate()), any other from its first event.
    for name in sorted(COUNT_HELP.keys() | counts.keys()):
        if name in _OWN_FAMILIES or not _NAME.match(name):
            continue
        help_text = COUNT_HELP.get(name, f"Count of {name.replace('_', ' ')} events.")
        counter(f"{name}_total", help_text, counts[name])

    subscribers = GaugeMetricFamily(
        PREFIX + "subscribers", "Subscribers, by delivery mode.", labels=["mode"]
    )
    for mode in ("bundle", "immediate"):
        subscribers.add_metric([mode], len(view.subscriptions.active(mode)))
    families.append(subscribers)
    gauge("scheduled_bundles", "Client bundles waiting for their timetag.", view.scheduled.waiting)

    buffers = view.buffers

    def waiting(instrument: Instrument) -> int:
        if instrument == "bass":  # decoded with each guitar phrase, waiting attached to it
            return sum(1 for p in buffers["guitar"].phrases if p.accompaniment)
        return len(buffers[instrument])

    per_instrument(
        GaugeMetricFamily(
            PREFIX + "buffer_phrases",
            "Decoded phrases waiting to be played (the bass: guitar phrases with their bass).",
            labels=["instrument"],
        ),
        waiting,
    )
    per_instrument(
        GaugeMetricFamily(
            PREFIX + "buffer_target_phrases",
            "Phrases the buffer is refilled to (buffer_depth).",
            labels=["instrument"],
        ),
        lambda i: buffers[i].depth,
    )
    per_instrument(
        CounterMetricFamily(
            PREFIX + "buffer_underruns",
            "Phrases picked from an empty buffer (a recently played phrase played again).",
            labels=["instrument"],
        ),
        lambda i: buffers[i].underruns,
    )
    runners = view.runners
    per_instrument(
        CounterMetricFamily(
            PREFIX + "phrases_decoded", "Phrases decoded by the models.", labels=["instrument"]
        ),
        lambda i: runners[i].phrases_decoded,
    )
    generator = view.generator
    counter(
        "guitar_phrases_dropped_total",
        "Decoded guitar phrases dropped as too sparse or out of the key.",
        generator.guitar_dropped,
    )
    failed = CounterMetricFamily(
        PREFIX + "decode_orders_failed",
        "Decodes the conductor ordered that failed or did not fit the queue (stand-ins played).",
        labels=["order"],
    )
    failed.add_metric(["section"], generator.orders_failed)
    failed.add_metric(["interpolation"], generator.interpolations_failed)
    families.append(failed)

    controls, conductor = view.controls, view.conductor
    gauge("playing", "1 while the transport plays.", view.transport.playing)
    gauge("tempo_beats_per_minute", "Current tempo.", view.clock.bpm)
    gauge("tension", "Current tension (0 calm .. 1 intense).", controls.tension)
    gauge("sampling_temperature", "Current sampling temperature.", controls.temperature)
    key = InfoMetricFamily(PREFIX + "key", "The key playing and the key the music is heading for.")
    key.add_metric([], {"key": KEY_NAMES[conductor.key], "target": KEY_NAMES[conductor.target_key]})
    families.append(key)
    section = conductor.section
    if section is not None:
        gauge("section_index", "Index of the section playing, since play started.", section.index)
        about = InfoMetricFamily(PREFIX + "section", "The section playing.")
        about.add_metric(
            [],
            {
                "label": section.label[:32],
                "key": section.key_name,
                "pattern": section.pattern,
            },
        )
        families.append(about)
    return families


def worker_pids(runners: Mapping[Instrument, ModelRunner]) -> dict[str, int]:
    """The pid of each instrument's worker process (none for models run in threads)."""
    pids: dict[str, int] = {}
    for instrument, runner in runners.items():
        executor = runner.executor
        if isinstance(executor, ProcessExecutor):
            try:
                pid = executor.process.pid
            except ValueError:  # closed by a reload a moment ago
                continue
            if pid is not None:
                pids[instrument] = pid
    return pids


def process_families(pids: Mapping[str, int], proc: Path = Path("/proc")) -> list[Metric]:
    """Resident and proportional memory (bytes) and CPU time (seconds) of each named process,
    from ``/proc/<pid>/``; a process that is gone or unreadable is left out."""
    page = os.sysconf("SC_PAGE_SIZE")
    ticks = os.sysconf("SC_CLK_TCK")
    rss = GaugeMetricFamily(
        PREFIX + "process_resident_memory_bytes",
        "Resident memory of the daemon and of each model worker process.",
        labels=["process"],
    )
    pss = GaugeMetricFamily(
        PREFIX + "process_proportional_memory_bytes",
        "Proportional set size (shared pages divided among their sharers) of each process; "
        "their sum is what the daemon takes from the machine.",
        labels=["process"],
    )
    cpu = CounterMetricFamily(
        PREFIX + "process_cpu_seconds",
        "User and system CPU time of each process.",
        labels=["process"],
    )
    for name, pid in pids.items():
        base = proc / str(pid)
        try:
            resident_pages = int((base / "statm").read_text().split()[1])
            stat = (base / "stat").read_text().rsplit(")", 1)[1].split()
            rollup = (base / "smaps_rollup").read_text()
        except (OSError, IndexError, ValueError):
            continue
        rss.add_metric([name], resident_pages * page)
        cpu.add_metric([name], (int(stat[11]) + int(stat[12])) / ticks)
        for line in rollup.splitlines():
            if line.startswith("Pss:"):
                pss.add_metric([name], int(line.split()[1]) * 1024)
                break
    return [rss, pss, cpu]


class DaemonCollector:
    """A ``prometheus_client`` collector of a running daemon: :func:`daemon_families` read on
    the trio thread of ``token`` at each scrape, then the processes' memory. Collect it from
    another thread only (the HTTP server's); after the trio run ends it reports nothing."""

    def __init__(self, view: DaemonView, token: trio.lowlevel.TrioToken) -> None:
        self.view = view
        self.token = token

    def _snapshot(self) -> tuple[list[Metric], dict[str, int]]:
        pids = {"daemon": os.getpid(), **worker_pids(self.view.runners)}
        return daemon_families(self.view), pids

    def collect(self) -> Iterable[Metric]:
        """The daemon's series (called by the registry, on the HTTP server's thread)."""
        try:
            families, pids = trio.from_thread.run_sync(self._snapshot, trio_token=self.token)
        except trio.RunFinishedError:
            return []
        return [*families, *process_families(pids)]


def metrics_registry(view: DaemonView, token: trio.lowlevel.TrioToken) -> CollectorRegistry:
    """A registry of the daemon's series: its collector and its duration histograms."""
    registry = CollectorRegistry()
    registry.register(view.metrics.decode_seconds)
    registry.register(view.metrics.control_seconds)
    registry.register(DaemonCollector(view, token))
    return registry


class MetricsEndpoint:
    """``prometheus_client``'s HTTP server for ``registry`` on ``host``:``port`` (0 = any free
    port), on threads of its own. Raises ``OSError`` when it cannot listen there."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        server, thread = start_http_server(port, host, registry)
        self._server: WSGIServer = server
        self._thread: threading.Thread = thread

    @property
    def address(self) -> Peer:
        """The bound (host, port)."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def close(self) -> None:
        """Stop serving and close the socket (blocking: up to half a second)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
