"""Minimal MaxMind DB (MMDB 2.0) writer, Python standard library only.

Used by dev/geo/csv2mmdb.py (the default ASN database is published as CSV only) and by
dev/fixtures/geo/make-test-dbs.py (tiny databases with known values for the tests).
Follows https://maxmind.github.io/MaxMind-DB/ :

* search tree: a binary trie over the address bits, one node = two records of 24, 28
  or 32 bits; a record is a node number, `node_count` for "no data", or
  `node_count + 16 + offset` for data at `offset` in the data section;
* IPv4 networks in an IPv6 database live under ::/96 (the subtree the readers use for
  IPv4 lookups);
* data section: MMDB-typed values; identical records are stored once;
* metadata: a map after the `\\xab\\xcd\\xefMaxMind.com` marker, with the exact integer
  types the spec gives (readers such as the Rust `maxminddb` crate check them).

Values to write are wrapped so the MMDB type is explicit: `Uint16`, `Uint32`, `Uint64`,
`Double`, `Float`; a `str` is a UTF-8 string, a `dict` a map, a `list` an array,
a `bool` a boolean, a plain `int` a uint32.
"""

import ipaddress
import os
import struct
import time

METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"


class Uint16(int):
    """Encode as MMDB uint16."""


class Uint32(int):
    """Encode as MMDB uint32."""


class Uint64(int):
    """Encode as MMDB uint64."""


class Double(float):
    """Encode as MMDB double (8 bytes)."""


class Float(float):
    """Encode as MMDB float (4 bytes)."""


def _control(type_num, size):
    """Control byte(s) for a value of `type_num` with payload `size`."""
    if size < 29:
        size_bits, ext = size, b""
    elif size < 29 + 256:
        size_bits, ext = 29, bytes([size - 29])
    elif size < 285 + 65536:
        size_bits, ext = 30, (size - 285).to_bytes(2, "big")
    else:
        size_bits, ext = 31, (size - 65821).to_bytes(3, "big")
    if type_num <= 7:
        return bytes([(type_num << 5) | size_bits]) + ext
    return bytes([size_bits, type_num - 7]) + ext


def _uint_bytes(value, max_bytes):
    if value < 0 or value >= 1 << (8 * max_bytes):
        raise ValueError(f"{value} does not fit in {max_bytes} bytes")
    n = (value.bit_length() + 7) // 8
    return value.to_bytes(n, "big") if n else b""


def encode(value):
    """MMDB encoding of `value` (no pointers)."""
    if isinstance(value, bool):
        return _control(14, int(value))
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _control(2, len(raw)) + raw
    if isinstance(value, Float):
        return _control(15, 4) + struct.pack(">f", value)
    if isinstance(value, float):  # Double and plain float
        return _control(3, 8) + struct.pack(">d", value)
    if isinstance(value, Uint16):
        raw = _uint_bytes(value, 2)
        return _control(5, len(raw)) + raw
    if isinstance(value, Uint64):
        raw = _uint_bytes(value, 8)
        return _control(9, len(raw)) + raw
    if isinstance(value, int):  # Uint32 and plain int
        raw = _uint_bytes(value, 4)
        return _control(6, len(raw)) + raw
    if isinstance(value, dict):
        out = bytearray(_control(7, len(value)))
        for key, item in value.items():
            out += encode(str(key))
            out += encode(item)
        return bytes(out)
    if isinstance(value, (list, tuple)):
        out = bytearray(_control(11, len(value)))
        for item in value:
            out += encode(item)
        return bytes(out)
    raise TypeError(f"cannot encode {type(value).__name__}")


def _epoch():
    """SOURCE_DATE_EPOCH when set (reproducible builds), else now."""
    return int(os.environ.get("SOURCE_DATE_EPOCH") or time.time())


def range_to_cidrs(first, last, bits):
    """Yield (network_int, prefix_len) covering [first, last] exactly."""
    while first <= last:
        # Largest block aligned at `first` ...
        size = (first & -first).bit_length() - 1 if first else bits
        # ... that does not run past `last`.
        while size > 0 and first + (1 << size) - 1 > last:
            size -= 1
        yield first, bits - size
        first += 1 << size


