#!/usr/bin/env bash
# bench/cache.sh: what the read cache buys, measured with redis-benchmark in
# one run against redis-server directly, respcache serving hits, and
# respcache in passthrough; and what a miss costs. Writes the "cache" section
# of BENCHMARKS.md between <!-- BEGIN cache --> and <!-- END cache -->.
#
#   bench/cache.sh [--rounds N] [--requests N] [--clients N] [--pipeline N] [--gomaxprocs N] [--output FILE]
#
# respcache runs with GOMAXPROCS=1 by default (--gomaxprocs 0: Go's default,
# all cores): a sidecar with one CPU, the budget single-threaded
# redis-server has too. On this 2-core machine redis-benchmark needs the
# other core; with two Ps respcache's goroutines keep waking each other
# across cores (measured: -P 16 hits 0.58x direct with GOMAXPROCS=2, 1.09x
# with 1).
#
# Scenarios (every round starts fresh processes, targets interleaved):
#   hits   GET over 1000 keys SET beforehand: direct, respcache (cached, all
#          hits after the first read), respcache (passthrough: keys in a bypass
#          namespace); unpipelined and -P N.
#   misses GET over 100M random keys that do not exist (negative caching off):
#          every GET through the cached respcache is a miss and a fill
#          (MULTI/GET/PTTL/EXEC); compared with passthrough.
set -euo pipefail
REPO_DIR=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=3 REQUESTS=200000 CLIENTS=50 PIPELINE=16 GOMAXPROCS_RC=1 OUTPUT=$REPO_DIR/BENCHMARKS.md
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) ROUNDS=$2; shift 2 ;;
	--requests) REQUESTS=$2; shift 2 ;;
	--clients) CLIENTS=$2; shift 2 ;;
	--pipeline) PIPELINE=$2; shift 2 ;;
	--gomaxprocs) GOMAXPROCS_RC=$2; shift 2 ;;
	--output) OUTPUT=$2; shift 2 ;;
	*) echo "usage: $0 [--rounds N] [--requests N] [--clients N] [--pipeline N] [--gomaxprocs N] [--output FILE]" >&2; exit 2 ;;
	esac
