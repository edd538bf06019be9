"""Runs every benchmark, each in a fresh process, and prints one table of figures and targets.

    python3 tasks.py bench          (sets up .venv first; same as the line below)
    python bench/run_all.py [--quick]

`--quick` shrinks every size (for a smoke run; the figures are then not the targets' sizes).
Benchmarks print; they never fail a build on a slow machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import environment

FULL = [
    ("engine_throughput.py", []),
    ("telegram_e2e.py", []),
    ("memory.py", []),
    ("scheduler_claim.py", []),
    ("pg_claim.py", []),
    ("broadcast.py", []),
    ("template_bounds.py", []),
    ("replies.py", []),
    ("campaign.py", []),
]
QUICK = [
    (
        "engine_throughput.py",
        [
            *("--customers", "20000", "--messages", "2000"),
            *("--rate", "500", "--seconds", "1", "--repeats", "1"),
        ],
    ),
    ("telegram_e2e.py", ["--users", "100", "--rounds", "1"]),
    ("memory.py", ["--serve", "5000", "--small", "1000", "--large", "20000", "--messages", "2000"]),
    ("scheduler_claim.py", ["--pending", "50000", "--repeats", "2"]),
    ("pg_claim.py", ["--pending", "50000"]),
    ("broadcast.py", ["--customers", "90", "--repeats", "1"]),
    ("replies.py", ["--burst", "100", "--wave", "150"]),
    ("template_bounds.py", ["--repeats", "5"]),
    (
        "campaign.py",
        [
            *("--segment-customers", "50000", "--plan-customers", "10000"),
            *("--deliver-customers", "90", "--repeats", "1"),
        ],
    ),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    args = parser.parse_args()
    print(f"Escalator benchmarks — {environment()}")
    if args.quick:
        print("(--quick: small sizes, one run each; a smoke run, not the targets' figures)")
    print()
    print("| benchmark | figure | target | met | notes |")
    print("| --- | --- | --- | --- | --- |")
    failed = 0
    for script, extra in QUICK if args.quick else FULL:
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, str(HERE / script), *extra], capture_output=True, text=True
        )
        rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
        if result.returncode != 0 or not rows:
            failed += 1
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            print(f"| {script} | failed | | | {tail[0]} |")
            continue
        for row in rows:
            print(row, flush=True)
        print(f"<!-- {script}: {time.perf_counter() - started:.0f}s -->", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
