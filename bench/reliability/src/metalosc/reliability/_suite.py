"""The four stages of the suite, each against a live ``metalosc serve``, and the table they make.

Every stage starts its own daemon (so one stage's leftovers cannot help or hurt the next), runs
bounded in count and time, sends only to loopback or to namespaces it made itself, and returns
rows: what was measured, the figure, its bound, and whether the figure meets it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from metalosc.protocol import Ping, Stop, Subscribe, Tension, encode

from ._amplification import probe
from ._daemon import DaemonError, LiveDaemon, free_port
from ._flood import Flooders
from ._listener import Heard, Listener
from ._netns import NetworkUnavailableError, TestNetwork, run_in, socket_in
from ._packets import accepted_messages, hostile_packets

__all__ = [
    "STAGES",
    "Row",
    "amplification_stage",
    "faults_stage",
    "flood_stage",
    "fuzz_stage",
    "print_table",
]


@dataclass(frozen=True)
class Row:
    """One line of the table: ``stage``, what was ``measured``, the ``figure``, its ``bound``,
    and whether the figure meets it (``ok``)."""

    stage: str
    measured: str
    figure: str
    bound: str
    ok: bool


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


@contextmanager
def _daemon(
    models: Path,
    *,
    env: dict[str, str] | None = None,
    args: Sequence[str] = (),
    port: int | None = None,
    wrap: Callable[[list[str]], list[str]] | None = None,
) -> Iterator[LiveDaemon]:
    daemon = LiveDaemon(
        models,
        port if port is not None else free_port(),
        args=args,
        env=env or {},
        wrap=wrap or (lambda argv: argv),
    )
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.kill()


def _beat_rows(stage: str, heard: Heard, what: str = "the client") -> list[Row]:
    return [
        Row(
            stage,
            f"late bundles for {what}",
            f"{heard.late} of {heard.bundles}",
            "0",
            heard.late == 0,
        ),
        Row(
            stage,
            f"beats missing for {what}",
            f"{heard.gaps} of {heard.beats} (earliest arrival {_ms(heard.margin)} ahead)",
            "0",
            heard.gaps == 0 and heard.beats > 0,
        ),
    ]


def _crashed(daemon: LiveDaemon) -> int:
    """Signs of a crash in the daemon's stderr: a traceback (other text that is not one log line
    is two processes' lines run together, which is no crash)."""
    return sum("Traceback" in str(e.get("text", "")) for e in daemon.find("_text"))


_UNLIMITED_INPUT = {"METALOSC_INPUT_RATE": "1e9", "METALOSC_INPUT_BURST": "1000000000"}
"""The daemon's environment for stages that need every packet parsed (none shed)."""


# -- 1. fuzz -------------------------------------------------------------------------------------


def fuzz_stage(models: Path, packets: int, seeds: int = 300, timeout: float = 1800.0) -> list[Row]:
    """``packets`` grammar-aware and mutated packets (libFuzzer through atheris, seeded by
    hypothesis) from 127.0.0.2 at the daemon while a client on 127.0.0.1 plays. The per-peer
    input budget is lifted for this stage so that every packet is parsed (none shed)."""
    stage = "fuzz"
    env = _UNLIMITED_INPUT
    with tempfile.TemporaryDirectory(prefix="metalosc-fuzz-") as tmp, _daemon(models, env=env) as d:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        for k, packet in enumerate(hostile_packets(seeds, seed=1)):
            (corpus / f"seed-{k:05d}").write_bytes(packet)
        out = Path(tmp) / "result.json"
        listener = Listener(("127.0.0.1", d.port))
        time.sleep(1.0)
        started = time.time()
        fuzzer = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "metalosc.reliability._fuzz",
                "--server",
                f"127.0.0.1:{d.port}",
                "--runs",
                str(packets),
                "--corpus",
                str(corpus),
                "--out",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # a daemon that exits mid-run ends the run at once, with its last words for the table
        assert d.process is not None
        while fuzzer.poll() is None and d.process.poll() is None:
            if time.time() - started > timeout:
                break
            time.sleep(0.2)
        exited_early = "" if d.process.poll() is None else f"; exited: {d.tail(4)}"
        if fuzzer.poll() is None:
            fuzzer.terminate()
            fuzzer.wait(30)
        seconds = time.time() - started
        heard = listener.stop()
        alive = d.process is not None and d.process.poll() is None
        dropped = d.kernel_drops() if alive else 0
        counts = d.stop()
        exit_status = d.process.returncode if d.process is not None else None
        result = json.loads(out.read_text()) if out.exists() else {"sent": 0, "malformed": 0}
    sent, malformed = int(result["sent"]), int(result["malformed"])
    crashes = (0 if alive and exit_status == 0 else 1) + _crashed(d)
    return [
        Row(
            stage,
            "packets sent",
            f"{sent:,} in {seconds:.0f} s",
            f">= {packets:,}",
            sent >= packets,
        ),
        Row(stage, "daemon crashes", f"{crashes}{exited_early}"[:400], "0", crashes == 0),
        *_beat_rows(stage, heard),
        Row(
            stage,
            "malformed: counted by the daemon / refused by the decoder",
            f"{counts.get('packets_malformed', 0):,} / {malformed:,}",
            "equal",
            counts.get("packets_malformed", 0) == malformed and malformed > 0,
        ),
        Row(
            stage,
            "packets lost before the daemon: kernel drops / barrier timeouts",
            f"{dropped} / {result.get('barrier_timeouts', '?')}",
            "0 / 0",
            dropped == 0 and result.get("barrier_timeouts") == 0,
        ),
    ]


