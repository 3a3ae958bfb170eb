#!/usr/bin/env python3
"""Build an ASN .mmdb from @ip-location-db range CSVs (first,last,asn,organization).

The ASN data of ip-location-db is published in the npm registry as CSV only, so
dev/geo/install.sh converts it with this script. The result uses the layout that both
MaxMind's GeoLite2-ASN and ip-location-db's own ASN mmdb files use: records
{autonomous_system_number: uint32, autonomous_system_organization: string}.

Usage: csv2mmdb.py OUT.mmdb IPV4.csv [IPV6.csv ...]
"""

import csv
import ipaddress
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmdbwriter  # noqa: E402


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    out, inputs = argv[1], argv[2:]
    writer = mmdbwriter.Writer(
        "ip-location-db-asn",
        ip_version=6,
        description={"en": "ASN (RouteViews, NRO, DB-IP lite) from @ip-location-db/asn"},
    )
    records = {}
    rows = 0
    for path in inputs:
        with open(path, newline="", encoding="utf-8") as f:
            for line, row in enumerate(csv.reader(f), start=1):
                if not row:
                    continue
                if len(row) < 3:
                    raise SystemExit(f"{path}:{line}: expected first,last,asn[,organization]")
                first, last, asn = row[0], row[1], row[2]
                org = row[3].strip() if len(row) > 3 else ""
                key = (asn, org)
                record = records.get(key)
                if record is None:
                    record = {"autonomous_system_number": mmdbwriter.Uint32(int(asn))}
                    if org:
                        record["autonomous_system_organization"] = org
                    records[key] = record
                a, b = ipaddress.ip_address(first), ipaddress.ip_address(last)
                bits = 32 if a.version == 4 else 128
                if a.version != b.version or int(a) > int(b):
                    raise SystemExit(f"{path}:{line}: bad range {first}-{last}")
                for value, prefix_len in mmdbwriter.range_to_cidrs(int(a), int(b), bits):
                    writer.insert_int(a.version, value, prefix_len, record)
                rows += 1
    tmp = out + ".tmp"
    writer.write(tmp)
    os.replace(tmp, out)
    print(f"{out}: {rows} ranges, {len(writer.left)} nodes, {len(writer.data)} data bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
