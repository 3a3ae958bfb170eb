#!/usr/bin/env bash
# Build the benchmark capture: at least 1 M packets of real traffic with many distinct flows.
#
#   dev/bench/make-capture.sh [--packets N] [--sample N]
#
# The repository's captures are small, so this loops the real ones: the Ethernet (DLT 1)
# pcap fixtures listed in dev/fixtures/pcaps/MANIFEST.tsv are moved in time to follow one
# another from 2023-11-14 on (each starts 1 s after the previous one's first hour), and
# concatenated into one base file (`mergecap -a`); then each copy i = 1..k of the base gets
#   - timestamps shifted by i x the base's length                   (editcap -t)
#   - IPv4/IPv6 addresses pseudo-randomized with seed i, keeping
#     client/server pairs, broadcast and multicast kept             (tcprewrite --seed=i -b)
#   - ephemeral ports (32768-65535) rotated by i x 7919 in that range,
#     service ports kept so services are still recognised           (tcprewrite --portmap)
#   - IPv4/TCP/UDP checksums recomputed                              (tcprewrite --fixcsum)
# and the k copies are concatenated (`mergecap -a`), k = ceil(N / base packets).
# Fixtures tcprewrite cannot rewrite (malformed on purpose) are left out, and named.
#
# The result is cached outside the checkout, keyed by a hash of the inputs, this script and
# N, and never committed; a second run prints the cached path at once, and a rebuild
# deletes the stale ones. With --sample N it
# also cuts the first N packets into a second file (for slow references such as tshark).
# Prints the capture's path (and the sample's, when asked) on stdout, one per line.
#
# Environment: NETSENSOR_BENCH_CACHE  cache directory (default ~/.cache/netsensor/bench)
# Needs: editcap, mergecap, capinfos, tshark (wireshark-common, tshark), tcprewrite (tcpreplay).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
fixtures="$repo/dev/fixtures/pcaps"
cache="${NETSENSOR_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/netsensor/bench}"
packets=1000000
sample=0

die() { echo "make-capture.sh: $*" >&2; exit 1; }
log() { echo "make-capture.sh: $*" >&2; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --packets) packets="${2:?--packets needs a number}"; shift 2 ;;
        --sample) sample="${2:?--sample needs a number}"; shift 2 ;;
        -h | --help) sed -n '2,26p' "$0"; exit 0 ;;
        *) die "unknown argument: $1" ;;
    esac
done
[[ $packets =~ ^[1-9][0-9]*$ ]] || die "--packets must be a positive number"
[[ $sample =~ ^[0-9]+$ ]] || die "--sample must be a number"

for tool in editcap mergecap capinfos tshark tcprewrite sha256sum flock; do
    command -v "$tool" >/dev/null || die "$tool is required (apt-get install tshark wireshark-common tcpreplay)"
done

# Ethernet pcap (not pcapng) fixtures, in MANIFEST order.
mapfile -t inputs < <(awk -F'\t' '$4 ~ /^ether \(DLT 1\/EN10MB; pcap-/ && $1 ~ /\.pcap$/ {print $1}' \
    "$fixtures/MANIFEST.tsv")
[[ ${#inputs[@]} -gt 0 ]] || die "no Ethernet pcap fixtures listed in $fixtures/MANIFEST.tsv"

key="$( (cd "$fixtures" && sha256sum "${inputs[@]}"; cat "$here/make-capture.sh"; echo "packets=$packets") \
    | sha256sum | cut -c1-16)"
mkdir -p "$cache"
out="$cache/bench-$key.pcap"

exec 9>"$cache/.lock"
flock 9

if [[ ! -s $out ]]; then
    work="$(mktemp -d "$cache/build.XXXXXX")"
    trap 'rm -rf "$work"' EXIT

    # Leave out the fixtures tcprewrite rejects.
    usable=()
    for f in "${inputs[@]}"; do
        if tcprewrite --seed=1 --fixcsum -b -i "$fixtures/$f" -o "$work/probe.pcap" >/dev/null 2>&1; then
            usable+=("$f")
        else
            log "left out $f (tcprewrite cannot rewrite it)"
        fi
    done
    # Move each fixture so that it starts where the previous one's first hour ended (a few
    # fixtures hold stray timestamps years apart; those stay as far from their file's start).
    start=1700000000
    normalized=()
    for f in "${usable[@]}"; do
        read -r first last < <(capinfos -M -T -r -a -e -S "$fixtures/$f" | awk -F'\t' '{print int($2), int($3)}')
        editcap -F pcap -t "$((start - first))" "$fixtures/$f" "$work/norm-${#normalized[@]}.pcap"
        normalized+=("$work/norm-${#normalized[@]}.pcap")
        length=$((last - first))
        start=$((start + (length < 3600 ? length : 3600) + 1))
    done
    span=$((start - 1700000000))
    mergecap -a -F pcap -w "$work/base.pcap" "${normalized[@]}"
    base_packets="$(capinfos -M -T -r -c "$work/base.pcap" | cut -f2)"
    [[ $base_packets -gt 0 ]] || die "the base capture has no packets"

    # Ephemeral ports seen in the base.
    mapfile -t ports < <(tshark -n -r "$work/base.pcap" -T fields \
        -e tcp.srcport -e tcp.dstport -e udp.srcport -e udp.dstport 2>/dev/null \
        | tr '\t,' '\n' | awk '$1 >= 32768 && $1 <= 65535' | sort -nu)

    copies=$(((packets + base_packets - 1) / base_packets))
    log "building $out: $copies copies of ${#usable[@]} fixtures ($base_packets packets each," \
        "time span ${span} s, ${#ports[@]} ephemeral ports rotated)"
    list=()
    for ((i = 1; i <= copies; i++)); do
        portmap=""
        for p in "${ports[@]}"; do
            portmap+="${portmap:+,}$p:$((32768 + (p - 32768 + i * 7919) % 32768))"
        done
        editcap -F pcap -t "$((i * span))" "$work/base.pcap" "$work/shifted.pcap"
        args=(--seed="$i" -b --fixcsum -i "$work/shifted.pcap" -o "$work/copy-$i.pcap")
        [[ -n $portmap ]] && args+=(--portmap="$portmap")
        tcprewrite "${args[@]}" >/dev/null 2>&1 || die "tcprewrite failed on copy $i"
        list+=("$work/copy-$i.pcap")
    done
    mergecap -a -F pcap -w "$work/all.pcap" "${list[@]}"
    total="$(capinfos -M -T -r -c "$work/all.pcap" | cut -f2)"
    [[ $total -eq $((copies * base_packets)) ]] \
        || die "merged capture has $total packets, expected $((copies * base_packets))"
    mv "$work/all.pcap" "$out"
    # Captures built from other inputs (or by another version of this script) are stale.
    find "$cache" -maxdepth 1 -name 'bench-*.pcap' ! -name "bench-$key*" -delete
    log "wrote $out ($total packets, $(du -h "$out" | cut -f1))"
fi
echo "$out"

if [[ $sample -gt 0 ]]; then
    cut_file="${out%.pcap}-first$sample.pcap"
    if [[ ! -s $cut_file ]]; then
        editcap -F pcap -r "$out" "$cut_file.tmp" "1-$sample"
        mv "$cut_file.tmp" "$cut_file"
    fi
    echo "$cut_file"
fi
