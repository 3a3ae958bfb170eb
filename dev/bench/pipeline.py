#!/usr/bin/env python3
"""Whole-pipeline benchmark: `netsensor replay --speed max` against three references.

    dev/bench/pipeline.py [--packets N] [--tshark-packets N] [--runs N] [--no-doc]

On the benchmark capture that dev/bench/make-capture.sh builds (>= 1 M real packets with
rewritten addresses and ports; cached, never committed), one run measures

    netsensor replay --speed max --out /dev/null FILE     ECS NDJSON, GeoIP on when installed
    tshark -n -T ek -r FILE                                per-packet JSON, the nearest peer
    tcpdump -nr FILE                                       one text line per packet
    tcpdump -r FILE -w /dev/null                           libpcap's bare read rate: the ceiling

each under /usr/bin/time (wall time, user+sys CPU, peak RSS), with stdout to /dev/null. The
output's size comes from one more, untimed run per command whose stdout is counted (the
output is deterministic). tshark reads only the first --tshark-packets packets (default
100 000; at ~5 k packets/s the whole file would take minutes); the table says so.

Then, unless --skip-workers, `netsensor replay --workers N` for N in --workers (default 1,2),
flows only and full records (block `workers` in its own section; --workers-only runs just
that). Then, unless --skip-flows, flow-only mode next to softflowd and argus on the same capture
(dev/bench/flows.py, block `bench:flows`).

Prints the table and netsensor's ratio to each reference, and rewrites the generated part of
docs/benchmarks.md (between the `bench:pipeline` markers) with the table, the machine's
description and the load average; with criterion results under $CARGO_TARGET_DIR/criterion
(`cargo bench -p netsensor --bench packet`) also the per-packet table (`bench:criterion`).

Environment: NETSENSOR_BIN (default $CARGO_TARGET_DIR/release/netsensor), CARGO_TARGET_DIR,
NETSENSOR_GEO_DIR (default <repo>/.cache/geo), NETSENSOR_BENCH_CACHE (see make-capture.sh).
Needs: python3, /usr/bin/time (Debian package `time`), tshark, tcpdump, and what
make-capture.sh needs. Standard library only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TIME = "/usr/bin/time"


def die(message: str) -> "NoReturn":  # type: ignore[name-defined]  # noqa: F821
    sys.exit(f"pipeline.py: {message}")


def log(message: str) -> None:
    print(f"pipeline.py: {message}", file=sys.stderr, flush=True)


@dataclass
class Run:
    """One timed run."""

    wall: float
    user: float
    sys: float
    rss_kb: int
    stderr: str

    @property
    def cpu(self) -> float:
        return self.user + self.sys


@dataclass
class Tool:
    """One benchmarked command and its measurements."""

    name: str
    timed: list[str]  # argv whose stdout goes to /dev/null
    counted: list[str]  # argv whose stdout is the output to count
    input_path: Path
    packets: int
    runs: list[Run] = field(default_factory=list)
    out_bytes: int = 0
    note: str = ""
    processed: int | None = None  # packets the tool says it processed, when it says

    def median(self) -> Run:
        ordered = sorted(self.runs, key=lambda r: r.wall)
        return ordered[len(ordered) // 2]

    def pps(self) -> float:
        return self.packets / self.median().wall

    def pps_cpu(self) -> float | None:
        """Packets per CPU-second; None when the CPU time is below /usr/bin/time's 10 ms."""
        cpu = self.median().cpu
        return self.packets / cpu if cpu >= 0.01 else None


