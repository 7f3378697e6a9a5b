"""Benchmark 1: /metal/ping -> /metal/pong round trip on loopback, idle and under decode load.

The daemon runs in this process (as deployed: the trio thread, and one worker process — or, with
``--model-execution thread``, one worker thread — per model); the pinging client runs in a separate
process, so it does not share our GIL. Target: p99 <= 2 ms while all three models decode
continuously. ``--model-execution both`` (the default) runs each mode in a fresh process, back to
back, and prints them side by side with the ratio.

Two round trips are reported per ping: *client*, from ``sendto`` until the pinger's
``recvmsg`` returns, and *to socket*, until the pong reached the pinger's socket (the kernel's
receive timestamp) — the daemon's part, without the pinger's own wake-up, which on a machine
whose cores all decode is an ordinary process waiting for a CPU like any other.
``--realtime-priority 0`` runs the daemon's event loop without SCHED_FIFO (the before);
``--model-backend tf`` decodes with the TF checkpoints instead of the ONNX decoders (the before);
``--model-backend both`` runs the process mode on each backend, each in a fresh interpreter,
alternating for ``--rounds`` rounds (which goes first alternates too), and compares the medians of
the rounds' p99s: the ONNX path's goal is a control path no slower than the TF path's, measured in
the same run;
``--client-realtime-priority N`` gives the pinger the priority a game's network thread would have.

    .venv/bin/python bench/ping_latency.py --models models/default --pings 2000
    .venv/bin/python bench/ping_latency.py --model-backend both --rounds 5 --pings 5000
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import struct
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import trio
from _harness import (
    MODES,
    decode_forever,
    emit_result,
    load_average,
    percentiles,
    run_modes,
    side_by_side,
    start_server,
)
from metalosc.protocol import Ping, decode_outgoing, encode_bundle
from metalosc.server import Settings

SO_TIMESTAMPNS = 35  # Linux; Python's socket module does not name it


def pinger(
    address: tuple[str, int], count: int, gap: float, priority: int, out: Connection
) -> None:
    """Child process: ``count`` pings, one at a time, each waiting for its pong; sends back the
    client round trips and the round trips to the socket (kernel receive timestamps).
    ``priority`` > 0 runs it under SCHED_FIFO, like a game's audio or network thread."""
    if priority > 0:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    client: list[float] = []
    to_socket: list[float] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.settimeout(2.0)
        for k in range(count):
            sent = time.time()
            # in an immediate bundle, as `metalosc ping` sends it: the daemon never answers a
            # peer that has not subscribed with more bytes than it sent
            sock.sendto(encode_bundle([Ping(args=(k,))], None), address)
            while True:
                data, ancillary, _, _ = sock.recvmsg(65536, 256)
                received = time.time()
                message = decode_outgoing(data)
                if getattr(message, "args", None) == (k,):
                    break
            arrived = received
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    seconds, nanoseconds = struct.unpack("qq", payload[:16])
                    arrived = seconds + nanoseconds * 1e-9
            client.append(received - sent)
            to_socket.append(arrived - sent)
            time.sleep(gap)
    out.send((client, to_socket))


async def measure(
    address: tuple[str, int], count: int, gap: float, priority: int = 0
) -> tuple[list[float], list[float]]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=pinger, args=(address, count, gap, priority, child))
    process.start()
    rtts: tuple[list[float], list[float]] = await trio.to_thread.run_sync(parent.recv)
    process.join()
    return rtts


async def main(args: argparse.Namespace) -> None:
    async with trio.open_nursery() as nursery:
        server = await start_server(
            nursery,
            args.models,
            autoplay=False,
            buffer_depth=args.buffer_depth,
            model_execution=args.model_execution,
            model_backend=args.model_backend,
            realtime_priority=args.realtime_priority,
        )
        ping_args = (server.address, args.pings, args.gap, args.client_realtime_priority)
        idle, idle_socket = await measure(*ping_args)
        print(f"idle            {percentiles(idle)}")
        print(f"  to socket     {percentiles(idle_socket)}")
        decoded_before = {i: r.phrases_decoded for i, r in server.runners.items()}
        started = trio.current_time()
        async with trio.open_nursery() as load:
            load.start_soon(decode_forever, server)
            await trio.sleep(1.0)  # let the decode loops get going
            loaded, loaded_socket = await measure(*ping_args)
            load.cancel_scope.cancel()
        elapsed = trio.current_time() - started
        rates = {
            i: (r.phrases_decoded - decoded_before[i]) / elapsed for i, r in server.runners.items()
        }
        print(f"decoding (3x)   {percentiles(loaded)}")
        print(f"  to socket     {percentiles(loaded_socket)}")
        print("decode load     " + " ".join(f"{i}={v:.1f} phrases/s" for i, v in rates.items()))
        for label, values in (("client", loaded), ("to socket", loaded_socket)):
            p99 = float(np.percentile(values, 99))
            verdict = "PASS" if p99 <= 0.002 else "FAIL"
            print(f"p99 under load, {label}: {p99 * 1e3:.3f} ms: {verdict} (<= 2 ms)")
        print(load_average())
        series = (
            ("idle", idle),
            ("load", loaded),
            ("idle_socket", idle_socket),
            ("load_socket", loaded_socket),
        )
        ms = {
            f"{name}_p{p}": float(np.percentile(v, p)) * 1e3 for name, v in series for p in (50, 99)
        }
        emit_result(
            {**ms, "load_max": max(loaded) * 1e3, **{f"{i}_rate": v for i, v in rates.items()}}
        )
        nursery.cancel_scope.cancel()


