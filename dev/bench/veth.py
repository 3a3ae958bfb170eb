#!/usr/bin/env python3
"""Live capture on a veth pair: netsensor (AF_PACKET, 1 and 2 workers) next to tcpdump.

    dev/bench/veth.py [--packets N] [--rates 50000,100000,200000,max] [--workers 1,2]
                      [--records flow,rollup] [--no-doc]

Builds two network namespaces joined by a veth pair (no addresses, IPv6 off: the link
carries only what is replayed), and replays the first N packets (default 200 000) of the
benchmark capture (dev/bench/make-capture.sh) with tcpreplay from one end, at each rate
(`max` is --topspeed), into the other end, where one capturer runs at a time:

    netsensor run, backend af_packet, --workers W     W = each of --workers
    tcpdump -i IF -w /dev/null                        libpcap defaults

For each rate and capturer the table gives the packets tcpreplay sent, the rate it reached,
those that reached the interface (its rx counter: less than sent means the veth itself
dropped), and the capturer's own counts: captured (netsensor_packets_received_total; tcpdump
"captured"), dropped by the kernel (ring full: netsensor_packets_dropped_total reason kernel;
tcpdump "dropped by kernel"), and for netsensor the captured packets lost to its full worker
queue (reason queue_full) and those its overload sampling shed. The packets are read from memory (--preload-pcap), so the disk is not what
limits the replay. Each run is bounded by the fixed packet count.

Prints the markdown table and writes it into docs/benchmarks.md between the markers
<!-- veth-capture:begin --> and <!-- veth-capture:end --> (unless --no-doc).

Environment: NETSENSOR_BIN (default $CARGO_TARGET_DIR/release/netsensor, else
target/release/netsensor), NETSENSOR_BENCH_CACHE (see make-capture.sh).
Needs root, and: ip (iproute2), tcpreplay, tcpdump, editcap (wireshark-common), curl.
Standard library only.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs/benchmarks.md"
BEGIN = "<!-- veth-capture:begin -->"
END = "<!-- veth-capture:end -->"
IF_A, IF_B = "bva", "bvb"
METRICS = "127.0.0.1:9182"
#: Longest wait for a capturer to be ready, or to settle after a replay.
WAIT_S = 30.0


def die(message: str) -> "NoReturn":  # type: ignore[name-defined]  # noqa: F821
    sys.exit(f"veth.py: {message}")


def log(message: str) -> None:
    print(f"veth.py: {message}", file=sys.stderr, flush=True)


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        die(f"{' '.join(argv)}: {result.stderr.strip() or result.stdout.strip()}")
    return result


class Net:
    """Two namespaces with a silent veth pair between them; removed by close()."""

    def __init__(self) -> None:
        prefix = f"nsbench-{os.getpid()}"
        self.a, self.b = f"{prefix}-a", f"{prefix}-b"
        run("ip", "netns", "add", self.a)
        run("ip", "netns", "add", self.b)
        run("ip", "link", "add", IF_A, "netns", self.a, "type", "veth",
            "peer", "name", IF_B, "netns", self.b)
        for ns, iface in ((self.a, IF_A), (self.b, IF_B)):
            run("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{iface}.disable_ipv6=1")
            run("ip", "-n", ns, "link", "set", iface, "mtu", "9000")
            run("ip", "-n", ns, "link", "set", iface, "up")
        run("ip", "-n", self.a, "link", "set", "lo", "up")
        # Sending works once the kernel has seen the carrier (and activated the queue).
        deadline = time.monotonic() + WAIT_S
        while not all("state UP" in run("ip", "-n", ns, "-o", "link", "show", iface).stdout
                      for ns, iface in ((self.a, IF_A), (self.b, IF_B))):
            if time.monotonic() > deadline:
                die("the veth pair never came up")
            time.sleep(0.05)

    def close(self) -> None:
        for ns in (self.a, self.b):
            run("ip", "netns", "del", ns, check=False)

    def rx_packets(self) -> int:
        """Packets the capture interface has received (its rx counter)."""
        out = run("ip", "netns", "exec", self.a, "cat", "/proc/net/dev").stdout
        for line in out.splitlines():
            name, _, fields = line.partition(":")
            if name.strip() == IF_A:
                return int(fields.split()[1])
        die(f"{IF_A} missing from /proc/net/dev in {self.a}")

    def replay(self, pcap: Path, rate: str) -> tuple[int, float]:
        """Replays `pcap` into the capture interface; returns (packets sent, pps reached)."""
        speed = ["--topspeed"] if rate == "max" else ["--pps", rate]
        out = run("ip", "netns", "exec", self.b, "tcpreplay", "-i", IF_B, "--preload-pcap",
                  *speed, str(pcap)).stdout
        sent = re.search(r"Successful packets:\s+(\d+)", out)
        pps = re.search(r"Rated:.*?([\d.]+) pps", out)
        if not sent or not pps:
            die(f"unexpected tcpreplay output: {out}")
        return int(sent.group(1)), float(pps.group(1))


@dataclass
class Row:
    rate: str
    tool: str
    sent: int
    reached_pps: float
    arrived: int
    captured: int
    dropped: int
    queue_full: int | None
    shed: int | None


def metric_sum(text: str, name: str, label: str | None = None) -> int:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in "{ ") and (label is None or label in line):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


class Netsensor:
    """`netsensor run` in namespace a with the af_packet backend."""

    def __init__(self, net: Net, binary: Path, workers: int, records: list[str], work: Path):
        self.net, self.workers = net, workers
        config = work / f"netsensor-{workers}.yaml"
        kinds = ", ".join(records)
        config.write_text(
            "sensor: { name: bench }\n"
            "captures:\n"
            f"  - interface: {IF_A}\n"
            "    promiscuous: true\n"
            "    backend: af_packet\n"
            f"records: [{kinds}]\n"
            "outputs:\n"
            "  stdout: { enabled: true }\n"
            f"listeners:\n  metrics: {{ address: \"{METRICS}\" }}\n  query: null\n"
        )
        self.log = work / f"netsensor-{workers}.log"
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", net.a, str(binary), "run", "--config", str(config),
             "--workers", str(workers)],
            stdout=subprocess.DEVNULL, stderr=self.log.open("w"))
        deadline = time.monotonic() + WAIT_S
        while True:
            text = self.metrics()
            if text and metric_sum(text, "netsensor_capture_up") >= 1:
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                die(f"netsensor did not start capturing; see {self.log}:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.2)

    def metrics(self) -> str:
        out = run("ip", "netns", "exec", self.net.a, "curl", "-sf", f"http://{METRICS}/metrics",
                  check=False)
        return out.stdout if out.returncode == 0 else ""

    def counts(self) -> tuple[int, int, int, int | None]:
        """Captured (taken from the rings), dropped by the kernel, dropped by the full
        capture queue (after capture), shed by overload sampling."""
        text = self.metrics()
        captured = metric_sum(text, "netsensor_packets_received_total")
        dropped = metric_sum(text, "netsensor_packets_dropped_total", 'reason="kernel"')
        queue_full = metric_sum(text, "netsensor_packets_dropped_total", 'reason="queue_full"')
        # Overload sampling's count, by whichever name it has: a `netsensor_packets_shed*`
        # counter, or a `shed` reason of the dropped counter. None when neither exists.
        shed_lines = [
            line for line in text.splitlines()
            if not line.startswith("#") and (
                line.startswith("netsensor_packets_shed")
                or (line.startswith("netsensor_packets_dropped_total") and "shed" in line))
        ]
        shed = sum(int(float(line.rsplit(" ", 1)[1])) for line in shed_lines) if shed_lines else None
        return captured, dropped, queue_full, shed

    def settle(self, sent: int) -> tuple[int, int, int, int | None]:
        """Counts once every sent packet is accounted for, or they stop changing."""
        deadline = time.monotonic() + WAIT_S
        last, stable = None, 0
        while time.monotonic() < deadline:
            counts = self.counts()
            if counts[0] + counts[1] >= sent:
                # Kernel drop counters are read on batch flushes: one more look.
                time.sleep(0.5)
                return self.counts()
            stable = stable + 1 if counts == last else 0
            if stable >= 5:
                return counts
            last = counts
            time.sleep(0.3)
        return self.counts()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Tcpdump:
    """`tcpdump -i IF -w /dev/null` in namespace a; counts come from its exit summary."""

    def __init__(self, net: Net, work: Path):
        self.log = work / "tcpdump.log"
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", net.a, "tcpdump", "-i", IF_A, "-n", "-w", "/dev/null"],
            stdout=subprocess.DEVNULL, stderr=self.log.open("w"))
        deadline = time.monotonic() + WAIT_S
        while "listening on" not in self.log.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                die(f"tcpdump did not start: {self.log.read_text()}")
            time.sleep(0.1)

    def stop(self) -> tuple[int, int]:
        time.sleep(1.0)  # let it drain its buffer
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=WAIT_S)
        text = self.log.read_text()
        captured = re.search(r"(\d+) packets? captured", text)
        dropped = re.search(r"(\d+) packets? dropped by kernel", text)
        if not captured or not dropped:
            die(f"unexpected tcpdump summary: {text}")
        return int(captured.group(1)), int(dropped.group(1))


def prepare(packets: int, work: Path) -> Path:
    made = run(str(REPO / "dev/bench/make-capture.sh"))
    capture = Path(made.stdout.splitlines()[0])
    cut = work / "replay.pcap"
    run("editcap", "-r", str(capture), str(cut), f"1-{packets}")
    return cut


def fragments(pcap: Path) -> tuple[int, int]:
    """IPv4 fragments in the replayed packets, and the datagrams they make up: the
    af_packet backend captures each datagram once, reassembled (PACKET_FANOUT_FLAG_DEFRAG)."""
    out = run("tshark", "-n", "-r", str(pcap), "-Y", "ip.flags.mf == 1 or ip.frag_offset > 0",
              "-T", "fields", "-e", "ip.src", "-e", "ip.dst", "-e", "ip.id", "-e", "ip.proto").stdout
    lines = [line for line in out.splitlines() if line.strip()]
    return len(lines), len(set(lines))


def table(rows: list[Row], packets: int) -> str:
    lines = [
        "| rate asked | capturer | sent | rate reached (pps) | reached the interface "
        "| captured | dropped by the kernel | lost to a full queue | shed |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    dash = lambda n: "—" if n is None else f"{n:,}"  # noqa: E731
    for r in rows:
        lines.append(
            f"| {r.rate} | {r.tool} | {r.sent:,} | {r.reached_pps:,.0f} | {r.arrived:,} "
            f"| {r.captured:,} | {r.dropped:,} | {dash(r.queue_full)} | {dash(r.shed)} |")
    return "\n".join(lines)


def write_doc(body: str) -> None:
    text = DOC.read_text()
    block = f"{BEGIN}\n{body}\n{END}"
    if BEGIN in text and END in text:
        start, end = text.index(BEGIN), text.index(END) + len(END)
        text = text[:start] + block + text[end:]
    else:
        text = text.rstrip("\n") + "\n\n## Live capture on veth (issue 10)\n\n" + block + "\n"
    DOC.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=200_000)
    parser.add_argument("--rates", default="50000,100000,200000,max")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--records", default="flow,rollup")
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        die("needs root (network namespaces)")
    for tool in ("ip", "tcpreplay", "tcpdump", "editcap", "tshark", "curl"):
        if not shutil.which(tool):
            die(f"{tool} is required (apt-get install iproute2 tcpreplay tcpdump wireshark-common tshark curl)")
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    binary = Path(os.environ.get("NETSENSOR_BIN", target / "release/netsensor"))
    if not binary.is_file():
        die(f"{binary} is missing (make release, or set NETSENSOR_BIN)")
    rates = [r.strip() for r in args.rates.split(",") if r.strip()]
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    records = [r.strip() for r in args.records.split(",") if r.strip()]

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="netsensor-veth-") as tmp:
        work = Path(tmp)
        pcap = prepare(args.packets, work)
        fragment_frames, datagrams = fragments(pcap)
        net = Net()
        try:
            for rate in rates:
                for tool in [f"netsensor, {w} worker{'s' if w > 1 else ''}" for w in workers] + ["tcpdump"]:
                    before = net.rx_packets()
                    if tool == "tcpdump":
                        dump = Tcpdump(net, work)
                        sent, pps = net.replay(pcap, rate)
                        captured, dropped = dump.stop()
                        queue_full, shed = None, None
                    else:
                        w = int(tool.split(", ")[1].split()[0])
                        sensor = Netsensor(net, binary, w, records, work)
                        try:
                            sent, pps = net.replay(pcap, rate)
                            captured, dropped, queue_full, shed = sensor.settle(sent)
                        finally:
                            sensor.stop()
                    arrived = net.rx_packets() - before
                    row = Row(rate, tool, sent, pps, arrived, captured, dropped, queue_full, shed)
                    log(f"{row}")
                    rows.append(row)
        finally:
            net.close()

    cores = os.cpu_count()
    load = os.getloadavg()[0]
    body = (
        f"{table(rows, args.packets)}\n\n"
        f"`dev/bench/veth.py`, {datetime.date.today().isoformat()}: the first "
        f"{args.packets:,} packets of the benchmark capture replayed with tcpreplay "
        f"(--preload-pcap; `max` is --topspeed) from one end of a veth pair into the other, "
        f"where one capturer runs at a time; netsensor with `backend: af_packet` (default "
        f"rings: 64 × 1 MiB per worker), records [{', '.join(records)}] to stdout "
        f"(/dev/null); tcpdump with libpcap's defaults. {platform.machine()}, {cores} cores "
        f"shared with tcpreplay and the kernel's softirq work, load average {load:.1f} at "
        f"the end. \"Reached the interface\" is the veth's rx counter; \"captured\" the "
        f"frames taken from the capture buffer (netsensor_packets_received_total; tcpdump's "
        f"\"captured\"); \"dropped by the kernel\" the frames the buffer had no room for; "
        f"\"lost to a full queue\" captured frames netsensor dropped because its workers' "
        f"queue was full, and \"shed\" those its overload sampling left out. The "
        f"replayed packets hold {fragment_frames} IPv4 fragments of {datagrams} datagrams, "
        f"which the af_packet backend captures reassembled (PACKET_FANOUT_FLAG_DEFRAG): "
        f"netsensor's complete count is {fragment_frames - datagrams} below tcpdump's."
    )
    print(body)
    if not args.no_doc:
        write_doc(body)
        log(f"wrote {DOC.relative_to(REPO)}")


if __name__ == "__main__":
    main()