def command_output(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def wait_for_quiet(max_load: float, wait: float) -> float:
    """Waits (up to `wait` s) until the 1-minute load average is below `max_load`."""
    deadline = time.monotonic() + wait
    load = os.getloadavg()[0]
    announced = False
    while load > max_load and time.monotonic() < deadline:
        if not announced:
            log(f"load average {load:.2f} > {max_load}: waiting up to {wait:.0f} s for a quiet machine")
            announced = True
        time.sleep(5)
        load = os.getloadavg()[0]
    if load > max_load:
        log(f"load average still {load:.2f}: measuring anyway (the document records it)")
    return load


def timed_run(argv: list[str]) -> Run:
    with tempfile.NamedTemporaryFile("r", suffix=".time") as times:
        proc = subprocess.run(
            [TIME, "-f", "%e %U %S %M", "-o", times.name, *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            die(f"{' '.join(argv)} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        fields = times.read().split()
    wall, user, system, rss = fields[-4:]
    return Run(float(wall), float(user), float(system), int(rss), proc.stderr)


def count_output(argv: list[str]) -> int:
    total = 0
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        while chunk := proc.stdout.read(1 << 20):
            total += len(chunk)
    if proc.returncode != 0:
        die(f"{' '.join(argv)} failed (exit {proc.returncode}) while counting its output")
    return total


def capture_packets(path: Path) -> int:
    out = command_output(["capinfos", "-M", "-T", "-r", "-c", str(path)])
    try:
        return int(out.split("\t")[-1])
    except ValueError:
        die(f"cannot count the packets of {path}: {out!r}")


def geo_yaml() -> tuple[str, str]:
    """The `enrichment:` YAML for whichever default GeoIP databases are installed (empty
    when none are), and a phrase saying which."""
    geo = Path(os.environ.get("NETSENSOR_GEO_DIR", REPO / ".cache/geo"))
    lines = []
    found = []
    for key, name in [("country", "country.mmdb"), ("city", "city.mmdb"), ("asn", "asn.mmdb")]:
        if (geo / name).is_file():
            lines.append(f"    {key}_database: {json.dumps(str(geo / name))}")
            found.append(name)
    text = "enrichment:\n  geoip:\n" + "\n".join(lines) + "\n" if lines else ""
    what = f"GeoIP: {', '.join(found)} from `make geo`" if found else "GeoIP: none installed"
    return text, what


def geo_config(directory: Path) -> tuple[Path, str]:
    """A replay config with whichever default GeoIP databases are installed."""
    geo, what = geo_yaml()
    config = directory / "bench.yaml"
    config.write_text("sensor: { name: bench }\nrecords: [packet]\nlisteners: { metrics: null }\n" + geo)
    return config, what


def machine() -> dict[str, str]:
    lscpu = command_output(["lscpu"])

    def cpu_field(name: str) -> str:
        match = re.search(rf"^{name}:\s*(.+)$", lscpu, re.M)
        return match.group(1).strip() if match else "?"

    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    hypervisor = cpu_field("Hypervisor vendor")
    threads = cpu_field(r"Thread\(s\) per core")
    return {
        "cpu": cpu_field("Model name"),
        "cores": f"{os.cpu_count()} logical CPUs ({threads} thread(s) per core)"
        + (f", virtual machine ({hypervisor})" if hypervisor != "?" else ""),
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "kernel": f"{platform.system()} {platform.release()}",
        "rustc": command_output(["rustc", "--version"]) or "?",
        "tshark": (command_output(["tshark", "--version"]).splitlines() or ["?"])[0],
        "tcpdump": " / ".join(command_output(["tcpdump", "--version"]).splitlines()[:2]) or "?",
        "commit": (command_output(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]) or "?")
        + (" with uncommitted changes"
           if command_output(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"])
           else ""),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def fmt_int(value: float) -> str:
    return f"{value:,.0f}".replace(",", " ")


def fmt_opt(value: float | None) -> str:
    return "n/a" if value is None else fmt_int(value)


def table(tools: list[Tool]) -> list[str]:
    rows = [
        "| command | packets | wall s | packets/s | CPU s (user+sys) | CPU % | packets per CPU-s "
        "| output B/packet | output MB/s | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in tools:
        r = t.median()
        rows.append(
            f"| {t.name}{t.note} | {fmt_int(t.packets)} | {r.wall:.2f} | {fmt_int(t.pps())} "
            f"| {r.user:.2f}+{r.sys:.2f} | {100 * r.cpu / max(r.wall, 1e-9):.0f} "
            f"| {fmt_opt(t.pps_cpu())} | {t.out_bytes / t.packets:.0f} "
            f"| {t.out_bytes / t.packets * t.pps() / 1e6:.1f} | {r.rss_kb / 1024:.1f} |"
        )
    return rows


def ratios(tools: list[Tool]) -> list[str]:
    ours = tools[0]
    lines = []
    for ref in tools[1:]:
        line = f"- netsensor / {ref.name}: {ours.pps() / ref.pps():.2f}x packets/s"
        a, b = ours.pps_cpu(), ref.pps_cpu()
        if a is not None and b is not None:
            line += f", {a / b:.2f}x packets per CPU-second"
        lines.append(line)
    return lines


def prepare_capture(packets: int, sample: int) -> tuple[Path, Path | None]:
    """The benchmark capture (and its first `sample` packets when sample > 0), built or
    found by make-capture.sh and read once into the page cache."""
    made = subprocess.run(
        [str(REPO / "dev/bench/make-capture.sh"), "--packets", str(packets),
         "--sample", str(sample)],
        stdout=subprocess.PIPE, text=True, check=False,
    )
    if made.returncode != 0:
        die("make-capture.sh failed")
    paths = [Path(p) for p in made.stdout.split()]
    if len(paths) != (2 if sample else 1):
        die(f"make-capture.sh printed {made.stdout!r}")
    for path in paths:
        prepare_cache(path)
    return paths[0], (paths[1] if sample else None)


def prepare_cache(path: Path) -> None:
    """Reads a file into the page cache, so every command reads it from memory."""
    with path.open("rb") as f:
        while f.read(1 << 24):
            pass


def criterion_rows(target: Path) -> list[str]:
    """Per-packet ns from criterion's estimates, when `cargo bench` has run."""
    base = target / "criterion"
    rows = []
    for group in ["decode", "decode_enrich_serialize", "decode_enrich_serialize_without_geoip"]:
        for bench in sorted((base / group).glob("*/new/estimates.json")):
            info = json.loads((bench.parent / "benchmark.json").read_text())
            packets = (info.get("throughput") or {}).get("Elements")
            if not packets:
                continue
            est = json.loads(bench.read_text())
            ns = est["mean"]["point_estimate"] / packets
            lo = est["mean"]["confidence_interval"]["lower_bound"] / packets
            hi = est["mean"]["confidence_interval"]["upper_bound"] / packets
            rows.append(
                f"| {group} | {info.get('function_id', bench.parent.parent.name)} | {packets} "
                f"| {ns:.0f} ({lo:.0f}-{hi:.0f}) | {fmt_int(1e9 / ns)} |"
            )
    if not rows:
        return []
    return [
        "| bench | capture | packets | ns per packet (95% CI) | packets/s on one core |",
        "|---|---|---:|---:|---:|",
        *rows,
    ]


def replace_block(text: str, name: str, body: list[str]) -> str:
    begin, end = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
    block = "\n".join([begin, *body, end])
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text)
    return text.rstrip("\n") + "\n\n" + block + "\n"


WORKER_MODES = [
    # (label, --records): flows only takes the headers-only path; full builds every record.
    ("flows only (`--records flow`)", "flow"),
    ("full records (`--records packet,flow,rollup`)", "packet,flow,rollup"),
]


def workers_run(binary: Path, config: Path, capture: Path, packets: int, runs: int,
                counts: list[int], max_load: float, wait: float) -> list[str]:
    """`netsensor replay --workers N` on the benchmark capture for each mode and N; the
    table rows for docs/benchmarks.md (block `workers`)."""
    rows = [
        "| records | workers | wall s | packets/s | speed-up | CPU s (user+sys) | CPU % | peak RSS MB | load avg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, records in WORKER_MODES:
        base = None
        for n in counts:
            load = wait_for_quiet(max_load, wait)
            argv = [str(binary), "replay", "--config", str(config), "--speed", "max",
                    "--no-progress", "--records", records, "--workers", str(n),
                    "--out", "/dev/null", str(capture)]
            measured = []
            for i in range(runs):
                log(f"replay --records {records} --workers {n}: run {i + 1}/{runs}")
                measured.append(timed_run(argv))
            r = sorted(measured, key=lambda x: x.wall)[len(measured) // 2]
            pps = packets / r.wall
            base = base or pps
            rows.append(
                f"| {label} | {n} | {r.wall:.2f} | {fmt_int(pps)} | {pps / base:.2f}x "
                f"| {r.user:.2f}+{r.sys:.2f} | {100 * r.cpu / r.wall:.0f}% | {r.rss_kb / 1024:.0f} "
                f"| {load:.2f} |"
            )
    return rows


def write_workers_block(doc: Path, body: list[str]) -> None:
    """Rewrites the `workers` block of docs/benchmarks.md, appending its section when the
    page has none yet."""
    begin, end = "<!-- workers:begin -->", "<!-- workers:end -->"
    text = doc.read_text() if doc.is_file() else "# Benchmarks\n"
    block = "\n".join([begin, *body, end])
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n## Multi-worker replay (issue 10)\n\n" + block + "\n"
    doc.write_text(text)


def workers_body(m: dict[str, str], packets: int, capture: Path, runs: int, rows: list[str],
                 geo_what: str) -> list[str]:
    return [
        "",
        f"Measured {m['date']} by `dev/bench/pipeline.py` (`--workers-only` runs just this): "
        f"`netsensor replay --speed max --out /dev/null --workers N` on the benchmark capture "
        f"({fmt_int(packets)} packets, `{capture.name}`, page cache), median of {runs} run(s); "
        f"netsensor with {geo_where(geo_what)}. The reading thread decodes each frame's key and "
        "dispatches it to its flow's worker; every worker builds its own records and one "
        "output thread writes them (docs/pipeline.md). CPU % is of one core; the load average "
        "(1 min) is the machine's before each command (other work shares its 2 cores).",
        "",
        f"- Machine: {m['cpu']}, {m['cores']}, {m['memory']} RAM; {m['kernel']}; "
        f"commit {m['commit']}",
        "",
        *rows,
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--tshark-packets", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each fast command")
    parser.add_argument("--max-load", type=float, default=0.5)
    parser.add_argument("--wait", type=float, default=300, help="seconds to wait for the load")
    parser.add_argument("--doc", type=Path, default=REPO / "docs/benchmarks.md")
    parser.add_argument("--no-doc", action="store_true")
    parser.add_argument("--skip-flows", action="store_true",
                        help="leave out flow-only mode (dev/bench/flows.py)")
    parser.add_argument("--workers", default="1,2",
                        help="worker counts of the multi-worker replay (block `workers`)")
    parser.add_argument("--skip-workers", action="store_true",
                        help="leave out the multi-worker replay")
    parser.add_argument("--workers-only", action="store_true",
                        help="run only the multi-worker replay")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",") if n.strip()]

    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    binary = Path(os.environ.get("NETSENSOR_BIN", target / "release/netsensor"))
    if not binary.is_file():
        die(f"{binary} is missing: run `make release` (or set NETSENSOR_BIN)")
    for tool in [TIME, "tshark", "tcpdump", "capinfos"]:
        if not shutil.which(tool):
            die(f"{tool} is required (apt-get install time tshark tcpdump)")

    if args.workers_only:
        capture, _ = prepare_capture(args.packets, 0)
        packets = capture_packets(capture)
        work = Path(tempfile.mkdtemp(prefix="netsensor-bench-"))
        try:
            config, geo_what = geo_config(work)
            rows = workers_run(binary, config, capture, packets, args.runs, counts,
                               args.max_load, args.wait)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print("\n".join(rows))
        if not args.no_doc:
            write_workers_block(args.doc, workers_body(machine(), packets, capture, args.runs,
                                                       rows, geo_what))
            log(f"wrote {args.doc}")
        return

    capture, sample = prepare_capture(args.packets, args.tshark_packets)
    assert sample is not None
    packets = capture_packets(capture)
    sample_packets = capture_packets(sample)
    size = capture.stat().st_size
    log(f"capture {capture}: {packets} packets, {size / 1e6:.0f} MB; tshark sample: {sample_packets}")

    work = Path(tempfile.mkdtemp(prefix="netsensor-bench-"))
    try:
        config, geo_what = geo_config(work)
        ns = [str(binary), "replay", "--config", str(config), "--speed", "max", "--no-progress"]
        tools = [
            Tool("`netsensor replay --speed max`", [*ns, "--out", "/dev/null", str(capture)],
                 [*ns, "--out", "-", str(capture)], capture, packets),
            Tool("`tshark -n -T ek -r`", ["tshark", "-n", "-T", "ek", "-r", str(sample)],
                 ["tshark", "-n", "-T", "ek", "-r", str(sample)], sample, sample_packets,
                 note=f" (first {fmt_int(sample_packets)} packets)"),
            Tool("`tcpdump -nr`", ["tcpdump", "-nr", str(capture)],
                 ["tcpdump", "-nr", str(capture)], capture, packets),
            Tool("`tcpdump -r FILE -w /dev/null`",
                 ["tcpdump", "-r", str(capture), "-w", "/dev/null"],
                 ["tcpdump", "-r", str(capture), "-w", "-"], capture, packets),
        ]
        loads = [wait_for_quiet(args.max_load, args.wait)]
        for t in tools:
            runs = 1 if t.name.startswith("`tshark") else args.runs
            for i in range(runs):
                log(f"{t.name}: run {i + 1}/{runs}")
                t.runs.append(timed_run(t.timed))
            t.out_bytes = count_output(t.counted)
            loads.append(os.getloadavg()[0])
        worker_rows = None
        if not args.skip_workers:
            worker_rows = workers_run(binary, config, capture, packets, args.runs, counts,
                                      args.max_load, args.wait)
            print("\n".join(worker_rows))
        ours = tools[0]
        done = re.search(r"packets=(\d+) records=(\d+)", ours.median().stderr)
        processed, records = (int(done.group(1)), int(done.group(2))) if done else (None, None)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    m = machine()
    r = ours.median()
    summary = [
        f"netsensor: {fmt_int(ours.pps())} packets/s, "
        + (f"{fmt_int(records / r.wall)} records/s, " if records is not None else "")
        + (f"drops {packets - processed} (replay never drops; packets read {processed} of {packets}), "
           if processed is not None else "")
        + f"CPU {r.user:.2f} s user + {r.sys:.2f} s sys ({100 * r.cpu / r.wall:.0f}% of one core), "
        f"peak RSS {r.rss_kb / 1024:.1f} MB, {ours.out_bytes / packets:.0f} bytes of JSON per packet "
        f"({ours.out_bytes / packets * ours.pps() / 1e6:.1f} MB/s); {geo_what}",
    ]
    rows = table(tools)
    print("\n".join(rows))
    print()
    print("\n".join(ratios(tools)))
    print()
    print(summary[0])

    flows_body = None
    if not args.skip_flows:
        import flows  # the sibling dev/bench/flows.py, which imports this file

        print()
        load = wait_for_quiet(args.max_load, args.wait)
        log(f"flow-only mode (dev/bench/flows.py), load average {load:.2f}")
        flows_body = flows.run(binary, capture, packets, args.runs, m)

    if args.no_doc:
        return
    body = [
        "",
        f"Measured {m['date']} by `dev/bench/pipeline.py`: the median of {args.runs} run(s) of "
        "each command, one of tshark. CPU % is of one core (200% = both cores of this machine).",
        "",
        f"- Machine: {m['cpu']}, {m['cores']}, {m['memory']} RAM; {m['kernel']}",
        f"- netsensor: release build of commit {m['commit']}; {m['rustc']}",
        f"- References: {m['tshark']}; {m['tcpdump']}",
        f"- Load average (1 min) at the start: {loads[0]:.2f}; after each command: "
        + ", ".join(f"{x:.2f}" for x in loads[1:]),
        f"- Capture: {fmt_int(packets)} packets, {size / 1e6:.0f} MB "
        f"(`dev/bench/make-capture.sh`, `{capture.name}`), read from the page cache; "
        f"netsensor with {geo_where(geo_what)}",
        "",
        *rows,
        "",
        *ratios(tools),
        "",
        f"- {summary[0]}",
        "",
    ]
    text = args.doc.read_text() if args.doc.is_file() else "# Benchmarks\n"
    text = replace_block(text, "pipeline", body)
    if flows_body is not None:
        text = replace_block(text, "flows", flows_body)
    crit = criterion_rows(target)
    if crit:
        text = replace_block(text, "criterion", ["", *crit, ""])
    args.doc.write_text(text)
    if worker_rows is not None:
        write_workers_block(args.doc, workers_body(m, packets, capture, args.runs, worker_rows,
                                                   geo_what))
    log(f"wrote {args.doc}")


def geo_where(what: str) -> str:
    return what.replace("GeoIP: ", "GeoIP ")


if __name__ == "__main__":
    main()