BACKEND_ROWS = (
    ("idle p99 to socket (ms)", "idle_socket_p99"),
    ("decoding p50 to socket (ms)", "load_socket_p50"),
    ("decoding p99 to socket (ms)", "load_socket_p99"),
    ("decoding p99 client (ms)", "load_p99"),
    ("phrases/s, all models", "rate"),
)


def compare_backends(argv: list[str], rounds: int) -> None:
    """``rounds`` alternating runs of each backend (worker processes), each in a fresh
    interpreter; prints every round, the medians and ONNX/TF, and whether the ONNX path's
    median p99 to the socket under load is no worse than the TF path's."""
    runs: dict[str, list[dict[str, float]]] = {"onnx": [], "tf": []}
    for r in range(rounds):
        order = ("onnx", "tf") if r % 2 == 0 else ("tf", "onnx")
        for backend, result in run_modes(__file__, argv, order, "--model-backend").items():
            rate = sum(result[f"{i}_rate"] for i in ("guitar", "bass", "drums"))
            runs[backend].append({**result, "rate": rate})
    width = 6 * rounds + 4
    print(f"\n{'':30}{'ONNX':>{width}}{'TF':>{width}}{'median ONNX/TF':>16}")
    medians: dict[str, dict[str, float]] = {b: {} for b in runs}
    for label, key in BACKEND_ROWS:
        cells = []
        for backend, results in runs.items():
            values = [res[key] for res in results]
            medians[backend][key] = float(np.median(values))
            cells.append(" ".join(f"{v:5.2f}" if key != "rate" else f"{v:5.0f}" for v in values))
        ratio = medians["onnx"][key] / medians["tf"][key]
        print(f"{label:30}{cells[0]:>{width}}{cells[1]:>{width}}{ratio:16.2f}")
    onnx, tf = medians["onnx"]["load_socket_p99"], medians["tf"]["load_socket_p99"]
    verdict = "PASS" if onnx <= tf else "FAIL"
    print(
        f"p99 to socket under load, median of {rounds}: ONNX {onnx:.3f} ms, TF {tf:.3f} ms: "
        f"{verdict} (ONNX no worse than TF)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=Path("models/default"))
    parser.add_argument("--pings", type=int, default=2000)
    parser.add_argument("--gap", type=float, default=0.002, help="seconds between pings")
    parser.add_argument("--buffer-depth", type=int, default=16)
    parser.add_argument("--model-execution", choices=[*MODES, "both"], default="both")
    parser.add_argument(
        "--model-backend",
        choices=["auto", "onnx", "tf", "both"],
        default="auto",
        help="decode with the bundles' ONNX decoders or their TF checkpoints (both: compare)",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds of --model-backend both"
    )
    parser.add_argument(
        "--realtime-priority",
        type=int,
        default=Settings.model_fields["realtime_priority"].default,
        help="SCHED_FIFO priority of the daemon's event loop (0 = off)",
    )
    parser.add_argument(
        "--client-realtime-priority",
        type=int,
        default=0,
        help="SCHED_FIFO priority of the pinging client (0 = an ordinary process)",
    )
    args = parser.parse_args()
    argv = ["--models", str(args.models), "--pings", str(args.pings), "--gap", str(args.gap)]
    argv += ["--buffer-depth", str(args.buffer_depth)]
    argv += ["--realtime-priority", str(args.realtime_priority)]
    argv += ["--client-realtime-priority", str(args.client_realtime_priority)]
    if args.model_backend == "both":
        compare_backends([*argv, "--model-execution", "process"], args.rounds)
    elif args.model_execution != "both":
        trio.run(main, args)
    else:
        argv += ["--model-backend", args.model_backend]
        results = run_modes(__file__, argv, MODES)
        side_by_side(
            results,
            [
                ("idle p50 (ms)", "idle_p50"),
                ("idle p99 (ms)", "idle_p99"),
                ("decoding p50 (ms)", "load_p50"),
                ("decoding p99 (ms)", "load_p99"),
                ("decoding p99 to socket (ms)", "load_socket_p99"),
                ("decoding max (ms)", "load_max"),
                ("guitar phrases/s", "guitar_rate"),
                ("bass phrases/s", "bass_rate"),
                ("drums phrases/s", "drums_rate"),
            ],
        )
