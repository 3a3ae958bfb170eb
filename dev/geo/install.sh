#!/usr/bin/env bash
# Install the default, freely licensed GeoIP country and ASN databases.
#
#   dev/geo/install.sh [--force]        (what `make geo` runs)
#
# Reads the pins in dev/geo/pins.tsv, fetches each pinned npm tarball with `npm pack`
# into a cache outside the repository, checks it against the pinned sha512 integrity,
# and installs into the target directory:
#   country.mmdb   from @ip-location-db/geo-whois-asn-country-mmdb (IPv4+IPv6)
#   asn.mmdb       built from the @ip-location-db/asn CSVs by dev/geo/csv2mmdb.py
#   LICENSES.md    attribution notice; licenses/<package>/ the packages' licence files
#   .installed     stamp: a second run with the same pins returns at once
#
# Environment:
#   NETSENSOR_GEO_DIR    target directory   (default: <repo>/.cache/geo, gitignored)
#   NETSENSOR_GEO_CACHE  tarball cache      (default: ${XDG_CACHE_HOME:-~/.cache}/netsensor/geo)
# Needs: bash, npm, tar, python3 (standard library only).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${NETSENSOR_GEO_DIR:-$repo/.cache/geo}"
cache="${NETSENSOR_GEO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/netsensor/geo}"
pins="$here/pins.tsv"
force=0

for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

die() { echo "install.sh: $*" >&2; exit 1; }

for tool in npm tar python3; do
    command -v "$tool" >/dev/null || die "$tool is required but not installed"
done

# The stamp covers the pins and the converter, so changing either reinstalls.
stamp="$(cat "$pins" "$here/csv2mmdb.py" "$here/mmdbwriter.py" | python3 -c \
    'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
if [[ $force == 0 && -f "$target/.installed" && -f "$target/country.mmdb" && -f "$target/asn.mmdb" ]] \
    && [[ "$(cat "$target/.installed")" == "$stamp" ]]; then
    echo "GeoIP databases in $target are up to date."
    exit 0
fi

# integrity FILE SRI: succeeds when FILE's sha512 matches the npm "sha512-<base64>" value.
integrity() {
    python3 - "$1" "$2" <<'PY'
import base64, hashlib, sys
path, want = sys.argv[1], sys.argv[2]
algo, _, digest = want.partition("-")
if algo != "sha512":
    sys.exit(f"unsupported integrity algorithm {algo!r}")
h = hashlib.sha512()
with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
sys.exit(0 if base64.b64encode(h.digest()).decode() == digest else 1)
PY
}

# fetch PACKAGE VERSION SRI: prints the path of the verified tarball in the cache.
fetch() {
    local pkg="$1" version="$2" sri="$3"
    local file
    file="$cache/$(echo "${pkg#@}" | tr '/' '-')-$version.tgz"
    if [[ -f "$file" ]]; then
        if integrity "$file" "$sri"; then
            echo "$file"
            return
        fi
        echo "install.sh: cached $file does not match its pinned integrity; fetching again" >&2
        rm -f "$file"
    fi
    local tmp
    tmp="$(mktemp -d "$cache/.pack.XXXXXX")"
    echo "Fetching $pkg@$version ..." >&2
    if ! (cd "$tmp" && npm pack "$pkg@$version" --silent >/dev/null); then
        rm -rf "$tmp"
        die "npm pack $pkg@$version failed"
    fi
    local packed=("$tmp"/*.tgz)
    [[ -f "${packed[0]}" ]] || { rm -rf "$tmp"; die "npm pack $pkg@$version produced no tarball"; }
    if ! integrity "${packed[0]}" "$sri"; then
        rm -rf "$tmp"
        die "$pkg@$version does not match the integrity pinned in $pins"
    fi
    mv "${packed[0]}" "$file"
    rm -rf "$tmp"
    echo "$file"
}

mkdir -p "$cache" "$target"
stage="$(mktemp -d "$target/.stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/licenses"

notice="$stage/LICENSES.md"
cat >"$notice" <<'EOF'
# Licences of the installed GeoIP databases

Installed by dev/geo/install.sh from the npm registry; the files under licenses/ are the
packages' own licence texts. Keep this directory's notices with the databases when
redistributing them.

EOF

while IFS=$'\t' read -r role pkg version sri; do
    [[ -z "$role" || "$role" == \#* ]] && continue
    tarball="$(fetch "$pkg" "$version" "$sri")"
    unpack="$stage/unpack-$role"
    mkdir -p "$unpack"
    tar -xzf "$tarball" -C "$unpack"
    licdir="$stage/licenses/$(echo "${pkg#@}" | tr '/' '-')"
    mkdir -p "$licdir"
    for f in "$unpack"/package/*LICENSE* "$unpack"/package/MODIFICATIONS "$unpack"/package/package.json; do
        [[ -f "$f" ]] && cp "$f" "$licdir/"
    done
    declared="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("license", "?"))' \
        "$unpack/package/package.json")"
    case "$role" in
        country)
            mmdb="$unpack/package/geo-whois-asn-country.mmdb"
            [[ -f "$mmdb" ]] || die "$pkg@$version has no geo-whois-asn-country.mmdb"
            mv "$mmdb" "$stage/country.mmdb"
            cat >>"$notice" <<EOF
## country.mmdb: $pkg@$version

Package licence: $declared. Data sources: GeoFeed, and the five RIRs' WHOIS and
IP-ASN-country statistics published by the NRO under CC BY 4.0 (attribution: nro.net).

EOF
            ;;
        asn)
            csvs=("$unpack"/package/asn-ipv4.csv "$unpack"/package/asn-ipv6.csv)
            for f in "${csvs[@]}"; do [[ -f "$f" ]] || die "$pkg@$version has no $(basename "$f")"; done
            echo "Building asn.mmdb from $pkg@$version (about 10 s) ..." >&2
            # build_epoch from the version's date stamp (2.3.YYYYMMDDHH), for a reproducible file.
            epoch=0
            if [[ "$version" =~ \.([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})$ ]]; then
                r=("${BASH_REMATCH[@]}")
                epoch="$(date -u -d "${r[1]}-${r[2]}-${r[3]} ${r[4]}:00:00" +%s)"
            fi
            SOURCE_DATE_EPOCH="$epoch" python3 "$here/csv2mmdb.py" "$stage/asn.mmdb" "${csvs[@]}" >&2
            cat >>"$notice" <<EOF
## asn.mmdb: built from $pkg@$version

Package licence: $declared. Converted from the package's CSV files to MMDB by
dev/geo/csv2mmdb.py, without changing any value. Data: RouteViews (CC BY 4.0,
attribution: routeviews.org), NRO RIR statistics (CC BY 4.0, attribution: nro.net) and
the DB-IP IP to ASN Lite database (CC BY 4.0, attribution: "IP Geolocation by DB-IP",
https://db-ip.com).

EOF
            ;;
        *) die "unknown role '$role' in $pins" ;;
    esac
    rm -rf "$unpack"
done <"$pins"

[[ -f "$stage/country.mmdb" && -f "$stage/asn.mmdb" ]] || die "$pins must pin a country and an asn package"

rm -f "$target/.installed"
rm -rf "$target/licenses"
mv "$stage/licenses" "$target/licenses"
for f in country.mmdb asn.mmdb LICENSES.md; do
    mv -f "$stage/$f" "$target/$f"
done
echo "$stamp" >"$target/.installed"
echo "Installed GeoIP databases into $target:"
ls -l "$target"/*.mmdb
