#!/usr/bin/env bash
# bench/compare.sh: passthrough throughput and latency of respcache against
# redis-server directly and against twemproxy (nutcracker), measured with
# redis-benchmark, written as the "passthrough" section of BENCHMARKS.md.
#
# Every number in that section comes from this run; nothing is typed by hand.
# See bench/README.md for what it measures and how to read it.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: bench/compare.sh [options]

Runs redis-benchmark (-t set,get) against three targets that share one fresh
redis-server per scenario: direct (redis-server), twemproxy (nutcracker) and
respcache (passthrough, --upstream). Targets are interleaved within a round;
medians over the rounds go into BENCHMARKS.md between
<!-- BEGIN passthrough --> and <!-- END passthrough -->.

options:
  --rounds N                 rounds (default 5)
  --quick                    smoke run: 1 round, small -n, 3-byte values only;
                             writes bench/out/quick.md unless --output is given
  --sizes LIST               value sizes for -d, comma-separated (default 3,64)
  --clients N                redis-benchmark -c (default 50)
  --pipeline N               redis-benchmark -P of the pipelined workload (default 16)
  --requests N               -n of the unpipelined workload (default 300000)
  --requests-pipelined N     -n of the pipelined workload (default 3000000)
  --output FILE              markdown file to update (default: BENCHMARKS.md at the repo root)
  --respcache-bin PATH       use this respcache binary instead of building one
  --go-build-flags "FLAGS"   extra flags for go build (e.g. "-overlay /tmp/overlay.json")
  --twemproxy-server-connections N
                             nutcracker server_connections (default 1; see bench/README.md)
  --cpus-redis LIST          run redis-server under taskset -c LIST (default: not pinned)
  --cpus-twemproxy LIST      same for nutcracker
  --cpus-respcache LIST      same for respcache
  --cpus-client LIST         same for redis-benchmark
  --bench-timeout SECONDS    limit for one redis-benchmark invocation (default 900)
  --no-install               fail instead of apt-get installing missing tools
  --keep-workdir             keep the temp dir (logs, configs, raw results)
  --gomaxprocs N             GOMAXPROCS of respcache (default 1: a one-CPU sidecar, the
                             budget single-threaded redis-server and nutcracker have;
                             0: Go's default, every core; see bench/cache.sh)
  -h, --help                 this help
EOF
}

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
ORIG_ARGS=("$@")

ROUNDS=5
QUICK=0
SIZES=3,64
SIZES_SET=0
CLIENTS=50
PIPELINE=16
REQ_UNPIPED=300000
REQ_PIPED=3000000
REQ_SET=0
OUTPUT=
RESPCACHE_BIN=
GO_BUILD_FLAGS=
TWEM_CONNS=1
CPUS_REDIS=
CPUS_TWEM=
CPUS_RESPCACHE=
CPUS_CLIENT=
BENCH_TIMEOUT=900
INSTALL=1
KEEP=0
GOMAXPROCS_RC=1

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

need_arg() { [ "$#" -ge 2 ] && [ -n "$2" ] || die "$1 needs a value (see --help)"; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

while [ "$#" -gt 0 ]; do
    case $1 in
        --rounds) need_arg "$@"; ROUNDS=$2; shift 2 ;;
        --quick) QUICK=1; shift ;;
        --sizes) need_arg "$@"; SIZES=$2; SIZES_SET=1; shift 2 ;;
        --clients) need_arg "$@"; CLIENTS=$2; shift 2 ;;
        --pipeline) need_arg "$@"; PIPELINE=$2; shift 2 ;;
        --requests) need_arg "$@"; REQ_UNPIPED=$2; REQ_SET=1; shift 2 ;;
        --requests-pipelined) need_arg "$@"; REQ_PIPED=$2; REQ_SET=1; shift 2 ;;
        --output) need_arg "$@"; OUTPUT=$2; shift 2 ;;
        --respcache-bin) need_arg "$@"; RESPCACHE_BIN=$2; shift 2 ;;
        --go-build-flags) need_arg "$@"; GO_BUILD_FLAGS=$2; shift 2 ;;
        --twemproxy-server-connections) need_arg "$@"; TWEM_CONNS=$2; shift 2 ;;
        --cpus-redis) need_arg "$@"; CPUS_REDIS=$2; shift 2 ;;
        --cpus-twemproxy) need_arg "$@"; CPUS_TWEM=$2; shift 2 ;;
        --cpus-respcache) need_arg "$@"; CPUS_RESPCACHE=$2; shift 2 ;;
        --cpus-client) need_arg "$@"; CPUS_CLIENT=$2; shift 2 ;;
        --bench-timeout) need_arg "$@"; BENCH_TIMEOUT=$2; shift 2 ;;
        --no-install) INSTALL=0; shift ;;
        --keep-workdir) KEEP=1; shift ;;
        --gomaxprocs) need_arg "$@"; GOMAXPROCS_RC=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

