#!/usr/bin/env bash
# bench/disk.sh: respcache on its embedded disk store (store/disk, pebble,
# the memory cache in front) measured against redis-server with an
# append-only file, for speed and for memory. Writes the "disk" section of
# BENCHMARKS.md between <!-- BEGIN disk --> and <!-- END disk -->.
#
#   bench/disk.sh [--rounds N] [--requests N] [--clients N] [--keyspace N]
#                 [--mem-quota-mib N] [--mem-block-cache-mib N] [--mem-memtable-mib N]
#                 [--mem-value-size N] [--mem-factor F] [--mem-clients N]
#                 [--mem-read-seconds N] [--skip-speed] [--skip-memory] [--output FILE]
#
# Speed: redis-benchmark -c CLIENTS -n REQUESTS -r KEYSPACE, unpipelined,
# -t set,get and then -t incr,lpush,hset,sadd,zadd (respcache's cache
# counters are read in between, for the GETs' hit ratio), against
#   redis     redis-server --appendonly yes --appendfsync everysec --save ''
#   respcache respcache, backend.type disk, backend.disk.fsync everysec,
#             everything else default (cache.max_memory 256MiB)
# Every round starts a fresh process (and an empty data directory) per
# target; the order of the targets alternates from round to round, so a burst
# of load from elsewhere hits one run of each rather than every run of one.
# The table shows medians over the rounds, the min-max range, the ratio of
# the medians and whether it meets the goal (GET >= 1.0x, writes >= 0.5x).
#
# Memory: one respcache on the disk store with cache.max_memory QUOTA and
# backend.disk.block_cache / memtable set explicitly; `respcache bench`
# writes FACTOR x QUOTA of values through it (SET, pipelined), then reads
# them back with a Zipf(0.99) and then a uniform GET load. A sampler reads
# /proc/PID/status (VmRSS, VmHWM) every 100ms for the whole life of the
# process. The bound is QUOTA + block_cache + memtable + 64MiB; the verdict
# uses the peak: the larger of the kernel's VmHWM at the end and the largest
# sample. Each sample also records pebble's memtable and block cache bytes
# (INFO memory), to show where the memory went.
set -euo pipefail
REPO_DIR=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=3 REQUESTS=200000 CLIENTS=50 KEYSPACE=100000 OUTPUT=$REPO_DIR/BENCHMARKS.md
MEM_QUOTA_MIB=64 MEM_BLOCK_MIB=32 MEM_MEMTABLE_MIB=32 MEM_VALUE=4096 MEM_FACTOR=10.5 MEM_CLIENTS=16 MEM_READ_SECONDS=20
SKIP_SPEED=0 SKIP_MEMORY=0
# respcache's GOMAXPROCS (0: Go's default, every core); see bench/cache.sh
# for why a one-CPU sidecar is the comparison with single-threaded Redis.
GOMAXPROCS_RC=1
ARGS_SEEN=("$@")
usage() {
	echo "usage: $0 [--rounds N] [--requests N] [--clients N] [--keyspace N] [--mem-quota-mib N] [--mem-block-cache-mib N] [--mem-memtable-mib N] [--mem-value-size N] [--mem-factor F] [--mem-clients N] [--mem-read-seconds N] [--skip-speed] [--skip-memory] [--output FILE]" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) ROUNDS=$2; shift 2 ;;
	--requests) REQUESTS=$2; shift 2 ;;
	--clients) CLIENTS=$2; shift 2 ;;
	--keyspace) KEYSPACE=$2; shift 2 ;;
	--mem-quota-mib) MEM_QUOTA_MIB=$2; shift 2 ;;
	--mem-block-cache-mib) MEM_BLOCK_MIB=$2; shift 2 ;;
	--mem-memtable-mib) MEM_MEMTABLE_MIB=$2; shift 2 ;;
	--mem-value-size) MEM_VALUE=$2; shift 2 ;;
	--mem-factor) MEM_FACTOR=$2; shift 2 ;;
	--mem-clients) MEM_CLIENTS=$2; shift 2 ;;
	--mem-read-seconds) MEM_READ_SECONDS=$2; shift 2 ;;
	--skip-speed) SKIP_SPEED=1; shift ;;
	--skip-memory) SKIP_MEMORY=1; shift ;;
	--gomaxprocs) GOMAXPROCS_RC=$2; shift 2 ;;
	--output) OUTPUT=$2; shift 2 ;;
	*) usage ;;
	esac
