#!/usr/bin/env python3
"""Flow-only benchmark: netsensor's flow records next to softflowd and argus, and the flow
table's memory per flow.

    dev/bench/flows.py [--packets N] [--runs N] [--max-load L] [--sample N] [--no-callgrind]
                       [--no-doc]

`dev/bench/pipeline.py` runs this too (after the per-packet commands, on the same capture,
in the same run; `--skip-flows` leaves it out). On the benchmark capture of
dev/bench/make-capture.sh it measures, each under /usr/bin/time with output to /dev/null:

    netsensor replay --records flow --out /dev/null FILE          per-packet records off
    netsensor replay --records flow,rollup --out /dev/null FILE
    softflowd -r FILE -n 127.0.0.1:9 -v 9 -d -c none              NetFlow v9 to the discard
                                                                  port on loopback
    argus -X -r FILE -w /dev/null                                 argus' binary records

and prints packets/s, CPU, peak RSS, flow records and netsensor's ratios to the two
exporters. Wall-clock rates on a shared machine move with its load; so the same three
commands also run under `valgrind --tool=callgrind --separate-threads=yes` on the first
`--sample` packets (default 100 000; cut with editcap and cached next to the capture), and
their instruction counts — total and busiest thread, per packet — are exact and repeatable
(`--no-callgrind` leaves this out; without valgrind the section says so). Then the flow
table's memory:

- the slab slot sizes (IPv4, IPv6), `FlowTable::bytes_per_slot()`, from the unit test that
  prints them;
- the peak number of flows held at once, P: the smallest `flows.max_flows` cap with which
  the replay evicts nothing (the table only evicts to make room for a new flow, so a cap
  below the peak must evict and one at or above it cannot). With the default 30 s idle
  timeout the capture holds only a few hundred flows at once (its fixtures follow one
  another), so the memory is measured on an overlaid copy of it (`overlap_capture`: the
  capture cut into 128 parts that all start at the same time; the parts' addresses differ)
  with idle and active timeouts of a day;
- the resident set while the replay still reads the file (sampled from /proc every 2 ms; the
  end-of-input flush of every held flow would otherwise dominate the peak), with the
  default cap minus with `max_flows: 1`, over P; and the marginal cost between caps of C/2
  and C (both 7/8 of a power of two, where the map ends exactly full; both below P).

Writes the results between the `bench:flows` markers of docs/benchmarks.md.
Needs what pipeline.py needs, plus softflowd, argus (argus-server) and ra (argus-client) for
argus' record count; a missing exporter's row says so. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pipeline as pl  # noqa: E402  (the sibling script: capture, timing, machine, doc helpers)

REPO = pl.REPO
# netsensor's default `flows.max_flows` (sensor/src/config/raw.rs).
DEFAULT_MAX_FLOWS = 262_144
# Parts of the capture overlaid in time for the memory measurement.
OVERLAP_CHUNKS = 128
SLOT_TEST = "records::flow::table::tests::a_flow_slot_stays_well_under_200_bytes"
# Packets of the capture that run under callgrind.
DEFAULT_SAMPLE = 100_000


@dataclass
class Row:
    """One benchmarked exporter."""

    tool: pl.Tool
    records: int | None = None  # flow records it wrote
    missing: str = ""  # why there is no measurement


def package_version(name: str) -> str:
    out = pl.command_output(["dpkg-query", "-W", "-f", "${Version}", name])
    return f"{name} {out}" if out else f"{name} (not installed)"


def flow_config(directory: Path, max_flows: int | None, geo: str, hold: bool = False) -> Path:
    """A replay config with no listeners, the default GeoIP, an optional flow cap and, with
    `hold`, the longest idle and active timeouts (a day), so that flows pile up."""
    config = directory / f"flows-{max_flows or 'default'}{'-hold' if hold else ''}.yaml"
    text = "sensor: { name: bench }\nlisteners: { metrics: null, query: null }\n" + geo
    settings = [f"max_flows: {max_flows}"] if max_flows else []
    if hold:
        settings += ["idle_timeout_secs: 86400", "active_timeout_secs: 86400"]
    if settings:
        text += f"flows: {{ {', '.join(settings)} }}\n"
    config.write_text(text)
    return config


def netsensor_argv(binary: Path, config: Path, kinds: str, out: str, capture: Path) -> list[str]:
    return [str(binary), "replay", "--config", str(config), "--records", kinds,
            "--speed", "max", "--no-progress", "--out", out, str(capture)]


def records_from_stderr(stderr: str) -> int | None:
    done = re.search(r"packets=(\d+) records=(\d+)", stderr)
    return int(done.group(2)) if done else None


def count_evicted(argv: list[str]) -> tuple[int, int]:
    """Runs a replay writing NDJSON to stdout; returns (records, records ended by eviction)."""
    needle = b'"end_reason":"evicted"'
    lines = evicted = 0
    tail = b""
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        while chunk := proc.stdout.read(1 << 20):
            lines += chunk.count(b"\n")
            joined = tail + chunk
            evicted += joined.count(needle) - tail.count(needle)
            tail = joined[-(len(needle) - 1):]
    if proc.returncode != 0:
        pl.die(f"{' '.join(argv)} failed (exit {proc.returncode})")
    return lines, evicted


def peak_flows(binary: Path, work: Path, geo: str, capture: Path, hold: bool) -> int | None:
    """The peak number of flows held at once: the smallest cap that evicts nothing (None:
    more than the default cap). Doubles a cap from 256 until nothing is evicted, then
    bisects."""

    def evicts(cap: int) -> bool:
        argv = netsensor_argv(binary, flow_config(work, cap, geo, hold), "flow", "-", capture)
        records, evicted = count_evicted(argv)
        pl.log(f"max_flows {cap}{' (timeouts 1 day)' if hold else ''}: {records} flow records, "
               f"{evicted} evicted")
        return evicted > 0

    lo, hi = 0, 256  # evicts(lo) holds by definition
    while evicts(hi):
        if hi >= DEFAULT_MAX_FLOWS:
            return None
        lo, hi = hi, min(hi * 2, DEFAULT_MAX_FLOWS)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if evicts(mid):
            lo = mid
        else:
            hi = mid
    return hi


def overlap_capture(capture: Path, chunks: int) -> Path:
    """The benchmark capture cut into `chunks` runs of packets, each moved to start at the
    same time and merged in time order: the same packets and flows, but with the copies'
    flows (distinct addresses) open at once, as on a busy link. Cached next to the capture."""
    out = capture.with_name(f"{capture.stem}-overlap{chunks}.pcap")
    if out.is_file() and out.stat().st_mtime >= capture.stat().st_mtime:
        return out
    pl.log(f"building {out.name}: {chunks} parts of the capture moved to start together")
    packets = pl.capture_packets(capture)
    with tempfile.TemporaryDirectory(dir=capture.parent) as tmp:
        work = Path(tmp)
        subprocess.run(["editcap", "-F", "pcap", "-c", str(-(-packets // chunks)), str(capture),
                        str(work / "part.pcap")], check=True, stdout=subprocess.DEVNULL)
        parts = sorted(work.glob("part*.pcap"))
        shifted = []
        for i, part in enumerate(parts):
            first = pl.command_output(["capinfos", "-M", "-T", "-r", "-a", "-S", str(part)])
            start = float(first.split("\t")[-1])
            moved = work / f"moved-{i:05d}.pcap"
            subprocess.run(["editcap", "-F", "pcap", "-t", f"{1_700_000_000 - start:.6f}",
                            str(part), str(moved)], check=True, stdout=subprocess.DEVNULL)
            part.unlink()
            shifted.append(str(moved))
        subprocess.run(["mergecap", "-F", "pcap", "-w", str(work / "merged.pcap"), *shifted],
                       check=True)
        (work / "merged.pcap").rename(out)
    return out


def slot_bytes() -> int | None:
    """The IPv4 slot of `FlowTable::bytes_per_slot()`, printed by its unit test (debug
    build; same layout). The benchmark capture's flows are nearly all IPv4."""
    if not shutil.which("cargo"):
        return None
    proc = subprocess.run(
        ["cargo", "test", "-q", "-p", "netsensor", "--lib", "--locked", "--", SLOT_TEST,
         "--exact", "--nocapture"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )
    found = re.search(r"flow table slot: (\d+) bytes \(IPv4\)", proc.stdout + proc.stderr)
    return int(found.group(1)) if found else None


def rss_while_reading(argv: list[str], capture: Path, runs: int) -> int:
    """Median over `runs` of the largest resident set (kB) a replay has while it still
    reads `capture`, sampled from /proc every 2 ms. At the end of the input netsensor
    exports every held flow at once, and that burst of records (about 1 kB of JSON each)
    would otherwise dominate the peak; the table is full long before."""
    size = capture.stat().st_size
    peaks = []
    for _ in range(runs):
        peak = 0
        with subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
            proc_dir = Path(f"/proc/{proc.pid}")
            fd: Path | None = None
            while proc.poll() is None:
                try:
                    if fd is None:
                        fd = next((f for f in (proc_dir / "fd").iterdir()
                                   if os.readlink(f) == str(capture)), None)
                    status = (proc_dir / "status").read_text()
                    rss = int(re.search(r"VmRSS:\s*(\d+)", status).group(1))  # type: ignore[union-attr]
                except (OSError, AttributeError, ValueError):
                    continue
                if fd is not None:
                    try:
                        info = (proc_dir / "fdinfo" / fd.name).read_text()
                        pos = int(re.search(r"pos:\s*(\d+)", info).group(1))  # type: ignore[union-attr]
                    except (OSError, AttributeError, ValueError):
                        pos = size  # closed: the input has ended
                    if pos >= size:
                        break
                peak = max(peak, rss)
                time.sleep(0.002)
        if proc.returncode != 0:
            pl.die(f"{' '.join(argv)} failed (exit {proc.returncode})")
        peaks.append(peak)
    return sorted(peaks)[len(peaks) // 2]


def table_bytes_per_flow(slot: int) -> tuple[float, float]:
    """Range of the table's own bytes per flow for a slab slot of `slot` bytes: the slab
    grows by an eighth at a time (0 to 12.5% slack), the hash index holds 4-byte slot
    numbers and a control byte per bucket, 7/16 to 7/8 full."""
    return slot + 5 * 8 / 7, slot * 1.125 + 5 * 16 / 7


def timed(tool: pl.Tool, runs: int) -> None:
    for i in range(runs):
        pl.log(f"{tool.name}: run {i + 1}/{runs}")
        tool.runs.append(pl.timed_run(tool.timed))


def ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def measure(binary: Path, capture: Path, packets: int, runs: int, work: Path,
            sample: int = DEFAULT_SAMPLE) -> dict:
    """Runs everything; returns what the report needs (`sample` 0: no callgrind)."""
    geo, geo_what = pl.geo_yaml()
    default = flow_config(work, None, geo)
    counted: dict = {}
    if sample and shutil.which("valgrind"):
        cut, found = measure_instructions(binary, capture, min(sample, packets), work, default)
        counted["instructions"] = (cut, pl.capture_packets(cut), found)
    elif sample:
        counted["instructions_missing"] = ("Instruction counts: not measured (valgrind is not "
                                           "installed; Debian package `valgrind`).")
    ns = lambda kinds, out="/dev/null": netsensor_argv(binary, default, kinds, out, capture)  # noqa: E731
    rows = [
        Row(pl.Tool("`netsensor replay --records flow`", ns("flow"), [], capture, packets)),
        Row(pl.Tool("`netsensor replay --records flow,rollup`", ns("flow,rollup"), [],
                    capture, packets)),
    ]
    if shutil.which("softflowd"):
        argv = ["softflowd", "-r", str(capture), "-n", "127.0.0.1:9", "-v", "9", "-d",
                "-c", "none", "-p", str(work / "softflowd.pid")]
        rows.append(Row(pl.Tool("`softflowd -r FILE -v 9 -n 127.0.0.1:9`", argv, [],
                                capture, packets)))
    else:
        rows.append(Row(pl.Tool("`softflowd -r`", [], [], capture, packets),
                        missing="softflowd is not installed (Debian package `softflowd`)"))
    if shutil.which("argus"):
        argv = ["argus", "-X", "-r", str(capture), "-w", "/dev/null"]
        rows.append(Row(pl.Tool("`argus -X -r FILE -w /dev/null`", argv, [], capture, packets)))
    else:
        rows.append(Row(pl.Tool("`argus -r`", [], [], capture, packets),
                        missing="argus is not installed (Debian package `argus-server`)"))

    loads = [os.getloadavg()[0]]
    for row in rows:
        if row.missing:
            continue
        timed(row.tool, runs)
        loads.append(os.getloadavg()[0])
        stderr = row.tool.median().stderr
        if row.tool.name.startswith("`netsensor"):
            row.records = records_from_stderr(stderr)
        elif row.tool.name.startswith("`softflowd"):
            # softflowd prints its statistics on stdout, which the timed runs discard.
            stdout = subprocess.run(row.tool.timed, capture_output=True, text=True,
                                    check=False).stdout
            found = re.search(r"Flows exported: (\d+) \((\d+) records\)", stdout)
            row.records = int(found.group(1)) if found else None
            row.tool.note = (f" ({found.group(2)} NetFlow v9 records, one per direction)"
                             if found else "")
        elif row.tool.name.startswith("`argus"):
            row.records = argus_records(capture, work)

    # Table memory. With the default 30 s idle timeout this capture holds few flows at once
    # (its fixtures follow one another), so the memory per flow is measured with flows held
    # for a day, where tens of thousands pile up.
    pl.log("flow table: slot size, peak flows held, peak RSS at several caps")
    slot = slot_bytes()
    peak_default = peak_flows(binary, work, geo, capture, hold=False)
    overlap = overlap_capture(capture, OVERLAP_CHUNKS)
    pl.prepare_cache(overlap)
    peak = peak_flows(binary, work, geo, overlap, hold=True)
    capture = overlap

    def rss_at(cap: int | None) -> int:
        pl.log(f"RSS while reading, max_flows {cap or 'default'}, timeouts 1 day")
        argv = netsensor_argv(binary, flow_config(work, cap, geo, hold=True), "flow",
                              "/dev/null", capture)
        return rss_while_reading(argv, capture, runs)

    held = rss_at(None)
    baseline = rss_at(1)
    marginal = None
    if peak and peak > 8192:
        # The largest 7/8 x 2^k below the peak, and half of it: caps at which the map ends
        # exactly full, with no slack.
        big = 8192 * 7 // 8
        while big * 2 < peak:
            big *= 2
        small = big // 2
        marginal = (small, rss_at(small), big, rss_at(big))
    loads.append(os.getloadavg()[0])
    return {"rows": rows, "loads": loads, "slot": slot, "peak": peak, "baseline": baseline,
            "held": held, "peak_default": peak_default, "overlap": overlap,
            "marginal": marginal, "geo": geo_what, **counted}


def argus_records(capture: Path, work: Path) -> int | None:
    """Flow records argus writes (its status records included), counted by `ra`."""
    if not shutil.which("ra"):
        return None
    out = work / "argus.out"
    subprocess.run(["argus", "-X", "-r", str(capture), "-w", str(out)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    listed = pl.command_output(["ra", "-r", str(out), "-n", "-L", "-1", "-s", "proto",
                                "-", "not", "man"])
    out.unlink(missing_ok=True)
    return len(listed.splitlines()) if listed else None


def sample_capture(capture: Path, packets: int) -> Path:
    """The first `packets` packets of `capture` (editcap), cached next to it under the name
    make-capture.sh --sample gives it."""
    out = capture.with_name(f"{capture.stem}-first{packets}.pcap")
    if out.is_file() and out.stat().st_mtime >= capture.stat().st_mtime:
        return out
    subprocess.run(["editcap", "-F", "pcap", "-r", str(capture), str(out), f"1-{packets}"],
                   check=True, stdout=subprocess.DEVNULL)
    return out


@dataclass
class Instructions:
    """Callgrind's instruction counts of one command: per thread, from its summary lines."""

    name: str
    threads: list[int]

    def total(self) -> int:
        return sum(self.threads)

    def busiest(self) -> int:
        return max(self.threads)


def callgrind(name: str, argv: list[str], work: Path) -> Instructions | str:
    """Runs `argv` under callgrind, one profile per thread; the counts, or why not."""
    out = work / "callgrind"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--separate-threads=yes",
         f"--callgrind-out-file={out / 'cg.out'}", *argv],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False,
    )
    threads = []
    for profile in sorted(out.glob("cg.out*")):
        found = re.search(r"^summary: (\d+)", profile.read_text(errors="replace"), re.M)
        if found and int(found.group(1)) > 0:
            threads.append(int(found.group(1)))
    if proc.returncode != 0 or not threads:
        return f"callgrind failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"
    return Instructions(name, threads)


def measure_instructions(binary: Path, capture: Path, sample: int, work: Path,
                         config: Path) -> tuple[Path, list[Instructions | str]]:
    """netsensor, softflowd and argus under callgrind on the first `sample` packets."""
    cut = sample_capture(capture, sample)
    pl.log(f"callgrind on {cut.name}")
    commands = [("`netsensor replay --records flow`",
                  netsensor_argv(binary, config, "flow", "/dev/null", cut))]
    if shutil.which("softflowd"):
        commands.append(("`softflowd -r`", ["softflowd", "-r", str(cut), "-n", "127.0.0.1:9",
                                            "-v", "9", "-d", "-c", "none",
                                            "-p", str(work / "softflowd-cg.pid")]))
    if shutil.which("argus"):
        commands.append(("`argus -X -r`", ["argus", "-X", "-r", str(cut), "-w", "/dev/null"]))
    return cut, [callgrind(name, argv, work) for name, argv in commands]


def instruction_lines(result: dict) -> list[str]:
    """The callgrind table and netsensor's ratios to the references."""
    counted = result.get("instructions")
    if counted is None:
        return [result.get("instructions_missing", "Instruction counts: not measured.")]
    cut, packets, found = counted
    lines = [
        f"Instructions (callgrind, `--separate-threads=yes`, on `{cut.name}`: the first "
        f"{pl.fmt_int(packets)} packets; exact and repeatable, unlike wall-clock times on a "
        "shared machine):",
        "",
        "| command | threads | instructions, all threads | busiest thread | per packet, all "
        "| per packet, busiest thread |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    counts = [c for c in found if isinstance(c, Instructions)]
    for c in found:
        if isinstance(c, str):
            lines.append(f"| not measured: {c} ||||||")
            continue
        lines.append(
            f"| {c.name} | {len(c.threads)} | {pl.fmt_int(c.total())} | {pl.fmt_int(c.busiest())} "
            f"| {pl.fmt_int(round(c.total() / packets))} "
            f"| {pl.fmt_int(round(c.busiest() / packets))} |"
        )
    if counts and counts[0].name.startswith("`netsensor"):
        ours = counts[0]
        lines.append("")
        for ref in counts[1:]:
            lines.append(
                f"- {ours.name} / {ref.name}: {ours.busiest() / ref.busiest():.2f}x the "
                f"instructions of the busiest thread, {ours.total() / ref.total():.2f}x in all "
                "threads (below 1: fewer)"
            )
    return lines


def report(result: dict, packets: int) -> tuple[list[str], list[str], list[str]]:
    """The table, the ratios and the memory lines."""
    rows: list[Row] = result["rows"]
    table = [
        "| command | packets | wall s | packets/s | CPU s (user+sys) | CPU % "
        "| packets per CPU-s | flow records | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        t = row.tool
        if row.missing:
            table.append(f"| {t.name} | not measured: {row.missing} ||||||||")
            continue
        r = t.median()
        table.append(
            f"| {t.name}{t.note} | {pl.fmt_int(t.packets)} | {r.wall:.2f} | {pl.fmt_int(t.pps())} "
            f"| {r.user:.2f}+{r.sys:.2f} | {100 * r.cpu / max(r.wall, 1e-9):.0f} "
            f"| {pl.fmt_opt(t.pps_cpu())} | {pl.fmt_opt(row.records)} | {r.rss_kb / 1024:.1f} |"
        )
    ratios = []
    for ours in [r for r in rows[:2] if not r.missing]:
        for ref in [r for r in rows[2:] if not r.missing]:
            ratios.append(
                f"- {ours.tool.name} / {ref.tool.name}: {ours.tool.pps() / ref.tool.pps():.2f}x "
                f"packets/s, {ratio(ours.tool.pps_cpu(), ref.tool.pps_cpu())} packets per "
                f"CPU-second, {ratio(ours.tool.median().rss_kb, ref.tool.median().rss_kb)} "
                "peak RSS"
            )

    memory = []
    slot, peak, peak_default = result["slot"], result["peak"], result["peak_default"]
    held_rss, base_rss = result["held"], result["baseline"]
    memory.append(
        "- Flow table slab slot of an IPv4 flow (`FlowTable::bytes_per_slot()`: entry and "
        f"4-byte-address key): {slot if slot is not None else 'n/a'} bytes; with the slab's "
        "slack and the hash index of slot numbers, "
        + (" to ".join(f"{b:.0f}" for b in table_bytes_per_flow(slot)) if slot else "n/a")
        + " bytes per flow (tests/alloc.rs measures it on the heap)"
    )
    memory.append(
        "- Peak flows held at once with the default timeouts (30 s idle): "
        + (pl.fmt_int(peak_default) if peak_default else f"over {pl.fmt_int(DEFAULT_MAX_FLOWS)}")
        + " (the smallest `flows.max_flows` with which the replay evicts nothing: the "
        "capture's fixtures follow one another, so few flows overlap); so the memory below "
        "is measured on the overlaid capture with idle and active timeouts of a day, which "
        "hold " + (f"up to {pl.fmt_int(peak)} flows at once" if peak else
           f"more than {pl.fmt_int(DEFAULT_MAX_FLOWS)} flows (not measured)")
    )
    if peak is None:
        return table, ratios, memory
    per_flow = (held_rss - base_rss) * 1024 / peak
    line = (
        f"- Resident set while reading, default cap: (RSS {held_rss / 1024:.1f} MB holding "
        f"{pl.fmt_int(peak)} flows - {base_rss / 1024:.1f} MB with `max_flows: 1`) / "
        f"{pl.fmt_int(peak)} = **{per_flow:.0f} bytes per flow held**"
    )
    memory.append(line)
    if result["marginal"]:
        c1, r1, c2, r2 = result["marginal"]
        line = (
            f"- Resident set while reading, full tables: {r2 / 1024:.1f} MB with "
            f"`max_flows: {c2}` and {r1 / 1024:.1f} MB with `max_flows: {c1}` (7/8 of a power of "
            "two: the map ends exactly full; both evict): "
            f"**{(r2 - r1) * 1024 / (c2 - c1):.0f} bytes per extra flow**"
        )
        if slot:
            low, high = table_bytes_per_flow(slot)
            line += (
                f", where the table itself accounts for {low + 8:.0f} to {high + 8:.0f} (slab, "
                "index, and 8 bytes of the eviction buffer)"
            )
        memory.append(line)
    return table, ratios, memory


def section(result: dict, packets: int, capture: Path, size: int, runs: int,
            m: dict[str, str]) -> tuple[list[str], list[str]]:
    """What is printed, and the document block."""
    table, ratios, memory = report(result, packets)
    loads = result["loads"]
    printed = [*table, "", *ratios, "", *instruction_lines(result), "", *memory]
    body = [
        "",
        f"Measured {m['date']} by `dev/bench/flows.py` (part of `dev/bench/pipeline.py`): the "
        f"median of {runs} run(s) of each command. CPU % is of one core.",
        "",
        f"- Machine: {m['cpu']}, {m['cores']}, {m['memory']} RAM; {m['kernel']}",
        f"- netsensor: release build of commit {m['commit']}; {m['rustc']}; "
        f"{result['geo'].replace('GeoIP: ', 'GeoIP ')}",
        f"- References (Debian): {package_version('softflowd')}; "
        f"{package_version('argus-server')}; records counted by {package_version('argus-client')}",
        f"- Load average (1 min) at the start: {loads[0]:.2f}; after each command: "
        + ", ".join(f"{x:.2f}" for x in loads[1:]),
        f"- Capture: {pl.fmt_int(packets)} packets, {size / 1e6:.0f} MB (`{capture.name}`), "
        "read from the page cache",
        "",
        *table,
        "",
        *ratios,
        "",
        *instruction_lines(result),
        "",
        "Flow table memory (netsensor, `--records flow`; the median of "
        f"{runs} run(s) for each resident set; the last three lines on `{result['overlap'].name}`, "
        f"the capture cut into {OVERLAP_CHUNKS} parts overlaid in time, with flow timeouts of "
        "a day):",
        "",
        *memory,
        "",
    ]
    return printed, body


def run(binary: Path, capture: Path, packets: int, runs: int, m: dict[str, str],
        sample: int = DEFAULT_SAMPLE) -> list[str]:
    """Measures and prints; returns the document block's lines (pipeline.py's entry)."""
    work = Path(tempfile.mkdtemp(prefix="netsensor-flows-"))
    try:
        result = measure(binary, capture, packets, runs, work, sample)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    printed, body = section(result, packets, capture, capture.stat().st_size, runs, m)
    print("\n".join(printed))
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each command")
    parser.add_argument("--max-load", type=float, default=0.5)
    parser.add_argument("--wait", type=float, default=300, help="seconds to wait for the load")
    parser.add_argument("--doc", type=Path, default=REPO / "docs/benchmarks.md")
    parser.add_argument("--no-doc", action="store_true")
    parser.add_argument("--sample", type=int, default=DEFAULT_SAMPLE,
                        help="packets counted under callgrind")
    parser.add_argument("--no-callgrind", action="store_true")
    args = parser.parse_args()

    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    binary = Path(os.environ.get("NETSENSOR_BIN", target / "release/netsensor"))
    if not binary.is_file():
        pl.die(f"{binary} is missing: run `make release` (or set NETSENSOR_BIN)")
    capture, _ = pl.prepare_capture(args.packets, 0)
    packets = pl.capture_packets(capture)
    pl.wait_for_quiet(args.max_load, args.wait)
    body = run(binary, capture, packets, args.runs, pl.machine(),
               0 if args.no_callgrind else args.sample)
    if args.no_doc:
        return
    text = args.doc.read_text() if args.doc.is_file() else "# Benchmarks\n"
    args.doc.write_text(pl.replace_block(text, "flows", body))
    pl.log(f"wrote {args.doc}")


if __name__ == "__main__":
    main()
