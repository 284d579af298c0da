#!/usr/bin/env bash
# bench/all.sh: regenerates every generated section of BENCHMARKS.md and its
# chart, by running bench/compare.sh, bench/cache.sh, bench/writeback.sh and
# bench/disk.sh one after the other (never in parallel: they would measure
# each other). Each script rewrites only its own section, keeps its raw CSV
# in bench/out/<kind>-latest.csv and draws bench/charts/<kind>.png beside the
# markdown file. See bench/README.md.
set -euo pipefail

usage() {
	cat <<'EOF'
usage: bench/all.sh [--rounds N] [--requests N] [--output FILE] [--only LIST]

Runs compare.sh, cache.sh, writeback.sh and disk.sh in sequence; stops at the
first that fails (the sections already written stay written).

options:
  --rounds N      passed to every script (default: each script's own: 5 for
                  compare.sh, 3 for the others)
  --requests N    redis-benchmark -n, passed to every script as --requests;
                  compare.sh also gets --requests-pipelined 10N (its defaults
                  keep that 1:10 ratio). Default: each script's own.
  --output FILE   markdown file to update (default: BENCHMARKS.md at the repo
                  root); the charts go to bench/charts/ beside it
  --only LIST     comma-separated subset of compare,cache,writeback,disk
  -h, --help      this help
EOF
}

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROUNDS= REQUESTS= OUTPUT= ONLY=compare,cache,writeback,disk
log() { printf '[all.sh %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
need_arg() { [ "$#" -ge 2 ] && [ -n "$2" ] || { usage >&2; die "$1 needs a value"; }; }

while [ "$#" -gt 0 ]; do
	case $1 in
	--rounds) need_arg "$@"; ROUNDS=$2; shift 2 ;;
	--requests) need_arg "$@"; REQUESTS=$2; shift 2 ;;
	--output) need_arg "$@"; OUTPUT=$2; shift 2 ;;
	--only) need_arg "$@"; ONLY=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
done
for v in ROUNDS REQUESTS; do
	[ -z "${!v}" ] || [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v,,} must be a positive integer, got '${!v}'"
done
IFS=, read -r -a MODES <<<"$ONLY"
for m in "${MODES[@]}"; do
	case $m in compare | cache | writeback | disk) ;; *) die "--only: unknown mode '$m' (want compare, cache, writeback, disk)" ;; esac
done

# The order of the sections in a fresh BENCHMARKS.md: passthrough first, as
# compare.sh writes the file's introduction when it creates it.
T0=$SECONDS
DONE=()
for m in compare cache writeback disk; do
	[[ ",$ONLY," == *",$m,"* ]] || continue
	args=()
	[ -z "$ROUNDS" ] || args+=(--rounds "$ROUNDS")
	if [ -n "$REQUESTS" ]; then
		args+=(--requests "$REQUESTS")
		[ "$m" != compare ] || args+=(--requests-pipelined "$((REQUESTS * 10))")
	fi
	[ -z "$OUTPUT" ] || args+=(--output "$OUTPUT")
	log "bench/$m.sh ${args[*]}"
	t=$SECONDS
	rc=0
	"$BENCH_DIR/$m.sh" "${args[@]}" || rc=$?
	if [ "$rc" != 0 ]; then
		die "bench/$m.sh exited $rc after $((SECONDS - t))s; done before it: ${DONE[*]:-none}"
	fi
	log "bench/$m.sh done in $((SECONDS - t))s"
	DONE+=("$m")
done
log "all done in $((SECONDS - T0))s: ${DONE[*]}"