done
for n in "$ROUNDS" "$REQUESTS" "$CLIENTS" "$KEYSPACE" "$MEM_QUOTA_MIB" "$MEM_BLOCK_MIB" "$MEM_MEMTABLE_MIB" "$MEM_VALUE" "$MEM_CLIENTS" "$MEM_READ_SECONDS"; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "disk.sh: $n: want a positive integer" >&2; usage; }
done
[[ $MEM_FACTOR =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "disk.sh: --mem-factor $MEM_FACTOR: want a number" >&2; usage; }
[ "$MEM_MEMTABLE_MIB" -lt 4096 ] || { echo "disk.sh: --mem-memtable-mib must be below 4096" >&2; exit 2; }
if [ $SKIP_SPEED = 1 ] && [ $SKIP_MEMORY = 1 ]; then echo "disk.sh: nothing to do" >&2; exit 2; fi
for t in redis-server redis-cli redis-benchmark go python3; do
	command -v $t >/dev/null || { echo "bench/disk.sh: $t not found (apt-get install redis-server redis-tools python3)" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/respcache-disk-bench.XXXXXX")
PIDS=()
stop_all() {
	local p
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] || continue
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	PIDS=()
}
# On every exit: stop what the script started, and drop the data
# directories and the binaries (hundreds of MiB); logs and raw numbers stay.
trap 'stop_all; rm -rf "$WORK"/speed/*/data "$WORK"/speed/*/appendonlydir "$WORK"/memory/data "$WORK"/respcache "$WORK"/chart' EXIT
log() { echo "disk.sh: $*" >&2; }
die() { echo "disk.sh: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_pong() {
	local port=$1 pid=$2 logf=$3
	for _ in $(seq 300); do
		[ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && return 0
		kill -0 "$pid" 2>/dev/null || die "process $pid exited before answering on $port; log $logf: $(tail -5 "$logf")"
		sleep 0.1
	done
	die "no PONG on $port after 30s; log $logf"
}
info_field() { redis-cli -p "$1" info "$2" | tr -d '\r' | awk -F: -v k="$3" '$1==k {print $2}'; }
START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
START_TIME=$(date -u '+%Y-%m-%d %H:%M UTC')
T0=$SECONDS

BIN=$WORK/respcache
(cd "$REPO_DIR" && go build -o "$BIN" ./cmd/respcache)
# The chart program, built before the runs so that a broken build fails fast.
(cd "$REPO_DIR" && go build -o "$WORK/chart" ./bench/chart)
# RCENV prefixes respcache's command line with the chosen GOMAXPROCS; env
# execs the binary, so $! is respcache's own pid (the memory sampler reads it).
RCENV=(env)
[ "$GOMAXPROCS_RC" = 0 ] || RCENV=(env "GOMAXPROCS=$GOMAXPROCS_RC")
GITREV=$(cd "$REPO_DIR" && git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)

# ---------------------------------------------------------------- speed
CHART_MD= CHART_RC=0
TESTS=set,get,incr,lpush,hset,sadd,zadd
RAW=$WORK/speed.csv
: >"$RAW"

# start_target TARGET DIR: starts a fresh server in DIR; sets PORT and PID.
start_target() {
	local target=$1 dir=$2
	mkdir -p "$dir"
	PORT=$(free_port)
	case $target in
	redis)
		redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly yes --appendfsync everysec \
			--dir "$dir" >"$dir/server.log" 2>&1 &
		;;
	respcache)
		printf 'listen: 127.0.0.1:%s\nadmin_listen: ""\nbackend:\n  type: disk\n  disk:\n    dir: %s\n    fsync: everysec\n' \
			"$PORT" "$dir/data" >"$dir/respcache.yaml"
		"${RCENV[@]}" "$BIN" --config "$dir/respcache.yaml" >"$dir/server.log" 2>&1 &
		;;
	esac
	PID=$!
	PIDS+=("$PID")
	wait_pong "$PORT" "$PID" "$dir/server.log"
}