# -- 2. flood ------------------------------------------------------------------------------------


def _stops_the_transport(packet: bytes) -> bool:
    """Whether the daemon would accept ``packet`` and stop the transport for it."""
    return any(isinstance(message, Stop) for message in accepted_messages(packet))


def flood_stage(models: Path, peers: int = 4, seconds: float = 60.0) -> list[Row]:
    """``peers`` processes on their own loopback addresses flooding the daemon as fast as they
    can for ``seconds`` while a client plays, changes tension every 2 s and pings every 50 ms."""
    stage = "flood"
    # A valid /metal/stop from an allowlisted peer is obeyed, as it should be; the flood leaves
    # it out so that the client's beat is measured under load rather than stopped by request.
    packets = (
        [p for p in hostile_packets(200, seed=2) if not _stops_the_transport(p)]
        + [encode(Tension(value=v / 10)) for v in range(11)]
        + [encode(Ping(args=(7,))), encode(Subscribe(port=9))]
    )
    with _daemon(models) as d:
        listener = Listener(("127.0.0.1", d.port))
        time.sleep(1.0)
        rss: list[float] = [d.rss_mib()]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(1.0):
                rss.append(d.rss_mib())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        hosts = [f"127.0.0.{11 + k}" for k in range(peers)]
        flooders = Flooders(("127.0.0.1", d.port), hosts, packets, seconds)
        sent = flooders.join(timeout=seconds + 60)
        time.sleep(1.0)
        stop.set()
        sampler.join()
        heard = listener.stop()
        counts = d.stop()
    total = sum(sent)
    growth = max(rss) - rss[0]
    return [
        Row(
            stage, f"datagrams sent by {peers} peers in {seconds:g} s", f"{total:,}", "-", total > 0
        ),
        *_beat_rows(stage, heard),
        Row(
            stage,
            "client ping round trip p50 / p99 (to its socket)",
            f"{_ms(heard.ping_p(50))} / {_ms(heard.ping_p(99))}, {heard.lost} of "
            f"{heard.pings + heard.lost} lost",
            "reported",
            heard.pings > 0,
        ),
        Row(
            stage,
            "daemon RSS start -> max",
            f"{rss[0]:.0f} -> {max(rss):.0f} MiB",
            "+64 MiB at most",
            growth <= 64,
        ),
        Row(
            stage,
            "shed before parsing / received",
            f"{counts.get('packets_shed', 0):,} / {counts.get('packets_received', 0):,}",
            "> 0 (engaged)",
            counts.get("packets_shed", 0) > 0,
        ),
        Row(
            stage,
            "error replies suppressed / sent",
            f"{counts.get('error_replies_suppressed', 0):,} / "
            f"{counts.get('errors', 0) - counts.get('error_replies_suppressed', 0):,}",
            "> 0 (engaged)",
            counts.get("error_replies_suppressed", 0) > 0,
        ),
    ]


# -- 3. faults -----------------------------------------------------------------------------------


def _copy_models(models: Path, into: Path) -> Path:
    target = into / "models"
    shutil.copytree(models, target)
    return target


