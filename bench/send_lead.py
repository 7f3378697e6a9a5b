"""Benchmark 2: how early note bundles leave, at 240 BPM with the tension changing every 100 ms.

Prints the distribution of the send lead (sound time minus send time, measured by the scheduler on
trio's clock) and of the arrival lead at a subscriber in another process (timetag minus arrival,
wall clock), plus late sends (lead < 0) and buffer underruns — both must be 0.
``--model-execution both`` (the default) runs each mode in a fresh process, back to back, and
prints them side by side with the ratio.

    .venv/bin/python bench/send_lead.py --models models/default --duration 60
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import trio
from _harness import (
    MODES,
    emit_result,
    load_average,
    percentiles,
    run_modes,
    side_by_side,
    start_server,
)
from metalosc.protocol import Bundle, Subscribe, Tension, decode_packet, encode


def subscriber(address: tuple[str, int], duration: float, out: Connection) -> None:
    """Child process: subscribe, then record timetag - arrival for every bundle."""
    leads: list[float] = []
    notes = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.5)
        sock.sendto(encode(Subscribe()), address)
        rng = np.random.default_rng(0)
        end = time.monotonic() + duration
        next_tension = time.monotonic()
        while time.monotonic() < end:
            if time.monotonic() >= next_tension:  # the game changes the tension every 100 ms
                sock.sendto(encode(Tension(value=float(rng.uniform()))), address)
                next_tension += 0.1
            try:
                data, _ = sock.recvfrom(65536)
            except TimeoutError:
                continue
            arrived = time.time()
            packet = decode_packet(data, outgoing=True)
            if isinstance(packet, Bundle) and packet.timetag is not None:
                leads.append(packet.timetag - arrived)
                notes += sum(m.address == "/metal/note" for m in packet.messages)
    out.send((leads, notes))


async def main(args: argparse.Namespace) -> None:
    async with trio.open_nursery() as nursery:
        server = await start_server(
            nursery,
            args.models,
            bpm=240.0,
            lookahead=args.lookahead,
            seed=0,
            model_execution=args.model_execution,
        )
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe(duplex=False)
        process = ctx.Process(target=subscriber, args=(server.address, args.duration, child))
        process.start()
        leads, notes = await trio.to_thread.run_sync(parent.recv)
        process.join()
        send_leads = list(server.metrics.leads)
        print(
            f"lookahead {args.lookahead * 1e3:.0f} ms, 240 BPM, {args.duration:.0f} s, "
            f"{notes} notes received"
        )
        print(f"send lead    {percentiles(send_leads, (0.1, 1, 50, 99))}")
        print(f"arrival lead {percentiles(leads, (0.1, 1, 50, 99))}")
        late_cues = [k for k, lead in enumerate(send_leads) if lead < 0]
        if late_cues:  # cue k sounds about k / cues-per-second into the run
            per_s = len(send_leads) / args.duration
            print("late cues at ~" + ", ".join(f"{k / per_s:.1f} s" for k in late_cues[:12]))
        late = server.metrics["late_sends"]
        underruns = {i: b.underruns for i, b in server.conductor.buffers.items()}
        print(
            f"late sends {late}, underruns {underruns}, silent phrases "
            f"{server.metrics['silent_bars']}"
        )
        ok = late == 0 and not any(underruns.values()) and min(leads, default=0) > 0
        print("PASS" if ok else "FAIL")
        print(load_average())
        emit_result(
            {
                "send_p0.1": float(np.percentile(send_leads, 0.1)) * 1e3,
                "send_min": min(send_leads) * 1e3,
                "arrival_p1": float(np.percentile(leads, 1)) * 1e3,
                "arrival_min": min(leads) * 1e3,
                "late_sends": float(late),
                "underruns": float(sum(underruns.values())),
                "notes": float(notes),
            }
        )
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=Path("models/default"))
    parser.add_argument("--duration", type=float, default=60.0, help="seconds (lead: 600)")
    parser.add_argument("--lookahead", type=float, default=0.15)
    parser.add_argument("--model-execution", choices=[*MODES, "both"], default="both")
    args = parser.parse_args()
    if args.model_execution != "both":
        trio.run(main, args)
    else:
        argv = ["--models", str(args.models), "--duration", str(args.duration)]
        argv += ["--lookahead", str(args.lookahead)]
        results = run_modes(__file__, argv, MODES)
        side_by_side(
            results,
            [
                ("send lead p0.1 (ms)", "send_p0.1"),
                ("send lead min (ms)", "send_min"),
                ("arrival lead p1 (ms)", "arrival_p1"),
                ("arrival lead min (ms)", "arrival_min"),
                ("late sends", "late_sends"),
                ("underruns", "underruns"),
                ("notes received", "notes"),
            ],
        )
