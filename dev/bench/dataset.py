#!/usr/bin/env python3
"""Memory of `netsensor dataset` on the benchmark capture: flat, or growing with the capture?

    dev/bench/dataset.py [--packets N] [--binary PATH] [--capture PATH]

Runs the release binary (`cargo build --release` first) on the benchmark capture of
dev/bench/make-capture.sh (>= 1 M packets, many distinct connections that follow one
another), writing into a temporary directory, and samples the process's resident set
(VmRSS in /proc) every 20 ms. A leak grows with the number of connections seen; bounded
memory stays flat once the table is warm. Prints the RSS at each tenth of the run, the
peak, the growth from the first half's peak to the second half's, the summary line, the
wall time and the export rate, and exits 1 when the second half's peak exceeds the first
half's by more than 25 %. Standard library only; not part of `make test`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=16)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    parser.add_argument("--binary", default=os.path.join(target, "release", "netsensor"))
    parser.add_argument("--capture", help="default: dev/bench/make-capture.sh's capture")
    args = parser.parse_args()
    capture = args.capture or subprocess.run(
        [os.path.join(HERE, "make-capture.sh")], check=True, capture_output=True, text=True
    ).stdout.split()[0]
    out_root = tempfile.mkdtemp(prefix="netsensor-dataset-bench-")
    try:
        out = os.path.join(out_root, "samples")
        command = [args.binary, "dataset", capture, "--out", out, "--packets", str(args.packets)]
        start = time.monotonic()
        proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        samples: list[tuple[float, int]] = []
        while proc.poll() is None:
            rss = rss_kib(proc.pid)
            if rss is not None:
                samples.append((time.monotonic() - start, rss))
            time.sleep(0.02)
        stderr = proc.stderr.read() if proc.stderr else ""
        wall = time.monotonic() - start
        if proc.returncode != 0 or not samples:
            print(f"netsensor dataset failed ({proc.returncode}): {stderr}", file=sys.stderr)
            return 1
        summary = next((l for l in stderr.splitlines() if l.startswith("dataset: ")), "")
        frames = int(summary.split()[1]) if summary else 0
        print(f"capture: {capture}")
        print(f"{summary}")
        print(f"wall {wall:.1f} s, {frames / wall:,.0f} frames/s, {len(samples)} RSS samples")
        print("RSS at each tenth of the run (MiB):")
        tenths = []
        for k in range(1, 11):
            upto = [rss for t, rss in samples if t <= wall * k / 10]
            tenths.append(max(upto) if upto else 0)
        print("  " + "  ".join(f"{v / 1024:.1f}" for v in tenths))
        half = [rss for t, rss in samples if t <= wall / 2]
        first = max(half) if half else samples[0][1]
        second = max(rss for t, rss in samples if t > wall / 2) if wall > 0 else first
        growth = (second - first) * 100.0 / first
        print(f"peak first half {first / 1024:.1f} MiB, second half {second / 1024:.1f} MiB "
              f"({growth:+.1f} %)")
        return 1 if growth > 25.0 else 0
    finally:
        shutil.rmtree(out_root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