if [ "$QUICK" = 1 ]; then
    ROUNDS=1
    [ "$REQ_SET" = 1 ] || { REQ_UNPIPED=20000; REQ_PIPED=200000; }
    [ "$SIZES_SET" = 1 ] || SIZES=3
    [ -n "$OUTPUT" ] || OUTPUT=$BENCH_DIR/out/quick.md
fi
[ -n "$OUTPUT" ] || OUTPUT=$REPO_DIR/BENCHMARKS.md

for v in ROUNDS CLIENTS PIPELINE REQ_UNPIPED REQ_PIPED TWEM_CONNS BENCH_TIMEOUT; do
    is_uint "${!v}" && [ "${!v}" -gt 0 ] || die "$v must be a positive integer, got '${!v}'"
done
[[ $SIZES =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--sizes must be a comma-separated list of byte counts, got '$SIZES'"
IFS=, read -r -a SIZE_LIST <<<"$SIZES"

# ---------------------------------------------------------------- tools

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
    else die "need root (or passwordless sudo) to run: $*"
    fi
}

ensure_tools() {
    local missing=()
    for t in redis-server redis-cli redis-benchmark nutcracker; do
        command -v "$t" >/dev/null 2>&1 || missing+=("$t")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    [ "$INSTALL" = 1 ] || die "missing tools: ${missing[*]} (install redis-server redis-tools nutcracker, or drop --no-install)"
    command -v apt-get >/dev/null 2>&1 || die "missing tools: ${missing[*]}, and no apt-get to install them"
    log "missing ${missing[*]}: apt-get update && apt-get install -y redis-server redis-tools nutcracker"
    as_root apt-get update >&2 || die "apt-get update failed"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server redis-tools nutcracker >&2 \
        || die "apt-get install redis-server redis-tools nutcracker failed"
    # Debian puts nutcracker in /usr/sbin, which a non-root PATH may lack.
    command -v nutcracker >/dev/null 2>&1 || PATH=$PATH:/usr/sbin
    for t in redis-server redis-cli redis-benchmark nutcracker; do
        command -v "$t" >/dev/null 2>&1 || die "$t still not on PATH after apt-get install"
    done
}

command -v nutcracker >/dev/null 2>&1 || PATH=$PATH:/usr/sbin
ensure_tools
for t in timeout awk ss; do
    command -v "$t" >/dev/null 2>&1 || die "$t not found (coreutils, gawk/mawk, iproute2)"
done
if [ -n "$CPUS_REDIS$CPUS_TWEM$CPUS_RESPCACHE$CPUS_CLIENT" ]; then
    command -v taskset >/dev/null 2>&1 || die "--cpus-* needs taskset (util-linux)"
fi

# ---------------------------------------------------------------- processes

WORK=$(mktemp -d "${TMPDIR:-/tmp}/respcache-bench.XXXXXX")
PIDS=()
BENCH_PID=

stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    log "pid $pid did not stop on SIGTERM within 5s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

stop_all() {
    local pid
    [ -z "$BENCH_PID" ] || { stop_pid "$BENCH_PID"; BENCH_PID=; }
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    PIDS=()
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_all
    if [ "$KEEP" = 1 ] || [ "$rc" != 0 ]; then
        log "work dir kept: $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# alive PID: the process exists and is not a zombie.
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# pinned CPUS CMD...: run CMD, under taskset -c CPUS when CPUS is set.
pinned() {
    local cpus=$1; shift
    if [ -n "$cpus" ]; then exec taskset -c "$cpus" "$@"; else exec "$@"; fi
}

declare -A TAKEN_PORTS=()
# free_port: a loopback TCP port nobody listens on, below the default
# ephemeral range so that client sockets do not collide with it.
free_port() {
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
        [ -z "${TAKEN_PORTS[$p]:-}" ] || continue
        [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ] || continue
        if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then continue; fi
        TAKEN_PORTS[$p]=1
        echo "$p"
        return 0
    done
    die "no free loopback port found after 200 tries"
}

# wait_pong PORT PID NAME LOG: poll PING through PORT until PONG, the process
# dies, or 10s pass.
wait_pong() {
    local port=$1 pid=$2 name=$3 logf=$4 deadline=$((SECONDS + 10)) out
    while :; do
        out=$(timeout 2 redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null || true)
        [ "$out" = PONG ] && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited before answering PING on port $port; last lines of $logf:"
            tail -n 20 "$logf" >&2 || true
            return 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "$name did not answer PING on 127.0.0.1:$port within 10s; last lines of $logf:"
            tail -n 20 "$logf" >&2 || true
            return 1
        fi
        sleep 0.1
    done
}

# start_retry NAME FN: FN starts one process on a fresh port and sets
# STARTED_PORT/STARTED_PID; a lost port race (another process bound it first)
# is retried on another port.
start_retry() {
    local name=$1 fn=$2 try
    for try in 1 2 3; do
        if "$fn"; then return 0; fi
        stop_pid "$STARTED_PID"
        log "$name failed to start (try $try of 3)"
    done
    die "$name did not start; see the logs above and in $WORK"
}

start_redis() {
    local dir=$SCEN_DIR/redis
    mkdir -p "$dir"
    STARTED_PORT=$(free_port)
    (pinned "$CPUS_REDIS" redis-server --bind 127.0.0.1 --port "$STARTED_PORT" --save "" --appendonly no \
        --dir "$dir" --logfile "$dir/redis.log" --daemonize no) >"$dir/stdout.log" 2>&1 &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
    wait_pong "$STARTED_PORT" "$STARTED_PID" redis-server "$dir/redis.log"
}

start_twemproxy() {
    local dir=$SCEN_DIR/twemproxy stats
    mkdir -p "$dir"
    STARTED_PORT=$(free_port)
    stats=$(free_port)
    # One pool, one server. server_connections 1 is twemproxy's design point:
    # it multiplexes every client onto one server connection and batches
    # their requests into pipelines (README "Pipelining"). preconnect avoids
    # a connect on the first request; no timeout and no ejection keep timers
    # off the request path. See bench/README.md.
    cat >"$dir/nutcracker.yml" <<EOF
bench:
  listen: 127.0.0.1:$STARTED_PORT
  redis: true
  hash: fnv1a_64
  distribution: ketama
  preconnect: true
  auto_eject_hosts: false
  server_connections: $TWEM_CONNS
  servers:
    - 127.0.0.1:$REDIS_PORT:1
EOF
    nutcracker -t -c "$dir/nutcracker.yml" >"$dir/test-conf.log" 2>&1 \
        || { cat "$dir/test-conf.log" >&2; die "nutcracker rejected $dir/nutcracker.yml"; }
    (pinned "$CPUS_TWEM" nutcracker -c "$dir/nutcracker.yml" -o "$dir/nutcracker.log" \
        -s "$stats" -a 127.0.0.1 -p "$dir/nutcracker.pid") >"$dir/stdout.log" 2>&1 &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
    wait_pong "$STARTED_PORT" "$STARTED_PID" nutcracker "$dir/nutcracker.log"
}

start_respcache() {
    local dir=$SCEN_DIR/respcache
    mkdir -p "$dir"
    STARTED_PORT=$(free_port)
    # cwd is the scenario dir so that relative default paths (data/, journal/)
    # never land in the repository.
    # Passthrough: redis-benchmark's keys ("key:...") are in a bypass
    # namespace, so no read is answered from the cache; no admin server.
    printf 'admin_listen: ""\ncache:\n  namespaces:\n    - prefix: "key:"\n      mode: bypass\n' >"$dir/respcache.yaml"
    local env=()
    [ "$GOMAXPROCS_RC" = 0 ] || env=(env GOMAXPROCS="$GOMAXPROCS_RC")
    (cd "$dir" && pinned "$CPUS_RESPCACHE" "${env[@]}" "$RESPCACHE_BIN" --config "$dir/respcache.yaml" \
        --upstream "127.0.0.1:$REDIS_PORT" --listen "127.0.0.1:$STARTED_PORT") >"$dir/respcache.log" 2>&1 &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
    wait_pong "$STARTED_PORT" "$STARTED_PID" respcache "$dir/respcache.log"
}

start_stack() {
    SCEN_DIR=$1
    mkdir -p "$SCEN_DIR"
    start_retry redis-server start_redis
    REDIS_PORT=$STARTED_PORT REDIS_PID=$STARTED_PID
    start_retry nutcracker start_twemproxy
    TWEM_PORT=$STARTED_PORT TWEM_PID=$STARTED_PID
    start_retry respcache start_respcache
    RESPCACHE_PORT=$STARTED_PORT RESPCACHE_PID=$STARTED_PID
    # A write through each proxy must land in this redis-server.
    local t port
    for t in twemproxy respcache; do
        port=$TWEM_PORT
        [ "$t" = respcache ] && port=$RESPCACHE_PORT
        [ "$(timeout 5 redis-cli -p "$port" set "bench:probe:$t" 1 2>&1)" = OK ] \
            || die "SET through $t (port $port) did not answer OK"
        [ "$(timeout 5 redis-cli -p "$REDIS_PORT" get "bench:probe:$t" 2>&1)" = 1 ] \
            || die "SET through $t did not reach redis-server on port $REDIS_PORT"
    done
}

set_calls() {
    timeout 5 redis-cli -p "$REDIS_PORT" info commandstats 2>/dev/null \
        | awk -F'[=,:]' '/^cmdstat_set:/ {print $3; found=1} END {if (!found) print 0}'
}

# ---------------------------------------------------------------- build

if [ -z "$RESPCACHE_BIN" ]; then
    command -v go >/dev/null 2>&1 || die "go not found; install Go or pass --respcache-bin PATH"
    RESPCACHE_BIN=$WORK/respcache
    log "building respcache (go build $GO_BUILD_FLAGS -o $RESPCACHE_BIN ./cmd/respcache)"
    # shellcheck disable=SC2086 # GO_BUILD_FLAGS is a list of flags
    if ! (cd "$REPO_DIR" && go build $GO_BUILD_FLAGS -o "$RESPCACHE_BIN" ./cmd/respcache) >"$WORK/build.log" 2>&1; then
        cat "$WORK/build.log" >&2
        die "go build ./cmd/respcache failed (if a file in progress breaks the build, see --go-build-flags in bench/README.md)"
    fi
else
    [ -x "$RESPCACHE_BIN" ] || die "--respcache-bin $RESPCACHE_BIN is not an executable file"
fi
# The chart program (bench/chart) is built now so that a broken build stops
# the script before the runs, not after them. Without Go (--respcache-bin on
# a machine without it) the section is written without its chart.
CHART_BIN=
if command -v go >/dev/null 2>&1; then
    CHART_BIN=$WORK/chart
    # shellcheck disable=SC2086 # GO_BUILD_FLAGS is a list of flags
    if ! (cd "$REPO_DIR" && go build $GO_BUILD_FLAGS -o "$CHART_BIN" ./bench/chart) >"$WORK/build-chart.log" 2>&1; then
        cat "$WORK/build-chart.log" >&2
        die "go build ./bench/chart failed"
    fi
else
    log "go not found: the section will have no chart"
fi

# ---------------------------------------------------------------- facts

first_line() { "$@" 2>&1 | head -n 1 || true; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown; }

F_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
F_NPROC=$(nproc)
F_CPU=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
[ -n "$F_CPU" ] || F_CPU=$(first_line lscpu | sed 's/^.*: *//')
F_KERNEL="$(uname -sr)"
F_REDIS=$(redis-server --version | sed -E 's/.*v=([^ ]+).*/\1/')
F_BENCH=$(first_line redis-benchmark --version)
F_TWEM=$(first_line nutcracker --version | sed -E 's/^This is //')
F_GO=$( (command -v go >/dev/null && go version) || echo "n/a (prebuilt binary)")
F_RC_VERSION=$(first_line "$RESPCACHE_BIN" --version)
F_RC_REV=$(git -C "$REPO_DIR" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$REPO_DIR" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    F_RC_REV="$F_RC_REV + uncommitted changes"
fi
F_LOAD_START=$(loadavg)
pin_desc() { if [ -n "$1" ]; then echo "cpus $1"; else echo "not pinned"; fi; }
F_PIN="redis-server $(pin_desc "$CPUS_REDIS"), nutcracker $(pin_desc "$CPUS_TWEM"), respcache $(pin_desc "$CPUS_RESPCACHE"), redis-benchmark $(pin_desc "$CPUS_CLIENT")"
CMDLINE="bench/compare.sh"
for a in "${ORIG_ARGS[@]}"; do
    if [[ $a =~ ^[A-Za-z0-9_./,:=+-]+$ ]]; then CMDLINE+=" $a"
    else CMDLINE+=" '${a//\'/\'\\\'\'}'"
    fi
done

# ---------------------------------------------------------------- run

# Workloads: name|pipeline|requests|size
WORKLOADS=()
for d in "${SIZE_LIST[@]}"; do
    WORKLOADS+=("unpipelined, ${d} B values|1|$REQ_UNPIPED|$d")
    WORKLOADS+=("-P $PIPELINE, ${d} B values|$PIPELINE|$REQ_PIPED|$d")
done
TARGETS=(direct twemproxy respcache)

RAW=$WORK/raw.csv
echo "round,workload,target,test,rps,avg_ms,min_ms,p50_ms,p95_ms,p99_ms,max_ms" >"$RAW"

log "respcache: $F_RC_VERSION; redis $F_REDIS; $F_TWEM; load $F_LOAD_START; work dir $WORK"
log "$ROUNDS round(s) x ${#WORKLOADS[@]} workload(s) x ${#TARGETS[@]} targets, -c $CLIENTS"
START_SECONDS=$SECONDS

# run_bench ROUND WORKLOAD TARGET PORT PIPE N SIZE
run_bench() {
    local round=$1 wl=$2 target=$3 port=$4 pipe=$5 n=$6 size=$7
    local out=$SCEN_DIR/bench-$target.csv errf=$SCEN_DIR/bench-$target.err before after rc=0
    before=$(set_calls)
    # In the background and waited for, so that a signal reaches the traps
    # at once instead of after the run.
    (pinned "$CPUS_CLIENT" timeout "$BENCH_TIMEOUT" redis-benchmark -h 127.0.0.1 -p "$port" \
        -t set,get -c "$CLIENTS" -n "$n" -P "$pipe" -d "$size" --csv) >"$out" 2>"$errf" &
    BENCH_PID=$!
    # Watch the stack while the benchmark runs: on a shared machine someone
    # may kill processes by name, and redis-benchmark then retries its
    # connections forever instead of failing.
    local dead=
    while alive "$BENCH_PID"; do
        alive "$REDIS_PID" || dead="redis-server (pid $REDIS_PID)"
        alive "$TWEM_PID" || dead="nutcracker (pid $TWEM_PID)"
        alive "$RESPCACHE_PID" || dead="respcache (pid $RESPCACHE_PID)"
        [ -z "$dead" ] || break
        sleep 0.5
    done
    if [ -n "$dead" ]; then
        stop_pid "$BENCH_PID"
        BENCH_PID=
        log "$dead exited during the $target run (killed from outside?); this scenario's results are discarded"
        STACK_DIED=1
        return 0
    fi
    wait "$BENCH_PID" || rc=$?
    BENCH_PID=
    [ "$rc" = 0 ] || { cat "$errf" >&2; die "redis-benchmark against $target exited $rc (124 = --bench-timeout ${BENCH_TIMEOUT}s)"; }
    # twemproxy does not implement CONFIG; redis-benchmark says so and goes on.
    if grep -v -e '^WARNING: Could not fetch server CONFIG' -e '^[[:space:]]*$' "$errf" | grep -q .; then
        cat "$errf" >&2
        die "redis-benchmark against $target printed errors (round $round, $wl)"
    fi
    after=$(set_calls)
    [ $((after - before)) -ge "$n" ] \
        || die "redis-server saw $((after - before)) SETs during the $target run, expected >= $n"
    awk -F'"' -v round="$round" -v wl="$wl" -v target="$target" '
        $2 == "SET" || $2 == "GET" {
            printf "%s,\"%s\",%s,%s,%s,%s,%s,%s,%s,%s,%s\n", round, wl, target, $2, $4, $6, $8, $10, $12, $14, $16
            n++
        }
        END { if (n != 2) exit 1 }' "$out" >>"$SCEN_RAW" \
        || { cat "$out" "$errf" >&2; die "could not parse redis-benchmark --csv output of the $target run"; }
    log "  $target: $(awk -F'"' '$2 == "SET" || $2 == "GET" {printf "%s %s ops/s p99 %s ms  ", $2, $4, $14}' "$out")"
}

# A scenario whose stack loses a process mid-run (killed from outside) is
# rerun from scratch, at most twice; its partial results are dropped.
RERUNS=0
for ((r = 1; r <= ROUNDS; r++)); do
    wi=0
    for w in "${WORKLOADS[@]}"; do
        wi=$((wi + 1))
        IFS='|' read -r wl pipe n size <<<"$w"
        for ((attempt = 1; ; attempt++)); do
            log "round $r/$ROUNDS, $wl (-n $n), attempt $attempt"
            start_stack "$WORK/r$r-w$wi-a$attempt"
            SCEN_RAW=$SCEN_DIR/raw.csv
            : >"$SCEN_RAW"
            STACK_DIED=0
            for t in "${TARGETS[@]}"; do
                case $t in
                    direct) port=$REDIS_PORT ;;
                    twemproxy) port=$TWEM_PORT ;;
                    respcache) port=$RESPCACHE_PORT ;;
                esac
                run_bench "$r" "$wl" "$t" "$port" "$pipe" "$n" "$size"
                [ "$STACK_DIED" = 0 ] || break
            done
            stop_all
            if [ "$STACK_DIED" = 0 ]; then
                cat "$SCEN_RAW" >>"$RAW"
                break
            fi
            RERUNS=$((RERUNS + 1))
            [ "$attempt" -lt 3 ] || die "a process of the stack died in 3 attempts of round $r, $wl; giving up"
        done
    done