done
for t in redis-server redis-cli redis-benchmark go; do
	command -v $t >/dev/null || { echo "bench/cache.sh: $t not found (apt-get install redis-server redis-tools)" >&2; exit 1; }
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/respcache-cache-bench.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
log() { echo "cache.sh: $*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_pong() { for _ in $(seq 100); do [ "$(redis-cli -p "$1" ping 2>/dev/null)" = PONG ] && return 0; sleep 0.1; done; echo "no PONG on $1" >&2; exit 1; }

BIN=$WORK/respcache
(cd "$REPO_DIR" && go build -o "$BIN" ./cmd/respcache)
# The chart program, built before the runs so that a broken build fails fast.
(cd "$REPO_DIR" && go build -o "$WORK/chart" ./bench/chart)
RCENV=()
[ "$GOMAXPROCS_RC" = 0 ] || RCENV=(env GOMAXPROCS="$GOMAXPROCS_RC")
RAW=$WORK/raw.csv
: >"$RAW"

start_stack() {
	local dir=$1
	mkdir -p "$dir"
	RPORT=$(free_port)
	redis-server --port "$RPORT" --save '' --appendonly no --dir "$dir" >"$dir/redis.log" 2>&1 &
	PIDS+=($!)
	wait_pong "$RPORT"
	CPORT=$(free_port)
	printf 'admin_listen: ""\n' >"$dir/cached.yaml"
	(cd "$dir" && "${RCENV[@]}" "$BIN" --config cached.yaml --upstream "127.0.0.1:$RPORT" --listen "127.0.0.1:$CPORT") >"$dir/cached.log" 2>&1 &
	PIDS+=($!)
	PPORT=$(free_port)
	printf 'admin_listen: ""\ncache:\n  namespaces:\n    - prefix: "key:"\n      mode: bypass\n' >"$dir/pass.yaml"
	(cd "$dir" && "${RCENV[@]}" "$BIN" --config pass.yaml --upstream "127.0.0.1:$RPORT" --listen "127.0.0.1:$PPORT") >"$dir/pass.log" 2>&1 &
	PIDS+=($!)
	wait_pong "$CPORT"
	wait_pong "$PPORT"
}

# bench SCENARIO WORKLOAD TARGET PORT ARGS...
bench() {
	local scen=$1 wl=$2 target=$3 port=$4
	shift 4
	redis-benchmark -h 127.0.0.1 -p "$port" -c "$CLIENTS" -n "$REQUESTS" --csv "$@" 2>/dev/null |
		awk -F'"' -v r="$ROUND" -v s="$scen" -v w="$wl" -v t="$target" '$2=="GET" {print r "," s "," w "," t "," $4 "," $10 "," $14}' >>"$RAW"
	tail -1 "$RAW" >&2
}

for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
	start_stack "$WORK/r$ROUND"
	redis-benchmark -p "$RPORT" -t set -r 1000 -n 20000 -q >/dev/null 2>&1
	for wl in "unpipelined|1" "-P $PIPELINE|$PIPELINE"; do
		IFS='|' read -r name p <<<"$wl"
		# Warm the cache: every key read once.
		redis-benchmark -p "$CPORT" -t get -r 1000 -n 20000 -P 16 -q >/dev/null 2>&1
		bench hits "$name" direct "$RPORT" -t get -r 1000 -P "$p"
		bench hits "$name" cached "$CPORT" -t get -r 1000 -P "$p"
		bench hits "$name" passthrough "$PPORT" -t get -r 1000 -P "$p"
	done
	hits=$(redis-cli -p "$CPORT" info respcache | tr -d '\r' | awk -F: '$1=="cache_hits"{print $2}')
	log "round $ROUND: cached respcache reports cache_hits=$hits"
	for wl in "unpipelined|1"; do
		IFS='|' read -r name p <<<"$wl"
		bench misses "$name" passthrough "$PPORT" -t get -r 100000000 -P "$p"
		bench misses "$name" cached "$CPORT" -t get -r 100000000 -P "$p"
	done
	cleanup
	PIDS=()
	sleep 0.5
done

TABLE=$(awk -F, -v rounds="$ROUNDS" -v pipe="$PIPELINE" '
function median(arr, n,   i, j, t) {
	for (i = 2; i <= n; i++) for (j = i; j > 1 && arr[j] < arr[j-1]; j--) { t = arr[j]; arr[j] = arr[j-1]; arr[j-1] = t }
	return (n % 2) ? arr[(n+1)/2] : (arr[n/2] + arr[n/2+1]) / 2
}
{ k = $2 SUBSEP $3 SUBSEP $4; n[k]++; rps[k, n[k]] = $5; p50[k, n[k]] = $6; p99[k, n[k]] = $7; seen[$2 SUBSEP $3] = 1 }
END {
	for (k in n) { for (i = 1; i <= n[k]; i++) { xa[i] = rps[k, i]; xb[i] = p50[k, i]; xc[i] = p99[k, i] } MR[k] = median(xa, n[k]); M50[k] = median(xb, n[k]); M99[k] = median(xc, n[k]) }
	print "| scenario | workload | direct ops/s | respcache cached ops/s | respcache passthrough ops/s | cached / direct | cached / passthrough | p99 ms direct / cached / passthrough |"
	print "|---|---|---|---|---|---|---|---|"
	split("unpipelined,-P " pipe, wls, ",")
	for (i = 1; i <= 2; i++) {
		w = wls[i]; d = "hits" SUBSEP w SUBSEP "direct"; c = "hits" SUBSEP w SUBSEP "cached"; p = "hits" SUBSEP w SUBSEP "passthrough"
		if (!(d in MR)) continue
		printf "| hits | %s | %.0f | %.0f | %.0f | %.2fx | %.2fx | %.3f / %.3f / %.3f |\n", w, MR[d], MR[c], MR[p], MR[c]/MR[d], MR[c]/MR[p], M99[d], M99[c], M99[p]
	}
	w = "unpipelined"; c = "misses" SUBSEP w SUBSEP "cached"; p = "misses" SUBSEP w SUBSEP "passthrough"
	if (c in MR) printf "| misses (every GET fills) | %s | | %.0f | %.0f | | %.2fx (miss cost: %.2fx a passthrough) | - / %.3f / %.3f |\n", w, MR[c], MR[p], MR[c]/MR[p], MR[p]/MR[c], M99[c], M99[p]
}' "$RAW")

# Keep the raw numbers (bench/out is git-ignored) and chart them into
# bench/charts/ beside the markdown file, where the section's relative link
# points. A failed chart leaves the section without it and fails the script
# at the end.
mkdir -p "$REPO_DIR/bench/out"
cp "$RAW" "$REPO_DIR/bench/out/cache-latest.csv"
CHART_PNG=$(dirname "$OUTPUT")/bench/charts/cache.png
CHART_MD= CHART_RC=0
"$WORK/chart" -in "$REPO_DIR/bench/out/cache-latest.csv" -kind cache -clients "$CLIENTS" -pipeline "$PIPELINE" \
	-requests "$REQUESTS" -note "respcache GOMAXPROCS=$GOMAXPROCS_RC" -out "$CHART_PNG" || CHART_RC=$?
if [ "$CHART_RC" = 0 ]; then
	log "chart: $CHART_PNG"
	CHART_MD=$'\n\n![Read cache: median GET ops/s and p99 latency of redis-server and respcache with and without its cache, min-max across rounds](bench/charts/cache.png)'
fi

SECTION=$(cat <<EOF
<!-- BEGIN cache -->
## Read cache: hits and misses against redis-server

Reproduce: \`bench/cache.sh --rounds $ROUNDS --requests $REQUESTS --clients $CLIENTS --pipeline $PIPELINE --gomaxprocs $GOMAXPROCS_RC\`
(redis-benchmark -c $CLIENTS -n $REQUESTS; medians of $ROUNDS rounds, each with fresh processes;
$(redis-server --version | cut -d' ' -f1-3); $(nproc) cores; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)).
"cached" is respcache with its default cache, after every key was read once; "passthrough" is the
same binary with the benchmark keys in a \`bypass\` namespace. The miss row reads keys that do not exist
(negative caching off), so every GET through the cached respcache is a fill (GET and PTTL while the
invalidation link is up). respcache runs with GOMAXPROCS=$GOMAXPROCS_RC (0: all cores): a sidecar with
one CPU, the budget of single-threaded redis-server; on this 2-core machine redis-benchmark uses the
other core (see bench/cache.sh for the GOMAXPROCS=2 comparison).

$TABLE$CHART_MD
<!-- END cache -->
EOF
)
if grep -q '<!-- BEGIN cache -->' "$OUTPUT"; then
	python3 - "$OUTPUT" "$SECTION" <<'PY'
import sys, re
path, sec = sys.argv[1], sys.argv[2]
s = open(path).read()
s = re.sub(r'<!-- BEGIN cache -->.*?<!-- END cache -->', lambda m: sec, s, flags=re.S)
open(path, 'w').write(s)
PY
else
	printf '\n%s\n' "$SECTION" >>"$OUTPUT"
fi
echo "$SECTION"
log "raw numbers: $RAW"
[ "$CHART_RC" = 0 ] || { log "bench/chart failed (see above); the section was written without its chart"; exit 1; }