def faults_stage(models: Path, hang_timeout: float = 10.0) -> list[Row]:
    """SIGHUP with a corrupt bundle, a worker SIGKILLed, a worker that hangs (SIGSTOP), a
    subscriber that vanishes, and SIGKILL of the daemon and its restart — each with how long
    recovery took, and the beat as a client heard it meanwhile."""
    stage = "faults"
    rows: list[Row] = []
    env = {"METALOSC_DECODE_TIMEOUT": str(hang_timeout)}
    with tempfile.TemporaryDirectory(prefix="metalosc-faults-") as tmp:
        copy = _copy_models(models, Path(tmp))
        port = free_port()
        d = LiveDaemon(copy, port, env=env)
        try:
            d.start()
            listener = Listener(("127.0.0.1", port), tension_every=1.0)
            time.sleep(2.0)

            # a) SIGHUP with a corrupt bundle: refused, the old models play on
            manifest = copy / "guitar" / "manifest.json"
            good = manifest.read_bytes()
            manifest.write_text("{ not json")
            t0 = time.time()
            d.signal(signal.SIGHUP)
            failed = d.wait_for("models_reload_failed", timeout=120, since=t0)
            manifest.write_bytes(good)
            named = "manifest.json" in str(failed.get("error", ""))
            rows.append(
                Row(
                    stage,
                    "SIGHUP, corrupt bundle: refused (file named), old models kept",
                    f"refused in {failed['_at'] - t0:.2f} s",
                    "named; plays on",
                    named,
                )
            )
            t0 = time.time()
            d.signal(signal.SIGHUP)
            reloaded = d.wait_for("models_reloaded", timeout=300, since=t0)
            rows.append(
                Row(
                    stage,
                    "SIGHUP, bundle mended: reloaded",
                    f"{reloaded['_at'] - t0:.2f} s",
                    "-",
                    True,
                )
            )

            # b) a worker SIGKILLed
            t0 = time.time()
            drums = _live_worker(d, "drums", timeout=300)
            os.kill(drums, signal.SIGKILL)
            back = d.wait_for("model_worker_restarted", timeout=300, since=t0, instrument="drums")
            rows.append(
                Row(
                    stage,
                    "worker SIGKILLed: restarted (recovery)",
                    f"{back['_at'] - t0:.2f} s",
                    "restarted",
                    True,
                )
            )

            # c) a worker that hangs: stopped, so it never answers
            time.sleep(1.0)
            guitar = _live_worker(d, "guitar", timeout=300)
            t0 = time.time()
            os.kill(guitar, signal.SIGSTOP)
            back = d.wait_for(
                "model_worker_restarted", timeout=hang_timeout + 300, since=t0, instrument="guitar"
            )
            hung = d.find("model_worker_restarting", t0, instrument="guitar", fault="hung")
            rows.append(
                Row(
                    stage,
                    f"worker hangs: killed after {hang_timeout:g} s, restarted (recovery)",
                    f"{back['_at'] - t0:.2f} s",
                    "restarted",
                    bool(hung),
                )
            )

            # d) a subscriber whose port vanishes
            t0 = time.time()
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as gone:
                gone.bind(("127.0.0.1", 0))
                gone.sendto(encode(Subscribe()), ("127.0.0.1", port))
                time.sleep(0.5)
            t1 = time.time()
            dropped = d.wait_for("subscriber_gone", timeout=30, since=t0)
            time.sleep(2.0)
            spam = [e for e in d.find("subscriber_gone", t0) + d.find("udp_send_failed", t0)]
            rows.append(
                Row(
                    stage,
                    "subscriber vanishes: dropped, log lines about it",
                    f"{dropped['_at'] - t1:.2f} s, {len(spam)} line(s)",
                    "1 line",
                    len(spam) == 1,
                )
            )
            heard = listener.stop()
            rows += _beat_rows(stage, heard, "the client through a)-d)")
            rows.append(
                Row(
                    stage,
                    "longest silence between beats through a)-d)",
                    _ms(heard.longest_silence()),
                    "one beat at most",
                    heard.longest_silence() <= 60.0 / 120 + 0.01 and heard.restarts == 0,
                )
            )

            # e) SIGKILL of the daemon, and a restart
            listener = Listener(("127.0.0.1", port), tension_every=1.0)
            time.sleep(2.0)
            workers = [
                int(e["pid"]) for e in d.find("model_worker_started") if _alive(int(e["pid"]))
            ]
            t0 = time.time()
            d.kill()
            orphans_deadline = time.time() + 15
            while time.time() < orphans_deadline and any(_alive(p) for p in workers):
                time.sleep(0.1)
            orphans = sum(_alive(p) for p in workers)
            d = LiveDaemon(copy, port, env=env)
            d.start()
            time.sleep(3.0)
            heard = listener.stop()
            after = [t for t in heard.beat_times if t > t0]
            recovery = (after[0] - t0) if after else float("inf")
            rows.append(
                Row(
                    stage,
                    "daemon SIGKILLed and restarted: first beat after the kill",
                    f"{recovery:.2f} s, {orphans} orphan worker(s)",
                    "plays again; 0 orphans",
                    bool(after) and orphans == 0,
                )
            )
            rows.append(
                Row(
                    stage,
                    "late bundles across the restart",
                    f"{heard.late} of {heard.bundles}",
                    "0",
                    heard.late == 0,
                )
            )
            d.stop()
        finally:
            d.kill()
    return rows


