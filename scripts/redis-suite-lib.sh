# shellcheck shell=bash
# Shared helpers for scripts/redis-suite.sh and scripts/redis-suite-compare.sh.
# Sourced, not executed.

REDIS_SUITE_VERSION=7.0.15
SCRIPTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPTS_DIR/.." && pwd)
# Cache of the Debian source package (git-ignored: /scripts/.redis-src/).
REDIS_SRC_CACHE=${REDIS_SRC_CACHE:-$SCRIPTS_DIR/.redis-src}
REDIS_SUITE_DIR=$REDIS_SRC_CACHE/redis-$REDIS_SUITE_VERSION

# Units of the acceptance criterion (all exist in 7.0.15's tests/unit):
# data types (unit/type/*, which includes the stream units), expire, keyspace,
# transactions (multi), pub/sub (pubsub, pubsubshard), protocol, scan, sort,
# bitmaps (bitops, bitfield), HyperLogLog, geo, scripting, functions, tracking.
# tests/unit/type/list-common.tcl is a helper sourced by the list units, not a unit.
DEFAULT_UNITS="unit/type/string unit/type/incr unit/type/list unit/type/list-2
unit/type/list-3 unit/type/set unit/type/zset unit/type/hash unit/type/stream
unit/type/stream-cgroups unit/expire unit/keyspace unit/multi unit/pubsub
unit/pubsubshard unit/protocol unit/scan unit/sort unit/bitops unit/bitfield
unit/hyperloglog unit/geo unit/scripting unit/functions unit/tracking"

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root (or sudo) to run: $*"
    fi
}

apt_install() {
    log "apt-get install $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2 \
        || die "apt-get install $* failed"
}

have_tclsh() {
    # runtest looks for tclsh8.5 / tclsh8.6 / tclsh8.7 in PATH.
    command -v tclsh8.6 >/dev/null 2>&1 || command -v tclsh8.5 >/dev/null 2>&1 \
        || command -v tclsh8.7 >/dev/null 2>&1
}

# Echo the Debian source versions of "redis" whose upstream version is 7.0.15.
redis_src_versions() {
    apt-cache showsrc redis 2>/dev/null | awk '/^Version:/ {print $2}' \
        | grep -E "^([0-9]+:)?${REDIS_SUITE_VERSION//./\\.}-" | sort -u
}

# Make deb-src entries available, mirroring the existing deb entries, in a
# separate file. Only done when apt knows no 7.0.15 source package yet.
ensure_deb_src() {
    if [ -n "$(redis_src_versions)" ]; then return 0; fi
    local d=/etc/apt/sources.list.d
    if [ -f "$d/debian.sources" ]; then
        local f=$d/respcache-redis-src.sources
        log "adding deb-src entries mirroring $d/debian.sources in $f"
        sed -E 's/^Types:.*$/Types: deb-src/' "$d/debian.sources" | as_root tee "$f" >/dev/null
    elif [ -f /etc/apt/sources.list ] && grep -qE '^deb ' /etc/apt/sources.list; then
        local f=$d/respcache-redis-src.list
        log "adding deb-src lines mirroring /etc/apt/sources.list in $f"
        sed -nE 's/^deb (.*)$/deb-src \1/p' /etc/apt/sources.list | as_root tee "$f" >/dev/null
    else
        die "no Debian apt sources found to mirror as deb-src"
    fi
    log "apt-get update"
    as_root apt-get update >&2 || die "apt-get update failed"
    [ -n "$(redis_src_versions)" ] || die "no redis $REDIS_SUITE_VERSION source package in the Debian mirrors"
}

# Obtain (once) the Redis 7.0.15 Debian source package, with its tests/, in
# $REDIS_SUITE_DIR. Idempotent: a completed extraction is marked .respcache-ready.
ensure_suite() {
    if [ -f "$REDIS_SUITE_DIR/.respcache-ready" ]; then
        have_tclsh || apt_install tcl
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found (Debian required)"
    ensure_deb_src
    command -v dpkg-source >/dev/null 2>&1 || apt_install dpkg-dev
    have_tclsh || apt_install tcl
    command -v xz >/dev/null 2>&1 || apt_install xz-utils

    # Prefer the source of the installed redis-server (Debian patches included),
    # else the highest 7.0.15 revision in the mirror.
    local versions want="" inst
    versions=$(redis_src_versions)
    inst=$(dpkg-query -W -f='${Version}' redis-server 2>/dev/null || true)
    if [ -n "$inst" ] && grep -qxF "$inst" <<<"$versions"; then
        want=$inst
    else
        want=$(tr ' ' '\n' <<<"$versions" | sort -V | tail -1)
    fi
    log "fetching Debian source package redis=$want"
    mkdir -p "$REDIS_SRC_CACHE"
    local tmp
    tmp=$(mktemp -d "$REDIS_SRC_CACHE/.dl.XXXXXX")
    chmod 755 "$tmp"
    (cd "$tmp" && apt-get source "redis=$want" >&2) || { rm -rf "$tmp"; die "apt-get source redis=$want failed"; }
    [ -d "$tmp/redis-$REDIS_SUITE_VERSION/tests" ] || { rm -rf "$tmp"; die "no tests/ in the source package"; }
    local got
    got=$(sed -nE 's/^#define REDIS_VERSION "(.*)"/\1/p' "$tmp/redis-$REDIS_SUITE_VERSION/src/version.h")
    [ "$got" = "$REDIS_SUITE_VERSION" ] || { rm -rf "$tmp"; die "source says version '$got', want $REDIS_SUITE_VERSION"; }
    rm -rf "$REDIS_SUITE_DIR"
    mv "$tmp/redis-$REDIS_SUITE_VERSION" "$REDIS_SUITE_DIR"
    mkdir -p "$REDIS_SRC_CACHE/packages"
    mv "$tmp"/*.dsc "$tmp"/*.tar.* "$REDIS_SRC_CACHE/packages/" 2>/dev/null || true
    rm -rf "$tmp"
    echo "$want" >"$REDIS_SUITE_DIR/.respcache-debian-version"
    touch "$REDIS_SUITE_DIR/.respcache-ready"
    log "suite ready in $REDIS_SUITE_DIR (redis $got, Debian $want)"
}

suite_debian_version() { cat "$REDIS_SUITE_DIR/.respcache-debian-version" 2>/dev/null || echo unknown; }

# Pick a TCP port no socket uses, below the kernel's ephemeral range (the
# suite opens many client connections whose source ports would collide) and
# outside runtest's own 21079-29111 range.
port_in_use() {
    if command -v ss >/dev/null 2>&1; then
        [ -n "$(ss -Htan "sport = :$1" 2>/dev/null)" ]
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}
free_port() {
    local low p i
    low=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    [ "$low" -gt 21000 ] && low=21000
    for i in $(seq 1 200); do
        p=$((10000 + RANDOM % (low - 10000)))
        port_in_use "$p" || { echo "$p"; return 0; }
    done
    die "no free port found"
}

# wait_port HOST PORT SECONDS: wait until a TCP connect succeeds.
wait_port() {
    local h=$1 p=$2 t=${3:-10} i
    for i in $(seq 1 $((t * 10))); do
        if (exec 3<>"/dev/tcp/$h/$p") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}
