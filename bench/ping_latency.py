"""Benchmark 1: /metal/ping -> /metal/pong round trip on loopback, idle and under decode load.

The daemon runs in this process (as deployed: trio thread + one TF worker thread per model); the
pinging client runs in a separate process, so it does not share our GIL. Target: p99 <= 2 ms while
all three models decode continuously.

    .venv/bin/python bench/ping_latency.py --models models/default --pings 2000
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import time
from multiprocessing.connection import Connection
from pathlib import Path

import trio
from _harness import decode_forever, percentiles, start_server
from metalosc.protocol import Ping, decode_outgoing, encode


def pinger(address: tuple[str, int], count: int, gap: float, out: Connection) -> None:
    """Child process: ``count`` pings, one at a time, each waiting for its pong."""
    rtts: list[float] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2.0)
        for k in range(count):
            sent = time.perf_counter()
            sock.sendto(encode(Ping(args=(k,))), address)
            while True:
                data, _ = sock.recvfrom(65536)
                message = decode_outgoing(data)
                if getattr(message, "args", None) == (k,):
                    break
            rtts.append(time.perf_counter() - sent)
            time.sleep(gap)
    out.send(rtts)


async def measure(address: tuple[str, int], count: int, gap: float) -> list[float]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=pinger, args=(address, count, gap, child))
    process.start()
    rtts: list[float] = await trio.to_thread.run_sync(parent.recv)
    process.join()
    return rtts


async def main(args: argparse.Namespace) -> None:
    async with trio.open_nursery() as nursery:
        server = await start_server(
            nursery, args.models, autoplay=False, buffer_depth=args.buffer_depth
        )
        idle = await measure(server.address, args.pings, args.gap)
        print(f"idle            {percentiles(idle)}")
        decoded_before = {i: r.phrases_decoded for i, r in server.runners.items()}
        started = trio.current_time()
        async with trio.open_nursery() as load:
            load.start_soon(decode_forever, server)
            await trio.sleep(1.0)  # let the decode loops get going
            loaded = await measure(server.address, args.pings, args.gap)
            load.cancel_scope.cancel()
        elapsed = trio.current_time() - started
        rates = {
            i: (r.phrases_decoded - decoded_before[i]) / elapsed for i, r in server.runners.items()
        }
        print(f"decoding (3x)   {percentiles(loaded)}")
        print("decode load     " + " ".join(f"{i}={v:.1f} phrases/s" for i, v in rates.items()))
        p99 = sorted(loaded)[int(0.99 * (len(loaded) - 1))]
        print(f"p99 under load {p99 * 1e3:.3f} ms: {'PASS' if p99 <= 0.002 else 'FAIL'} (<= 2 ms)")
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=Path("models/default"))
    parser.add_argument("--pings", type=int, default=2000)
    parser.add_argument("--gap", type=float, default=0.002, help="seconds between pings")
    parser.add_argument("--buffer-depth", type=int, default=16)
    trio.run(main, parser.parse_args())
