"""Benchmark 2: how early note bundles leave, at 240 BPM with the tension changing every 100 ms.

Prints the distribution of the send lead (sound time minus send time, measured by the scheduler on
trio's clock) and of the arrival lead at a subscriber in another process (timetag minus arrival,
wall clock), plus late sends (lead < 0) and buffer underruns — both must be 0.

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
from _harness import percentiles, start_server
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
            nursery, args.models, bpm=240.0, lookahead=args.lookahead, seed=0
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
        underruns = {i: b.underruns for i, b in server.buffers.items()}
        print(
            f"late sends {late}, underruns {underruns}, silent phrases "
            f"{server.metrics['silent_phrases']}"
        )
        ok = late == 0 and not any(underruns.values()) and min(leads, default=0) > 0
        print("PASS" if ok else "FAIL")
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=Path("models/default"))
    parser.add_argument("--duration", type=float, default=60.0, help="seconds (lead: 600)")
    parser.add_argument("--lookahead", type=float, default=0.15)
    trio.run(main, parser.parse_args())
