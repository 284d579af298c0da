#!/usr/bin/env bash
# bench/writeback.sh: what write-back buys, measured with redis-benchmark SET
# in one run against redis-server directly, respcache write-through and
# respcache write-back (fsync everysec and always). Writes the "writeback"
# section of BENCHMARKS.md between <!-- BEGIN writeback --> and
# <!-- END writeback -->.
#
#   bench/writeback.sh [--rounds N] [--requests N] [--clients N] [--pipeline N] [--gomaxprocs N] [--output FILE]
#
# Every round starts fresh processes (one redis-server, three respcaches in
# front of it) and runs the targets one after the other, unpipelined and with
# -P N. respcache runs with GOMAXPROCS=1 by default (see bench/cache.sh).
# SET uses one key (redis-benchmark without -r): the write-back flusher
# coalesces its states, which is the point of write-back for hot keys; the
# "-r 100000" rows spread the writes over 100k keys.
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
for t in redis-server redis-cli redis-benchmark go python3; do
	command -v $t >/dev/null || { echo "bench/writeback.sh: $t not found (apt-get install redis-server redis-tools)" >&2; exit 1; }
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/respcache-wb-bench.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
log() { echo "writeback.sh: $*" >&2; }
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

# start_rc NAME MODE FSYNC: a respcache in front of $RPORT; sets PORT_<NAME>.
start_rc() {
	local name=$1 mode=$2 fsync=$3 dir=$4 port
	port=$(free_port)
	printf 'admin_listen: ""\nwrite:\n  mode: %s\n  fsync: %s\n  journal_dir: %s\n' "$mode" "$fsync" "$dir/journal-$name" >"$dir/$name.yaml"
	(cd "$dir" && "${RCENV[@]}" "$BIN" --config "$name.yaml" --upstream "127.0.0.1:$RPORT" --listen "127.0.0.1:$port") >"$dir/$name.log" 2>&1 &
	PIDS+=($!)
	wait_pong "$port"
	printf -v "PORT_$name" '%s' "$port"
}

# bench WORKLOAD TARGET PORT ARGS...
bench() {
	local wl=$1 target=$2 port=$3
	shift 3
	redis-benchmark -h 127.0.0.1 -p "$port" -c "$CLIENTS" -n "$REQUESTS" --csv "$@" 2>/dev/null |
		awk -F'"' -v r="$ROUND" -v w="$wl" -v t="$target" '$2=="SET" {print r "," w "," t "," $4 "," $10 "," $14}' >>"$RAW"
	tail -1 "$RAW" >&2
}

for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
	dir=$WORK/r$ROUND
	mkdir -p "$dir"
	RPORT=$(free_port)
	redis-server --port "$RPORT" --save '' --appendonly no --dir "$dir" >"$dir/redis.log" 2>&1 &
	PIDS+=($!)
	wait_pong "$RPORT"
	start_rc through write-through everysec "$dir"
	start_rc back write-back everysec "$dir"
	start_rc always write-back always "$dir"
	for wl in "unpipelined|1|" "-P $PIPELINE|$PIPELINE|" "-P $PIPELINE -r 100000|$PIPELINE|100000"; do
		IFS='|' read -r name p r <<<"$wl"
		extra=()
		[ -n "$r" ] && extra=(-r "$r")
		bench "$name" direct "$RPORT" -t set -P "$p" "${extra[@]}"
		bench "$name" through "$PORT_through" -t set -P "$p" "${extra[@]}"
		bench "$name" back "$PORT_back" -t set -P "$p" "${extra[@]}"
		bench "$name" always "$PORT_always" -t set -P "$p" "${extra[@]}"
	done
	# Sanity: what write-back acknowledged reached redis-server.
	for port in "$PORT_back" "$PORT_always"; do
		redis-cli -p "$port" set wb:check "$ROUND" >/dev/null
		redis-cli -p "$port" dbsize >/dev/null # waits for everything to be flushed
	done
	got=$(redis-cli -p "$RPORT" get wb:check)
	[ "$got" = "$ROUND" ] || { log "write-back did not reach redis-server (wb:check=$got)"; exit 1; }
	cleanup
	PIDS=()
	sleep 0.5
done