class Writer:
    """Collects networks and their records, then writes one .mmdb file."""

    def __init__(self, database_type, ip_version=6, description=None, languages=None):
        if ip_version not in (4, 6):
            raise ValueError("ip_version must be 4 or 6")
        self.database_type = database_type
        self.ip_version = ip_version
        self.description = description or {"en": database_type}
        self.languages = languages or []
        self.bits = 128 if ip_version == 6 else 32
        # Trie: parallel child lists. A child is 0 (empty; node 0 is the root and never
        # a child), > 0 a node number, < 0 the data record -(offset + 1).
        self.left = [0]
        self.right = [0]
        self.data = bytearray()
        self.offsets = {}
        self.ipv4_root = None

    def _record(self, record):
        raw = encode(record)
        offset = self.offsets.get(raw)
        if offset is None:
            offset = len(self.data)
            self.offsets[raw] = offset
            self.data += raw
        return -(offset + 1)

    def _new_node(self):
        self.left.append(0)
        self.right.append(0)
        return len(self.left) - 1

    def _ipv4_start(self):
        if self.ip_version == 4:
            return 0
        if self.ipv4_root is None:
            node = 0
            for _ in range(96):
                child = self.left[node]
                if child < 0:
                    raise ValueError("an IPv6 network covering ::/96 hides IPv4 data")
                if child == 0:
                    child = self._new_node()
                    self.left[node] = child
                node = child
            self.ipv4_root = node
        return self.ipv4_root

    def _insert(self, root, value, prefix_len, width, leaf):
        node = root
        for depth in range(prefix_len):
            bit = (value >> (width - 1 - depth)) & 1
            children = self.right if bit else self.left
            if depth == prefix_len - 1:
                if children[node] > 0:
                    raise ValueError("network overlaps a more specific one inserted before")
                children[node] = leaf
                return
            child = children[node]
            if child < 0:
                raise ValueError("network is inside a network inserted before")
            if child == 0:
                child = self._new_node()
                children[node] = child
            node = child
        raise ValueError("prefix length 0 is not supported")

    def insert_network(self, network, record):
        """Map `network` (str or ipaddress network) to `record`."""
        net = ipaddress.ip_network(network)
        self.insert_int(net.version, int(net.network_address), net.prefixlen, record)

    def insert_int(self, version, value, prefix_len, record):
        """Map the network `value/prefix_len` of IP `version` to `record`."""
        leaf = self._record(record)
        if version == 4:
            self._insert(self._ipv4_start(), value, prefix_len, 32, leaf)
        elif self.ip_version == 6:
            self._insert(0, value, prefix_len, 128, leaf)
        else:
            raise ValueError("IPv6 network in an IPv4 database")

    def insert_range(self, first, last, record):
        """Map every address from `first` to `last` (strings, same family) to `record`."""
        a, b = ipaddress.ip_address(first), ipaddress.ip_address(last)
        if a.version != b.version or int(a) > int(b):
            raise ValueError(f"bad range {first}-{last}")
        bits = 32 if a.version == 4 else 128
        leaf = self._record(record)
        root = self._ipv4_start() if a.version == 4 else 0
        if a.version == 6 and self.ip_version == 4:
            raise ValueError("IPv6 range in an IPv4 database")
        for value, prefix_len in range_to_cidrs(int(a), int(b), bits):
            self._insert(root, value, prefix_len, bits, leaf)

    def to_bytes(self, build_epoch=None):
        """The complete database file."""
        node_count = len(self.left)
        largest = node_count + 16 + len(self.data)
        record_size = next(s for s in (24, 28, 32) if largest < 1 << s)

        def value(child):
            if child == 0:
                return node_count
            if child > 0:
                return child
            return node_count + 16 + (-child - 1)

        tree = bytearray()
        for left, right in zip(self.left, self.right):
            lv, rv = value(left), value(right)
            if record_size == 24:
                tree += lv.to_bytes(3, "big") + rv.to_bytes(3, "big")
            elif record_size == 28:
                middle = ((lv >> 24) << 4) | (rv >> 24)
                tree += (
                    (lv & 0xFFFFFF).to_bytes(3, "big")
                    + bytes([middle])
                    + (rv & 0xFFFFFF).to_bytes(3, "big")
                )
            else:
                tree += lv.to_bytes(4, "big") + rv.to_bytes(4, "big")
        metadata = {
            "binary_format_major_version": Uint16(2),
            "binary_format_minor_version": Uint16(0),
            "build_epoch": Uint64(_epoch() if build_epoch is None else build_epoch),
            "database_type": self.database_type,
            "description": dict(self.description),
            "ip_version": Uint16(self.ip_version),
            "languages": list(self.languages),
            "node_count": Uint32(node_count),
            "record_size": Uint16(record_size),
        }
        return bytes(tree) + bytes(16) + bytes(self.data) + METADATA_MARKER + encode(metadata)

    def write(self, path, build_epoch=None):
        """Write the database to `path`."""
        with open(path, "wb") as out:
            out.write(self.to_bytes(build_epoch))
