#!/usr/bin/env python3
"""Does the capability set of the chart's DaemonSet and of netsensor.service suffice for
the af_packet backend? Does what that backend does to the kernel, on one interface:

  two AF_PACKET sockets, TPACKET_V3, a PACKET_RX_RING each, mmap'ed, bound to IFACE, joined
  in one PACKET_FANOUT group (HASH | FLAG_DEFRAG, the id picked by the kernel with
  FLAG_UNIQUEID), a classic BPF filter attached with SO_ATTACH_FILTER; then it sends UDP
  datagrams to 127.0.0.1 and counts the packets the two rings received.

    afpacket-probe.py IFACE expect-ok      exit 0 when all of that works and packets arrive
    afpacket-probe.py IFACE expect-eperm   exit 0 when socket(AF_PACKET) is refused (EPERM)

packet(7): creating a packet socket needs CAP_NET_RAW; the options used here need nothing
more (PACKET_FANOUT_EBPF would: loading an eBPF program needs CAP_BPF where
kernel.unprivileged_bpf_disabled is set; the sensor does not use it).
"""
import ctypes
import errno
import mmap
import socket
import struct
import sys
import time

SOL_PACKET = 263
PACKET_RX_RING = 5
PACKET_VERSION = 10
PACKET_FANOUT = 18
TPACKET_V3 = 2
PACKET_FANOUT_HASH = 0
PACKET_FANOUT_FLAG_UNIQUEID = 0x2000
PACKET_FANOUT_FLAG_DEFRAG = 0x8000
SO_ATTACH_FILTER = 26
ETH_P_ALL = 0x0003
TP_STATUS_USER = 1
BLOCK_SIZE = 1 << 16
BLOCK_COUNT = 4
FRAME_SIZE = 2048


def open_ring(iface, group):
    """One socket with its ring; joins `group` (None: a new group). Returns (sock, ring, id)."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
    req = struct.pack(
        "7I", BLOCK_SIZE, BLOCK_COUNT, FRAME_SIZE, BLOCK_SIZE * BLOCK_COUNT // FRAME_SIZE, 10, 0, 0
    )
    sock.setsockopt(SOL_PACKET, PACKET_RX_RING, req)
    ring = mmap.mmap(sock.fileno(), BLOCK_SIZE * BLOCK_COUNT, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    sock.bind((iface, ETH_P_ALL))
    # A classic BPF program (one instruction: accept the whole frame), as libpcap compiles them.
    program = (ctypes.c_uint8 * 8).from_buffer_copy(struct.pack("HBBI", 0x06, 0, 0, 0x40000))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, struct.pack("HL", 1, ctypes.addressof(program)))
    flags = PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG
    if group is None:
        sock.setsockopt(SOL_PACKET, PACKET_FANOUT, struct.pack("I", (flags | PACKET_FANOUT_FLAG_UNIQUEID) << 16))
    else:
        sock.setsockopt(SOL_PACKET, PACKET_FANOUT, struct.pack("I", group | (flags << 16)))
    joined = struct.unpack("I", sock.getsockopt(SOL_PACKET, PACKET_FANOUT, 4))[0]
    return sock, ring, joined & 0xFFFF


def packets_in(ring):
    """Packets in the ring's retired blocks (tpacket_block_desc: version, offset_to_priv,
    then tpacket_hdr_v1 with block_status and num_pkts)."""
    total = 0
    for block in range(BLOCK_COUNT):
        status, count = struct.unpack_from("II", ring, block * BLOCK_SIZE + 8)
        if status & TP_STATUS_USER:
            total += count
    return total


def main():
    iface, expect = sys.argv[1], sys.argv[2]
    if expect == "expect-eperm":
        try:
            socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)).close()
        except PermissionError as e:
            print(f"afpacket-probe: socket(AF_PACKET) refused without CAP_NET_RAW: {e}")
            return 0
        print("afpacket-probe: socket(AF_PACKET) was allowed without CAP_NET_RAW", file=sys.stderr)
        return 1
    first, ring1, group = open_ring(iface, None)
    second, ring2, group2 = open_ring(iface, group)
    if group2 != group:
        print(f"afpacket-probe: second socket is in group {group2}, not {group}", file=sys.stderr)
        return 1
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(64):  # bounded; 127.0.0.1 only
        sender.sendto(b"netsensor-probe", ("127.0.0.1", 40000 + i))
    seen = 0
    for _ in range(50):
        seen = packets_in(ring1) + packets_in(ring2)
        if seen >= 64:
            break
        time.sleep(0.02)
    for s in (sender, first, second):
        s.close()
    if seen == 0:
        print("afpacket-probe: the rings received nothing", file=sys.stderr)
        return 1
    print(
        f"afpacket-probe: TPACKET_V3 rings, PACKET_FANOUT group {group} (hash, defrag), "
        f"SO_ATTACH_FILTER: {seen} packets in 2 rings"
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except OSError as e:
        print(f"afpacket-probe: {e} ({errno.errorcode.get(e.errno, '?')})", file=sys.stderr)
        sys.exit(1)