TABLE=$(awk -F, -v rounds="$ROUNDS" -v pipe="$PIPELINE" '
function median(arr, n,   i, j, t) {
	for (i = 2; i <= n; i++) for (j = i; j > 1 && arr[j] < arr[j-1]; j--) { t = arr[j]; arr[j] = arr[j-1]; arr[j-1] = t }
	return (n % 2) ? arr[(n+1)/2] : (arr[n/2] + arr[n/2+1]) / 2
}
{ k = $2 SUBSEP $3; n[k]++; rps[k, n[k]] = $4; p99[k, n[k]] = $6 }
END {
	for (k in n) { for (i = 1; i <= n[k]; i++) { xa[i] = rps[k, i]; xc[i] = p99[k, i] } MR[k] = median(xa, n[k]); M99[k] = median(xc, n[k]) }
	print "| SET workload | direct ops/s | write-through ops/s | write-back everysec ops/s | write-back always ops/s | back / through | back / direct | always / direct | p99 ms direct / through / back / always |"
	print "|---|---|---|---|---|---|---|---|---|"
	split("unpipelined,-P " pipe ",-P " pipe " -r 100000", wls, ",")
	for (i = 1; i <= 3; i++) {
		w = wls[i]; d = w SUBSEP "direct"; t = w SUBSEP "through"; b = w SUBSEP "back"; a = w SUBSEP "always"
		if (!(d in MR)) continue
		printf "| %s | %.0f | %.0f | %.0f | %.0f | %.2fx | %.2fx | %.2fx | %.3f / %.3f / %.3f / %.3f |\n", w, MR[d], MR[t], MR[b], MR[a], MR[b]/MR[t], MR[b]/MR[d], MR[a]/MR[d], M99[d], M99[t], M99[b], M99[a]
	}
}' "$RAW")

# Keep the raw numbers (bench/out is git-ignored) and chart them into
# bench/charts/ beside the markdown file, where the section's relative link
# points. A failed chart leaves the section without it and fails the script
# at the end.
mkdir -p "$REPO_DIR/bench/out"
cp "$RAW" "$REPO_DIR/bench/out/writeback-latest.csv"
CHART_PNG=$(dirname "$OUTPUT")/bench/charts/writeback.png
CHART_MD= CHART_RC=0
"$WORK/chart" -in "$REPO_DIR/bench/out/writeback-latest.csv" -kind writeback -clients "$CLIENTS" -pipeline "$PIPELINE" \
	-requests "$REQUESTS" -note "respcache GOMAXPROCS=$GOMAXPROCS_RC" -out "$CHART_PNG" || CHART_RC=$?
if [ "$CHART_RC" = 0 ]; then
	log "chart: $CHART_PNG"
	CHART_MD=$'\n\n![Write-back: median SET ops/s and p99 latency of redis-server, write-through and write-back, min-max across rounds](bench/charts/writeback.png)'
fi

SECTION=$(cat <<EOF
<!-- BEGIN writeback -->
## Write-back: SET against redis-server and write-through

Reproduce: \`bench/writeback.sh --rounds $ROUNDS --requests $REQUESTS --clients $CLIENTS --pipeline $PIPELINE --gomaxprocs $GOMAXPROCS_RC\`
(redis-benchmark -t set -c $CLIENTS -n $REQUESTS; medians of $ROUNDS rounds, each with fresh processes;
$(redis-server --version | cut -d' ' -f1-3); $(nproc) cores; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)).
"direct" is redis-server (no persistence); "write-through" is respcache's default write mode; "write-back"
acknowledges a SET once its record is in the journal (\`write.fsync: everysec\`: written to the page cache,
fsynced every second; \`always\`: fsynced, one fsync shared by the writers that arrive meanwhile).
respcache runs with GOMAXPROCS=$GOMAXPROCS_RC (0: all cores).

$TABLE$CHART_MD
<!-- END writeback -->
EOF
)
if grep -q '<!-- BEGIN writeback -->' "$OUTPUT"; then
	python3 - "$OUTPUT" "$SECTION" <<'PY'
import sys, re
path, sec = sys.argv[1], sys.argv[2]
s = open(path).read()
s = re.sub(r'<!-- BEGIN writeback -->.*?<!-- END writeback -->', lambda m: sec, s, flags=re.S)
open(path, 'w').write(s)
PY
else
	printf '\n%s\n' "$SECTION" >>"$OUTPUT"
fi
echo "$SECTION"
log "raw numbers: $RAW"
[ "$CHART_RC" = 0 ] || { log "bench/chart failed (see above); the section was written without its chart"; exit 1; }
