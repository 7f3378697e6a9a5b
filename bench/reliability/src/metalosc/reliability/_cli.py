"""``metalosc-reliability``: the suite in one command, a table at the end.

Exit status 0 when every figure meets its bound, 1 when one does not, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from ._suite import (
    STAGES,
    Row,
    amplification_stage,
    faults_stage,
    flood_stage,
    fuzz_stage,
    print_table,
)

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen stages (all by default) and print the table; see ``--help``."""
    parser = argparse.ArgumentParser(
        prog="metalosc-reliability",
        description="Try the live daemon as a hostile peer would: fuzz it, flood it, break it, "
        "and measure what it sends to strangers. Loopback and test network namespaces only "
        "(the namespaces need root and iproute2).",
    )
    parser.add_argument("--models", type=Path, default=Path("models/default"))
    parser.add_argument(
        "--stages", default=",".join(STAGES), help=f"comma-separated, of {', '.join(STAGES)}"
    )
    parser.add_argument("--fuzz-packets", type=int, default=1_000_000)
    parser.add_argument("--flood-peers", type=int, default=4)
    parser.add_argument("--flood-seconds", type=float, default=60.0)
    parser.add_argument("--hostile", type=int, default=1000, help="malformed packets probed")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="about a minute a stage: 20,000 fuzzed packets, "
        "a 10 s flood, 200 malformed packets probed",
    )
    args = parser.parse_args(argv)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = set(stages) - set(STAGES)
    if unknown:
        parser.error(f"unknown stages: {', '.join(sorted(unknown))}")
    if args.quick:
        args.fuzz_packets, args.flood_seconds, args.hostile = 20_000, 10.0, 200
    load = os.getloadavg()
    print(
        f"metalosc-reliability: {', '.join(stages)} on {args.models}; load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores",
        flush=True,
    )
    rows: list[Row] = []
    for stage in stages:
        started = time.time()
        print(f"== {stage}", flush=True)
        try:
            if stage == "fuzz":
                rows += fuzz_stage(args.models, args.fuzz_packets)
            elif stage == "flood":
                rows += flood_stage(args.models, args.flood_peers, args.flood_seconds)
            elif stage == "faults":
                rows += faults_stage(args.models)
            else:
                rows += amplification_stage(args.models, args.hostile)
        except Exception as exc:
            # one stage that breaks must not hide the others' figures: it fails its own row
            traceback.print_exc()
            rows.append(Row(stage, "the stage ran to its end", f"raised {exc!r}"[:300], "-", False))
        print(f"   {time.time() - started:.0f} s", flush=True)
    print_table(rows)
    return 0 if all(row.ok for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