# run_speed ROUND TARGET
run_speed() {
	local round=$1 target=$2 dir=$WORK/speed/r$1-$2 out rc rows keys
	start_target "$target" "$dir"
	out=$dir/benchmark.csv
	: >"$out"
	# Two invocations, SET and GET first: respcache's cache counters are
	# read between them, while GET is the only command that has touched the
	# cache (INCR and the others count as hits or misses too).
	for tests in "${TESTS%%,incr*}" "incr${TESTS#*,incr}"; do
		rc=0
		# timeout: redis-benchmark retries forever when its server dies.
		timeout 1200 redis-benchmark -h 127.0.0.1 -p "$PORT" -c "$CLIENTS" -n "$REQUESTS" -r "$KEYSPACE" \
			-t "$tests" --csv 2>"$dir/benchmark.err" | awk -v skip="$(wc -c <"$out")" 'NR>1 || skip==0' >>"$out" || rc=$?
		kill -0 "$PID" 2>/dev/null || die "round $round: $target died during the benchmark; log $dir/server.log"
		[ $rc = 0 ] || die "round $round: redis-benchmark -t $tests against $target exited $rc: $(head -3 "$dir/benchmark.err")"
		if [ "$target" = respcache ] && [ "$tests" != "incr${TESTS#*,incr}" ]; then
			echo "$round,$(info_field "$PORT" respcache cache_hits),$(info_field "$PORT" respcache cache_misses)" >>"$WORK/hits.csv"
		fi
	done
	rows=$(awk -F'"' 'NR>1 && $4+0>0' "$out" | wc -l)
	[ "$rows" = 7 ] || die "round $round: $target: redis-benchmark printed $rows result rows, want 7 ($out)"
	# The writes landed in this server: SET/INCR keys plus the list, hash,
	# set and sorted set.
	keys=$(redis-cli -p "$PORT" dbsize | tr -d '\r')
	[ "${keys:-0}" -gt 4 ] || die "round $round: $target holds $keys keys after the benchmark"
	awk -F'"' -v r="$round" -v t="$target" 'NR>1 {print r "," t "," $2 "," $4 "," $10 "," $14}' "$out" >>"$RAW"
	log "round $round $target: $(awk -F'"' 'NR>1 {printf "%s %.0f  ", $2, $4}' "$out")(dbsize $keys)"
	stop_all
	rm -rf "$dir/data" "$dir/appendonlydir"
}