done

WALL=$((SECONDS - START_SECONDS))
F_LOAD_END=$(loadavg)
mkdir -p "$BENCH_DIR/out"
RAW_KEEP=$BENCH_DIR/out/passthrough-$(date -u +%Y%m%dT%H%M%SZ).csv
cp "$RAW" "$RAW_KEEP"
cp "$RAW" "$BENCH_DIR/out/passthrough-latest.csv"
log "runs done in ${WALL}s; raw results: $RAW_KEEP"

# ---------------------------------------------------------------- report

SECTION=$WORK/section.md
R_CMD=$CMDLINE R_DATE=$F_DATE R_CPU=$F_CPU R_KERNEL=$F_KERNEL R_REDIS=$F_REDIS R_BENCH=$F_BENCH \
R_TWEM=$F_TWEM R_GO=$F_GO R_RCVER=$F_RC_VERSION R_RCREV=$F_RC_REV R_LOAD0=$F_LOAD_START \
R_LOAD1=$F_LOAD_END R_PIN=$F_PIN R_RERUNS=$RERUNS R_RAW="bench/out/${RAW_KEEP##*/}" \
awk -F, -v rounds="$ROUNDS" -v quick="$QUICK" -v nproc="$F_NPROC" -v wall="$WALL" \
    -v clients="$CLIENTS" -v nun="$REQ_UNPIPED" -v npip="$REQ_PIPED" -v pipeline="$PIPELINE" \
    -v twconns="$TWEM_CONNS" -v gmp="$([ "$GOMAXPROCS_RC" = 0 ] && echo "Go's default (all cores)" || echo "$GOMAXPROCS_RC")" '
