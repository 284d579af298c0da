#!/usr/bin/env bash
# bench/reliability.sh: runs the fault and abuse suites (cmd/respcache
# fault_test.go, abuse_test.go) with RELIABILITY_OUT set, so that every
# scenario records what it measured, then renders RELIABILITY.md from those
# records with ./internal/reliability/render.
#
#   bench/reliability.sh [--long] [--run REGEXP] [--output FILE]
#
#   --long     the larger variants (REDISTEST_LONG=1): 19k idle connections,
#              10M-command pipeline, more non-reading clients, ...
#   --run      the go test -run pattern (default 'Abuse|Fault'); e.g.
#              --run Abuse for the abuse suite alone
#   --output   where to write the Markdown (default RELIABILITY.md at the
#              repository root)
#
# The tests build respcache themselves; redis-server (7.0.15, the reference)
# must be on PATH, and REDISTEST_REQUIRE_REDIS=1 makes its absence a failure
# rather than a skip. A scenario whose checks fail records nothing and fails
# the script (the file is not rewritten), so RELIABILITY.md never shows a
# result that was not measured.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
long=
run='Abuse|Fault'
output=RELIABILITY.md
while [ $# -gt 0 ]; do
	case "$1" in
	--long) long=1 ;;
	--run) run=$2; shift ;;
	--output) output=$2; shift ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "reliability.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done

# A relative --output is relative to where the script was started.
case "$output" in
/*) ;;
RELIABILITY.md) output=$root/RELIABILITY.md ;;
*) output=$PWD/$output ;;
esac
cd "$root"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

timeout=15m
if [ -n "$long" ]; then
	export REDISTEST_LONG=1
	timeout=60m
fi
export REDISTEST_REQUIRE_REDIS=1

echo "running go test -run '$run' ./cmd/respcache/ (results in $out)" >&2
RELIABILITY_OUT=$out go test -count=1 -timeout "$timeout" -run "$run" ./cmd/respcache/ >&2

redis_version=$(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')
go run ./internal/reliability/render \
	-in "$out/results.jsonl" \
	-out "$output" \
	-commit "$(git rev-parse --short HEAD)" \
	-nproc "$(nproc)" \
	-kernel "$(uname -r)" \
	-go "$(go env GOVERSION)" \
	-redis "$redis_version"
echo "wrote $output" >&2