if [ $SKIP_SPEED = 0 ]; then
	for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
		if ((ROUND % 2)); then order="redis respcache"; else order="respcache redis"; fi
		for target in $order; do
			run_speed "$ROUND" "$target"
		done
	done
	SPEED_TABLE=$(awk -F, '
	function median(arr, n,   i, j, t) {
		for (i = 2; i <= n; i++) for (j = i; j > 1 && arr[j] < arr[j-1]; j--) { t = arr[j]; arr[j] = arr[j-1]; arr[j-1] = t }
		return (n % 2) ? arr[(n+1)/2] : (arr[n/2] + arr[n/2+1]) / 2
	}
	function comma(x,   s, r) { s = sprintf("%.0f", x); r = ""; while (length(s) > 3) { r = "," substr(s, length(s)-2) r; s = substr(s, 1, length(s)-3) } return s r }
	{ k = $3 SUBSEP $2; n[k]++; rps[k, n[k]] = $4; p50[k, n[k]] = $5; p99[k, n[k]] = $6
	  if (!((k) in lo) || $4 < lo[k]) lo[k] = $4; if (!((k) in hi) || $4 > hi[k]) hi[k] = $4 }
	END {
		for (k in n) {
			for (i = 1; i <= n[k]; i++) { a[i] = rps[k, i]; b[i] = p50[k, i]; c[i] = p99[k, i] }
			MR[k] = median(a, n[k]); M50[k] = median(b, n[k]); M99[k] = median(c, n[k])
		}
		print "| command | redis-server ops/s | respcache ops/s | respcache / redis | goal | met | p50 ms redis / respcache | p99 ms redis / respcache |"
		print "|---|---:|---:|---:|---:|---|---:|---:|"
		split("SET GET INCR LPUSH HSET SADD ZADD", cmds, " ")
		for (i = 1; i <= 7; i++) {
			c0 = cmds[i]; r = c0 SUBSEP "redis"; d = c0 SUBSEP "respcache"
			if (!(r in MR) || !(d in MR)) continue
			goal = (c0 == "GET") ? 1.0 : 0.5
			ratio = MR[d] / MR[r]
			printf "| %s | %s [%s-%s] | %s [%s-%s] | %.2f | %.1fx | %s | %.3f / %.3f | %.3f / %.3f |\n", c0,
				comma(MR[r]), comma(lo[r]), comma(hi[r]), comma(MR[d]), comma(lo[d]), comma(hi[d]),
				ratio, goal, (ratio >= goal ? "yes" : "**no**"), M50[r], M50[d], M99[r], M99[d]
		}
	}' "$RAW")
	SPEED_MET=$(printf '%s\n' "$SPEED_TABLE" | awk -F'|' 'NR>2 {n++; c = $2; gsub(/ /, "", c); if ($7 ~ /yes/) y++; else no = no (no ? ", " : "") c} END {printf "%d of %d", y, n; if (no) printf " (not met: %s)", no}')
	SPEED_NOISE=$(awk -F, '
	{ k = $3 SUBSEP $2; n[k]++; s[k] += $4; if (!(k in lo) || $4 < lo[k]) lo[k] = $4; if (!(k in hi) || $4 > hi[k]) hi[k] = $4 }
	END { for (k in n) { sp = (hi[k] - lo[k]) / (s[k] / n[k]); tot += sp; cnt++; if (sp > mx) { mx = sp; mk = k } }
		split(mk, p, SUBSEP); printf "the min-max spread across rounds is %.0f%% of the mean on average, up to %.0f%% (%s %s)", 100 * tot / cnt, 100 * mx, p[2], p[1] }' "$RAW")
	[ "$ROUNDS" -gt 1 ] || SPEED_NOISE="one round only, so no spread to show"
	# Keep the raw numbers (bench/out is git-ignored) and chart them into
	# bench/charts/ beside the markdown file, where the section's relative
	# link points. A failed chart leaves the section without it and fails
	# the script at the end.
	mkdir -p "$REPO_DIR/bench/out"
	cp "$RAW" "$REPO_DIR/bench/out/disk-latest.csv"
	CHART_PNG=$(dirname "$OUTPUT")/bench/charts/disk.png
	"$WORK/chart" -in "$REPO_DIR/bench/out/disk-latest.csv" -kind disk -clients "$CLIENTS" -requests "$REQUESTS" \
		-note "-r $KEYSPACE, unpipelined; respcache GOMAXPROCS=$GOMAXPROCS_RC" -out "$CHART_PNG" || CHART_RC=$?
	if [ "$CHART_RC" = 0 ]; then
		log "chart: $CHART_PNG"
		CHART_MD=$'\n\n![Disk store: median ops/s and p99 latency per command of redis-server with AOF and respcache on its disk store, min-max across rounds](bench/charts/disk.png)'
	fi
	GET_HITS=$(awk -F, '{ r[NR] = ($2 + $3) ? $2 / ($2 + $3) : 0 } END {
		for (i = 2; i <= NR; i++) for (j = i; j > 1 && r[j] < r[j-1]; j--) { t = r[j]; r[j] = r[j-1]; r[j-1] = t }
		printf "%.0f%%", 100 * ((NR % 2) ? r[(NR+1)/2] : (r[NR/2] + r[NR/2+1]) / 2) }' "$WORK/hits.csv")
fi

# ---------------------------------------------------------------- memory
if [ $SKIP_MEMORY = 0 ]; then
	MIB=1048576
	QUOTA=$((MEM_QUOTA_MIB * MIB))
	BOUND=$(((MEM_QUOTA_MIB + MEM_BLOCK_MIB + MEM_MEMTABLE_MIB + 64) * MIB))
	MEM_KEYS=$(awk -v f="$MEM_FACTOR" -v q="$QUOTA" -v v="$MEM_VALUE" 'BEGIN { printf "%d", f * q / v + 0.999 }')
	DATA_BYTES=$((MEM_KEYS * MEM_VALUE))
	dir=$WORK/memory
	mkdir -p "$dir"
	PORT=$(free_port)
	cat >"$dir/respcache.yaml" <<EOF
listen: 127.0.0.1:$PORT
admin_listen: ""
backend:
  type: disk
  disk:
    dir: $dir/data
    fsync: everysec
    block_cache: ${MEM_BLOCK_MIB}MiB
    memtable: ${MEM_MEMTABLE_MIB}MiB
cache:
  max_memory: ${MEM_QUOTA_MIB}MiB
EOF
	"${RCENV[@]}" "$BIN" --config "$dir/respcache.yaml" >"$dir/server.log" 2>&1 &
	PID=$!
	PIDS+=("$PID")
	SAMPLES=$dir/rss.samples
	# The sampler follows the process from its first moment: it is started
	# before the readiness poll and stops when the process is gone or the
	# stop file appears.
	# Each sample also asks respcache for INFO memory, where pebble reports
	# the bytes of its memtables (all of them: the one taking writes and
	# those waiting to be flushed) and of its block cache; -1 while it does
	# not answer yet.
	python3 - "$PID" "$SAMPLES" "$dir/sampler.stop" "$PORT" <<'PY' &
import os, socket, sys, time
pid, out, stop, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
period = 0.1
conn = None

def pebble_memory():
    global conn
    try:
        if conn is None:
            conn = socket.create_connection(("127.0.0.1", port), timeout=1)
            conn.settimeout(2)
        conn.sendall(b"*2\r\n$4\r\nINFO\r\n$6\r\nmemory\r\n")
        buf = b""
        while b"\r\n" not in buf:
            buf += conn.recv(65536) or b"x"
        head, _, buf = buf.partition(b"\r\n")
        n = int(head[1:])
        while len(buf) < n + 2:
            chunk = conn.recv(65536)
            if not chunk:
                raise OSError("closed")
            buf += chunk
        fields = dict(l.split(":", 1) for l in buf[:n].decode().split("\r\n") if ":" in l)
        return int(fields.get("disk_memtable_bytes", -1)), int(fields.get("disk_block_cache_bytes", -1))
    except (OSError, ValueError):
        if conn is not None:
            conn.close()
        conn = None
        return -1, -1

with open(out, "w") as f:
    nxt = time.monotonic()
    while not os.path.exists(stop):
        try:
            with open(f"/proc/{pid}/status") as st:
                text = st.read()
        except (FileNotFoundError, ProcessLookupError):
            break
        rss = hwm = 0
        for line in text.splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
        mt, bc = pebble_memory()
        f.write(f"{int(time.time() * 1000)} {rss} {hwm} {mt} {bc}\n")
        f.flush()
        nxt += period
        time.sleep(max(0.0, nxt - time.monotonic()))
PY
	SAMPLER=$!
	PIDS+=("$SAMPLER")
	wait_pong "$PORT" "$PID" "$dir/server.log"
	PHASES=$dir/phases
	: >"$PHASES"
	now_ms() { python3 -c 'import time; print(int(time.time()*1000))'; }
	# phase NAME ARGS...: runs `respcache bench ARGS` and records its time span.
	phase() {
		local name=$1 t0 rc=0
		shift
		t0=$(now_ms)
		"$BIN" bench --addr "127.0.0.1:$PORT" --clients "$MEM_CLIENTS" --keys "$MEM_KEYS" --value-size "$MEM_VALUE" \
			--commands get --read-ratio 1 --timeout 60s --json "$@" >"$dir/$name.json" 2>"$dir/$name.err" || rc=$?
		echo "$name $t0 $(now_ms)" >>"$PHASES"
		kill -0 "$PID" 2>/dev/null || die "memory: respcache died during $name; log $dir/server.log"
		[ $rc = 0 ] || die "memory: respcache bench ($name) exited $rc: $(head -3 "$dir/$name.err") $(head -c 600 "$dir/$name.json")"
	}
	log "memory: writing $MEM_KEYS keys x $MEM_VALUE B through respcache, then Zipf reads for ${MEM_READ_SECONDS}s"
	phase fill+zipf --fill --dist zipf --zipf-s 0.99 --duration "${MEM_READ_SECONDS}s"
	log "memory: uniform reads for ${MEM_READ_SECONDS}s"
	phase uniform --dist uniform --duration "${MEM_READ_SECONDS}s" --seed 2
	DBSIZE=$(redis-cli -p "$PORT" dbsize | tr -d '\r')
	[ "$DBSIZE" = "$MEM_KEYS" ] || die "memory: DBSIZE $DBSIZE after the fill, want $MEM_KEYS"
	USED=$(info_field "$PORT" respcache cache_used_memory)
	EVICT=$(info_field "$PORT" respcache cache_evictions)
	DISK_TOTAL=$(info_field "$PORT" memory disk_total_bytes)
	BLOCK_USED=$(info_field "$PORT" memory disk_block_cache_bytes)
	[ -n "$USED" ] && [ "$USED" -le "$QUOTA" ] || die "memory: cache_used_memory $USED over the quota $QUOTA"
	touch "$dir/sampler.stop"
	wait "$SAMPLER" || true
	FINAL=$(grep -E '^Vm(RSS|HWM):' "/proc/$PID/status" | awk '{printf "%s ", $2}')
	read -r FINAL_HWM FINAL_RSS <<<"$FINAL"
	stop_all
	rm -rf "$dir/data"
	NSAMPLES=$(wc -l <"$SAMPLES")
	[ "$NSAMPLES" -gt 10 ] || die "memory: only $NSAMPLES RSS samples"
	# Peak per phase (sampled VmRSS), the whole run's sampled peak, the
	# largest gap between samples, and the kernel's VmHWM.
	read -r PEAK_SAMPLED MAX_GAP_MS PEAK_MEMTABLE PEAK_BLOCK <<<"$(awk 'NR>1 && $1-t > g {g = $1-t} {t = $1; if ($2 > p) p = $2; if ($4 > mt) mt = $4; if ($5 > bc) bc = $5} END {print p, g, mt + 0, bc + 0}' "$SAMPLES")"
	# VmHWM can lag a sample by the kernel's batched RSS counters; the peak
	# is whichever is larger.
	HWM=$FINAL_HWM
	[ "$PEAK_SAMPLED" -le "$HWM" ] || HWM=$PEAK_SAMPLED
	fill_s=$(python3 -c 'import json,sys; print("%.1f" % json.load(open(sys.argv[1]))["fill"]["seconds"])' "$dir/fill+zipf.json")
	IDLE_RSS=$(awk -v a="$(awk 'NR==1 {print $2}' "$PHASES")" '$1 < a {r = $2} END {print r + 0}' "$SAMPLES")
	PHASE_ROWS=$(while read -r name a b; do
		awk -v a="$a" -v b="$b" -v name="$name" '$1>=a && $1<=b { if ($2>p) p=$2; if ($4>mt) mt=$4 } END {printf "| %s | %.1f | %.1f |\n", name, p/1024, mt/1048576}' "$SAMPLES"
	done <"$PHASES")
	# read_stats FILE: "ops/s hit-ratio" of a `respcache bench --json` result;
	# fails when the run saw error replies.
	read_stats() {
		python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
errors = r["errors"] + (r.get("fill") or {}).get("errors", 0)
if errors:
    sys.exit("%s: %d error replies: %s" % (sys.argv[1], errors, r.get("error_texts")))
cache = r.get("cache") or {}
lat = r["latency_ms"]
print("%.0f %s %.2f %.1f" % (r["ops_per_sec"], "%.3f" % cache["hit_ratio"] if "hit_ratio" in cache else "?", lat["p99"], lat["max"]))
PY
	}
	ZIPF_STATS=$(read_stats "$dir/fill+zipf.json") || die "memory: the Zipf run failed"
	UNI_STATS=$(read_stats "$dir/uniform.json") || die "memory: the uniform run failed"
	read -r ZIPF_OPS ZIPF_HIT ZIPF_P99 ZIPF_MAX <<<"$ZIPF_STATS"
	read -r UNI_OPS UNI_HIT UNI_P99 UNI_MAX <<<"$UNI_STATS"
	# respcache's slow log (log.slow_threshold, 10ms by default): how many
	# commands took over 1s, and the longest.
	SLOW=$(python3 - "$dir/server.log" <<'PY'
import re, sys
units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}
longest, over1 = 0.0, 0
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    if "slow command" not in line:
        continue
    m = re.search(r"duration=((?:[0-9.]+(?:ns|us|µs|ms|s|m))+)", line)
    if not m:
        continue
    secs = sum(float(v) * units[u] for v, u in re.findall(r"([0-9.]+)(ns|us|µs|ms|s|m)", m.group(1)))
    longest = max(longest, secs)
    over1 += secs >= 1
print("%d %.2f" % (over1, longest))
PY
)
	read -r SLOW_OVER1 SLOW_LONGEST <<<"$SLOW"
	VERDICT=$(awk -v h="$HWM" -v b="$BOUND" 'BEGIN { if (h * 1024 <= b) printf "**within the bound** (%.1f MiB of headroom)", (b - h * 1024) / 1048576; else printf "**over the bound by %.1f MiB**", (h * 1024 - b) / 1048576 }')
	mib() { awk -v x="$1" 'BEGIN { printf "%.1f", x / 1048576 }'; }
	MEM_TABLE=$(cat <<EOF
| | |
|---|---|
| config | \`cache.max_memory: ${MEM_QUOTA_MIB}MiB\`, \`backend.disk.block_cache: ${MEM_BLOCK_MIB}MiB\`, \`backend.disk.memtable: ${MEM_MEMTABLE_MIB}MiB\`, \`fsync: everysec\`, otherwise defaults; no GOMEMLIMIT |
| data written | $MEM_KEYS keys x $MEM_VALUE B values = $(mib "$DATA_BYTES") MiB ($(awk -v d="$DATA_BYTES" -v q="$QUOTA" 'BEGIN{printf "%.1f", d/q}')x the quota), SET pipelined by \`respcache bench --fill\` in $fill_s s, $MEM_CLIENTS clients; DBSIZE afterwards $DBSIZE; pebble reports $(mib "$DISK_TOTAL") MiB on disk |
| reads | ${MEM_READ_SECONDS}s of GET Zipf(0.99): $ZIPF_OPS ops/s, cache hit ratio $ZIPF_HIT, p99 $ZIPF_P99 ms, max $ZIPF_MAX ms; then ${MEM_READ_SECONDS}s uniform: $UNI_OPS ops/s, hit ratio $UNI_HIT, p99 $UNI_P99 ms, max $UNI_MAX ms ($MEM_CLIENTS clients, unpipelined) |
| stalls | respcache's slow log: $SLOW_OVER1 command(s) (or pipelines) took 1 s or more, the longest $SLOW_LONGEST s |
| at the end | cache_used_memory $(mib "$USED") MiB of $(mib "$QUOTA") MiB, $EVICT evictions; pebble block cache holds $(mib "$BLOCK_USED") MiB |
| RSS before the first write | $(awk -v h="$IDLE_RSS" 'BEGIN{printf "%.1f", h/1024}') MiB |
| bound | quota + block_cache + memtable + 64 MiB = $(mib "$BOUND") MiB |
| peak RSS (max of VmHWM and the samples) | **$(awk -v h="$HWM" 'BEGIN{printf "%.1f", h/1024}') MiB**: $VERDICT |
| peak RSS (sampled VmRSS) | $(awk -v h="$PEAK_SAMPLED" 'BEGIN{printf "%.1f", h/1024}') MiB over $NSAMPLES samples, every 100 ms (largest gap ${MAX_GAP_MS} ms) |
| pebble at its peak (INFO memory, sampled) | memtables $(mib "$PEAK_MEMTABLE") MiB (configured memtable: ${MEM_MEMTABLE_MIB} MiB; pebble keeps full memtables in memory until they are flushed while a new one takes the writes), block cache $(mib "$PEAK_BLOCK") MiB |
| RSS at the end | $(awk -v h="$FINAL_RSS" 'BEGIN{printf "%.1f", h/1024}') MiB |

Peaks per phase (samples):

| phase | peak VmRSS MiB | peak pebble memtables MiB |
|---|---:|---:|
$PHASE_ROWS
EOF
)
	log "memory: peak VmHWM $((HWM / 1024)) MiB, bound $((BOUND / MIB)) MiB"
fi

# ---------------------------------------------------------------- section
END_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
REPRO="bench/disk.sh ${ARGS_SEEN[*]:-}"
REPRO=${REPRO% }
SECTION="<!-- BEGIN disk -->
## Disk store: respcache (pebble + memory cache) vs redis-server with AOF

Generated by \`bench/disk.sh\` in a run started $START_TIME; do not edit by hand. Reproduce from the repository root with:

\`\`\`sh
$REPRO
\`\`\`

| | |
|---|---|
| machine | $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), Linux $(uname -r); data directories on $(df -P "$WORK" | awk 'NR==2 {print $1}') |
| load average (1/5/15 min) | $START_LOAD at start, $END_LOAD at end |
| redis-server | $(redis-server --version | cut -d' ' -f3 | tr -d 'v=') (\`--appendonly yes --appendfsync everysec --save ''\`) |
| respcache | git $GITREV; \`backend.type: disk\`, \`backend.disk.fsync: everysec\`; GOMAXPROCS=$GOMAXPROCS_RC (0: all cores) |
| go | $(go version | cut -d' ' -f3-) |
| wall time | $((SECONDS - T0)) s; raw numbers and logs in \`$WORK\` (not committed) |
"
if [ $SKIP_SPEED = 0 ]; then
	SECTION+="
### Speed

\`redis-benchmark -t $TESTS -c $CLIENTS -n $REQUESTS -r $KEYSPACE\`, unpipelined; $ROUNDS round(s); each round
starts a fresh redis-server and a fresh respcache (default cache, 256MiB), each on an empty data
directory, one after the other, alternating which goes first. ops/s: median over the rounds
[min-max]; ratios are of the medians; latencies are medians of each run's p50 and p99. Goals: GET
at least 1.0x redis-server, writes at least 0.5x. GET reads keys SET just before (about
$(awk -v n="$REQUESTS" -v k="$KEYSPACE" 'BEGIN { printf "%.0f", 100 * (1 - exp(-n / k)) }')% of the keys it asks for exist); respcache's cache answered $GET_HITS of the GETs (INFO
respcache cache_hits / (cache_hits + cache_misses) after SET and GET, median over the rounds), pebble
the rest. redis-benchmark runs twice per target and round: \`-t set,get\`, then \`-t incr,lpush,hset,sadd,zadd\`.

$SPEED_TABLE$CHART_MD

Goals met: $SPEED_MET. Noise: $SPEED_NOISE. Both servers,
redis-benchmark and whatever else runs on the machine share its CPUs: read the ratios, and treat
differences within the spread as noise.
"
fi
if [ $SKIP_MEMORY = 0 ]; then
	SECTION+="
### Memory: a data set ${MEM_FACTOR}x the cache quota

$MEM_TABLE
"
fi
SECTION+="<!-- END disk -->"

if grep -q '<!-- BEGIN disk -->' "$OUTPUT" && grep -q '<!-- END disk -->' "$OUTPUT"; then
	python3 - "$OUTPUT" "$SECTION" <<'PY'
import re, sys
path, sec = sys.argv[1], sys.argv[2]
s = open(path).read()
s = re.sub(r"<!-- BEGIN disk -->.*?<!-- END disk -->", lambda m: sec, s, count=1, flags=re.S)
open(path, "w").write(s)
PY
else
	printf '\n%s\n' "$SECTION" >>"$OUTPUT"
fi
echo "$SECTION"
[ "$CHART_RC" = 0 ] || die "bench/chart failed (see above); the section was written without its chart"