BEGIN {
    cmd = ENVIRON["R_CMD"]; date = ENVIRON["R_DATE"]; cpu = ENVIRON["R_CPU"]; kernel = ENVIRON["R_KERNEL"]
    redis = ENVIRON["R_REDIS"]; rbench = ENVIRON["R_BENCH"]; twem = ENVIRON["R_TWEM"]; gov = ENVIRON["R_GO"]
    rcver = ENVIRON["R_RCVER"]; rcrev = ENVIRON["R_RCREV"]; load0 = ENVIRON["R_LOAD0"]; load1 = ENVIRON["R_LOAD1"]
    pin = ENVIRON["R_PIN"]; rawname = ENVIRON["R_RAW"]; reruns = ENVIRON["R_RERUNS"] + 0
}
function median(arr, k,    i, j, t, a) {
    for (i = 1; i <= k; i++) a[i] = arr[i] + 0
    for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
function minof(arr, k,    i, m) { m = arr[1] + 0; for (i = 2; i <= k; i++) if (arr[i] + 0 < m) m = arr[i] + 0; return m }
function maxof(arr, k,    i, m) { m = arr[1] + 0; for (i = 2; i <= k; i++) if (arr[i] + 0 > m) m = arr[i] + 0; return m }
function commas(x,    s, neg) {
    x = sprintf("%.0f", x); neg = ""
    if (x ~ /^-/) { neg = "-"; x = substr(x, 2) }
    s = ""
    while (length(x) > 3) { s = "," substr(x, length(x) - 2) s; x = substr(x, 1, length(x) - 3) }
    return neg x s
}
function pct(x) { return sprintf("%.0f%%", 100 * x) }
NR == 1 { next }
{
    # the workload field is quoted and contains a comma
    line = $0
    match(line, /"[^"]*"/); wl = substr(line, RSTART + 1, RLENGTH - 2)
    rest = substr(line, RSTART + RLENGTH + 1)
    split(rest, f, ",")
    target = f[1]; test = f[2]
    key = wl SUBSEP test SUBSEP target
    if (!(wl in wlseen)) { wlseen[wl] = 1; wlorder[++nwl] = wl }
    c = ++cnt[key]
    rps[key, c] = f[3]; p50[key, c] = f[6]; p99[key, c] = f[8]
}
END {
    ntg = split("direct twemproxy respcache", tg, " ")
    ntest = split("SET GET", tests, " ")
    for (w = 1; w <= nwl; w++) for (s = 1; s <= ntest; s++) for (t = 1; t <= ntg; t++) {
        key = wlorder[w] SUBSEP tests[s] SUBSEP tg[t]; k = cnt[key]
        delete v1; delete v2; delete v3
        for (i = 1; i <= k; i++) { v1[i] = rps[key, i]; v2[i] = p50[key, i]; v3[i] = p99[key, i] }
        MED[key] = median(v1, k); MIN[key] = minof(v1, k); MAX[key] = maxof(v1, k)
        P50[key] = median(v2, k); P99[key] = median(v3, k)
        SPREAD[key] = (MED[key] > 0) ? (MAX[key] - MIN[key]) / MED[key] : 0
    }

    print "## Passthrough: respcache vs redis-server vs twemproxy"
    print ""
    if (quick) {
        print "> **Smoke run (`--quick`)**: one round with a small `-n`. It checks that the harness works;"
        print "> its numbers are not a measurement."
        print ""
    }
    print "Generated by `bench/compare.sh` in a run started " date "; do not edit by hand. Reproduce from the repository root with:"
    print ""
    print "```sh"
    print cmd
    print "```"
    print ""
    print "| | |"
    print "|---|---|"
    print "| machine | " nproc " CPUs, " cpu ", " kernel " |"
    print "| load average (1/5/15 min) | " load0 " at start, " load1 " at end |"
    print "| redis-server | " redis " (`--save \"\" --appendonly no`) |"
    print "| redis-benchmark | " rbench " |"
    print "| twemproxy | " twem ", one pool, `server_connections: " twconns "`, `preconnect: true` |"
    print "| respcache | " rcver ", git " rcrev "; `--upstream` passthrough: the benchmark keys in a `bypass` namespace, so nothing is answered from the cache; GOMAXPROCS=" gmp " |"
    print "| go | " gov " |"
    print "| CPU pinning | " pin " |"
    print "| method | `redis-benchmark -t set,get -c " clients "`, `-n " nun "` unpipelined and `-n " npip "` with `-P " pipeline "`; " rounds " round(s); each round starts a fresh redis-server, nutcracker and respcache per workload and runs direct, twemproxy, respcache in turn against the same redis-server; wall time " wall " s" (reruns ? "; " reruns " scenario(s) rerun from scratch because a process died during them" : "") "; raw per-run numbers in `" rawname "` (not committed) |"
    print ""
    print "Throughput: median ops/s over the rounds, [min-max] across rounds; ratios are of the medians."
    print ""
    print "| workload | cmd | direct | twemproxy | respcache | respcache / direct | respcache / twemproxy |"
    print "|---|---|---:|---:|---:|---:|---:|"
    for (w = 1; w <= nwl; w++) for (s = 1; s <= ntest; s++) {
        row = "| " wlorder[w] " | " tests[s]
        for (t = 1; t <= ntg; t++) {
            key = wlorder[w] SUBSEP tests[s] SUBSEP tg[t]
            cell = commas(MED[key])
            if (rounds > 1) cell = cell " [" commas(MIN[key]) "-" commas(MAX[key]) "]"
            row = row " | " cell
        }
        kd = wlorder[w] SUBSEP tests[s] SUBSEP "direct"
        kt = wlorder[w] SUBSEP tests[s] SUBSEP "twemproxy"
        kr = wlorder[w] SUBSEP tests[s] SUBSEP "respcache"
        print row " | " sprintf("%.2f", MED[kr] / MED[kd]) " | " sprintf("%.2f", MED[kr] / MED[kt]) " |"
    }
    print ""
    print "Latency in ms as redis-benchmark reports it: median over the rounds of each run'"'"'s p50 and p99. redis-benchmark times a batch from its first write to the first bytes of the first reply and records that for every command of the batch, so with `-P` these are per pipeline, not per command."
    print ""
    print "| workload | cmd | direct p50 | direct p99 | twemproxy p50 | twemproxy p99 | respcache p50 | respcache p99 |"
    print "|---|---|---:|---:|---:|---:|---:|---:|"
    for (w = 1; w <= nwl; w++) for (s = 1; s <= ntest; s++) {
        row = "| " wlorder[w] " | " tests[s]
        for (t = 1; t <= ntg; t++) {
            key = wlorder[w] SUBSEP tests[s] SUBSEP tg[t]
            row = row " | " sprintf("%.3f", P50[key]) " | " sprintf("%.3f", P99[key])
        }
        print row " |"
    }
    print ""

    # The reading: every statement below is computed from the table above.
    rdmin = 1e9; rdmax = 0; tdmin = 1e9; tdmax = 0; win = 0; lose = 0; tie = 0; rows = 0; maxsp = 0; sumsp = 0; nsp = 0
    winl = ""; losel = ""; tiel = ""
    for (w = 1; w <= nwl; w++) for (s = 1; s <= ntest; s++) {
        kd = wlorder[w] SUBSEP tests[s] SUBSEP "direct"
        kt = wlorder[w] SUBSEP tests[s] SUBSEP "twemproxy"
        kr = wlorder[w] SUBSEP tests[s] SUBSEP "respcache"
        rows++
        r = MED[kr] / MED[kd]
        q = MED[kt] / MED[kd]
        if (q < tdmin) tdmin = q
        if (q > tdmax) tdmax = q
        if (r < rdmin) { rdmin = r; rdminl = wlorder[w] " " tests[s] }
        if (r > rdmax) { rdmax = r; rdmaxl = wlorder[w] " " tests[s] }
        label = wlorder[w] " " tests[s] " (" sprintf("%.2f", MED[kr] / MED[kt]) ")"
        if (rounds > 1 && MIN[kr] > MAX[kt]) { win++; winl = winl (winl == "" ? "" : "; ") label }
        else if (rounds > 1 && MAX[kr] < MIN[kt]) { lose++; losel = losel (losel == "" ? "" : "; ") label }
        else if (rounds == 1 && MED[kr] > MED[kt]) { win++; winl = winl (winl == "" ? "" : "; ") label }
        else if (rounds == 1 && MED[kr] < MED[kt]) { lose++; losel = losel (losel == "" ? "" : "; ") label }
        else { tie++; tiel = tiel (tiel == "" ? "" : "; ") label }
        for (t = 1; t <= ntg; t++) {
            key = wlorder[w] SUBSEP tests[s] SUBSEP tg[t]
            if (SPREAD[key] > maxsp) { maxsp = SPREAD[key]; maxspl = tg[t] ", " wlorder[w] " " tests[s] }
            sumsp += SPREAD[key]; nsp++
        }
    }
    para = "**Reading.** Through either proxy every command makes one more hop (client, proxy, redis-server). respcache reaches " \
        pct(rdmin) " (" rdminl ") to " pct(rdmax) " (" rdmaxl ") of direct redis-server'"'"'s ops/s; twemproxy reaches " \
        pct(tdmin) " to " pct(tdmax) ". "
    if (rounds > 1) {
        para = para "Against twemproxy, counting a difference only where the min-max ranges across rounds do not overlap: respcache is ahead in " win " of " rows " rows" (win ? " (" winl ")" : "") \
            ", behind in " lose (lose ? " (" losel ")" : "") \
            ", and indistinguishable in " tie (tie ? " (" tiel ")" : "") ". "
        para = para "Noise: the min-max spread across rounds is " pct(sumsp / nsp) " of the median on average and up to " pct(maxsp) " (" maxspl "); "
    } else {
        para = para "Against twemproxy (single round, so no noise estimate): respcache is ahead in " win " of " rows " rows" (win ? " (" winl ")" : "") \
            " and behind in " lose (lose ? " (" losel ")" : "") (tie ? ", equal in " tie : "") ". "
        para = para "One round gives no spread, so none of these differences can be told from noise; "
    }
    para = para "the load average was " load0 " at the start and " load1 " at the end on " nproc " CPUs, and redis-benchmark, the proxy and redis-server share those CPUs, so a proxy'"'"'s CPU use also slows the client and the server. "
    para = para "Read the ratios, not the absolute numbers, and treat differences smaller than the spread as noise. This measures the forwarding path only: no read is answered from respcache'"'"'s cache here."
    print para
}' "$RAW" >"$SECTION" || die "could not render the markdown section"

# The chart goes to bench/charts/ beside the markdown file, so that the
# section's relative link resolves wherever --output points; a failed chart
# leaves the section without it and fails the script at the end.
CHART_FAILED=0
if [ -n "$CHART_BIN" ]; then
    CHART_PNG=$(dirname "$OUTPUT")/bench/charts/passthrough.png
    if "$CHART_BIN" -in "$BENCH_DIR/out/passthrough-latest.csv" -kind passthrough -clients "$CLIENTS" \
        -pipeline "$PIPELINE" -requests "$REQ_UNPIPED, $REQ_PIPED pipelined" -out "$CHART_PNG"; then
        log "chart: $CHART_PNG"
        printf '\n![Passthrough: median ops/s and p99 latency of redis-server, twemproxy and respcache, min-max across rounds](bench/charts/passthrough.png)\n' >>"$SECTION"
    else
        CHART_FAILED=1
    fi
fi

# Replace the section between the markers (or append it); everything else in
# the file is kept as it is.
BEGIN_MARK='<!-- BEGIN passthrough -->'
END_MARK='<!-- END passthrough -->'
mkdir -p "$(dirname "$OUTPUT")"
if [ ! -f "$OUTPUT" ]; then
    cat >"$OUTPUT" <<'EOF'
# Benchmarks

How respcache performs against redis-server and against its peer proxy, twemproxy. Each
section below is generated by the script it names, with the exact command that reproduces
it; sections between `<!-- BEGIN … -->` and `<!-- END … -->` markers are rewritten by those
scripts, so do not edit them by hand. See bench/README.md for how to run and read them.

EOF
fi
begins=$(grep -cxF -- "$BEGIN_MARK" "$OUTPUT" || true)
ends=$(grep -cxF -- "$END_MARK" "$OUTPUT" || true)
NEW=$WORK/output.md
if [ "$begins" = 0 ] && [ "$ends" = 0 ]; then
    { cat "$OUTPUT"; echo "$BEGIN_MARK"; cat "$SECTION"; echo "$END_MARK"; } >"$NEW"
elif [ "$begins" = 1 ] && [ "$ends" = 1 ]; then
    awk -v b="$BEGIN_MARK" -v e="$END_MARK" -v sec="$SECTION" '
        $0 == b { print; while ((getline l < sec) > 0) print l; skip = 1; next }
        $0 == e { skip = 0 }
        !skip { print }' "$OUTPUT" >"$NEW"
else
    die "$OUTPUT has $begins '$BEGIN_MARK' and $ends '$END_MARK' lines; expected one of each (or none)"
fi
cat "$NEW" >"$OUTPUT"
log "wrote the passthrough section to $OUTPUT (wall time ${WALL}s for the runs)"
[ "$CHART_FAILED" = 0 ] || die "bench/chart failed (see above); the section was written without its chart"