def _live_worker(d: LiveDaemon, instrument: str, timeout: float) -> int:
    """The pid of ``instrument``'s running worker; waits (up to ``timeout`` seconds) while none
    runs, as during a restart. The newest one logged is not always it: a restart opens a full
    set of executors, as a reload would, and keeps only its instrument's. Raises
    :class:`DaemonError` when none runs by then."""
    deadline = time.time() + timeout
    while True:
        started = d.find("model_worker_started", worker=instrument)
        for event in reversed(started):
            if _alive(int(event["pid"])):
                return int(event["pid"])
        if time.time() >= deadline:
            workers = [
                {k: e.get(k) for k in ("event", "worker", "instrument", "pid", "fault", "reason")}
                for e in d.events_named("model_")
            ]
            raise DaemonError(
                f"no running {instrument} worker within {timeout} s; worker events: {workers[-12:]}"
            )
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


# -- 4. amplification ----------------------------------------------------------------------------


def amplification_stage(models: Path, hostile: int = 1000, rounds: int = 2) -> list[Row]:
    """A stranger probes every address and ``hostile`` malformed packets (``rounds`` times, so
    the later rounds meet spent error budgets): from a non-loopback peer in a test network
    namespace, from loopback, and from a peer outside the allowlist. The per-peer input budget is
    lifted, as for the fuzz stage: a request shed unparsed gets no reply at all, so it would
    understate the ratio (and a shed barrier would be taken for a lost one)."""
    stage = "amplification"
    packets = hostile_packets(hostile, seed=3)
    rows: list[Row] = []
    try:
        network = TestNetwork(peers=2)
        network.check()
    except NetworkUnavailableError as exc:
        return [Row(stage, "non-loopback peers (network namespaces)", str(exc), "available", False)]
    with network:
        allow = ["--host", "0.0.0.0", "--allow", "127.0.0.0/8", "--allow", network.subnet(0)]
        with _daemon(
            models, env=_UNLIMITED_INPUT, args=allow, wrap=lambda argv: run_in(network.server, argv)
        ) as d:
            for where, namespace, host, server in (
                (
                    "a peer on another host",
                    network.peer_names[0],
                    network.peer_address(0),
                    (network.server_address(0), d.port),
                ),
                ("loopback", network.server, "127.0.0.1", ("127.0.0.1", d.port)),
            ):
                stranger = socket_in(namespace)
                control = socket_in(namespace)
                stranger.bind((host, 0))
                control.bind((host, 0))
                with stranger, control:
                    result = probe(stranger, control, server, packets, rounds=rounds)
                rows.append(
                    Row(
                        stage,
                        f"worst reply/request, {where} ({result.requests:,} requests)",
                        f"{result.worst:.3f} ({result.worst_request or 'no reply at all'}), "
                        f"{result.barrier_timeouts} barrier timeout(s)"
                        + "".join(f", one after {what}" for what in result.timed_out_after),
                        "<= 1.0, 0 timeouts",
                        result.worst <= 1.0 and result.barrier_timeouts == 0,
                    )
                )
                rows.append(
                    Row(
                        stage,
                        f"all bytes back / all bytes sent, {where}",
                        f"{result.overall:.3f}",
                        "<= 1.0",
                        result.overall <= 1.0,
                    )
                )
                rows.append(
                    Row(
                        stage,
                        f"subscribing (an opt-in, not a reply to a stranger), {where}",
                        f"{result.subscribe_ratio:.2f}",
                        "reported",
                        True,
                    )
                )
            denied = socket_in(network.peer_names[1])
            denied.bind((network.peer_address(1), 0))
            denied.settimeout(0.0)
            outsider = [*packets[:200], encode(Ping()), encode(Subscribe())]
            with denied:
                for data in outsider:
                    denied.sendto(data, (network.server_address(1), d.port))
                time.sleep(1.0)
                back = 0
                while True:
                    try:
                        back += len(denied.recv(65536))
                    except (BlockingIOError, ConnectionRefusedError):
                        break
            counts = d.stop()
        rows.append(
            Row(
                stage,
                "peer outside the allowlist: bytes back / datagrams denied",
                f"{back} / {counts.get('packets_denied', 0)}",
                f"0 / all {len(outsider)}",
                back == 0 and counts.get("packets_denied", 0) == len(outsider),
            )
        )
    return rows


STAGES = {
    "fuzz": fuzz_stage,
    "flood": flood_stage,
    "faults": faults_stage,
    "amplification": amplification_stage,
}
"""The stages by name, in the order the suite runs them."""


def print_table(rows: Sequence[Row], out: TextIO = sys.stdout) -> None:
    """The rows as a Markdown table, a verdict per row."""
    print("| stage | measured | figure | bound | |", file=out)
    print("|---|---|---|---|---|", file=out)
    for row in rows:
        verdict = "ok" if row.ok else "FAIL"
        print(
            f"| {row.stage} | {row.measured} | {row.figure} | {row.bound} | {verdict} |", file=out
        )
