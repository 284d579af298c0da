#!/usr/bin/env bash
# Run Redis 7.0.15's own Tcl test suite, in external mode, against any host:port.
#
#   scripts/redis-suite.sh [--host H] [--port P] [--units "unit/type/list unit/expire ..."]
#                          [--out FILE.json] [--unit-timeout SECONDS] [--tags "TAGS"]
#                          [--no-durable] [--append] [--fetch-only]
#       scripts/redis-suite.sh --summarize FILE.json   (rebuild FILE.json from its .tsv files)
#
# The suite is obtained with `apt-get source redis` (see redis-suite-lib.sh) and
# cached in scripts/.redis-src/ (git-ignored). Each unit runs as its own
# `./runtest --host H --port P --single UNIT` with a timeout, so one unit
# crashing or hanging does not stop the others.
#
# Outputs (FILE defaults to scripts/.redis-suite-out/suite-<H>-<P>-<UTC time>.json):
#   FILE                  JSON summary: per unit counts of ok/err/exception/skipped/total,
#                         wall time, exit code and the names of the failed tests
#   FILE%.json.tests.tsv  one line per test: unit, status, occurrence, name, first error line
#                         (`cut -f1-4` of two runs can be diffed directly)
#   FILE%.json.units.tsv  one line per unit: unit, seconds, runtest exit code, complete?
#   FILE%.json.logs/      raw runtest output per unit
set -euo pipefail
# shellcheck source=scripts/redis-suite-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/redis-suite-lib.sh"

HOST=127.0.0.1
PORT=6379
UNITS=$DEFAULT_UNITS
OUT=""
UNIT_TIMEOUT=${REDIS_SUITE_UNIT_TIMEOUT:-900}
TAGS=""
DURABLE=1
APPEND=0
FETCH_ONLY=0
SUMMARIZE=""

# Print the header comment (line 2 up to the first non-comment line).
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
    case $1 in
        --host) HOST=$2; shift 2 ;;
        --port) PORT=$2; shift 2 ;;
        --units) UNITS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --unit-timeout) UNIT_TIMEOUT=$2; shift 2 ;;
        --tags) TAGS=$2; shift 2 ;;
        --no-durable) DURABLE=0; shift ;;
        --append) APPEND=1; shift ;;
        --fetch-only) FETCH_ONLY=1; shift ;;
        --summarize) SUMMARIZE=$2; shift 2 ;;
        -h|--help) usage 0 ;;
        *) echo "unknown argument: $1" >&2; usage 2 ;;
    esac
done

# ---------------------------------------------------------------------------
# parse_log UNIT LOGFILE: print tests.tsv lines for one unit's runtest output.
# Status is one of ok, err, exception, skip, ignore (skipped by tag, e.g.
# external:skip), timeout. Occurrence numbers repeated test names in a unit
# (several tests run once per encoding) so runs can be matched test by test.
parse_log() {
    awk -v unit="$1" '
    function clean(s) { gsub(/\t/, " ", s); gsub(/\r/, "", s); return s }
    function emit(st, name, msg,   k) {
        name = clean(name); msg = clean(substr(msg, 1, 300))
        k = name; occ[k]++
        printf "%s\t%s\t%d\t%s\t%s\n", unit, st, occ[k], name, msg
    }
    function flush_err() { if (pend != "") { emit("err", pend, pmsg); pend = ""; pmsg = "" } }
    {
        sub(/\r$/, "")
        gsub(/\033\[[0-9;]*m/, "")            # colour codes, if any
    }
    pend != "" && pmsg == "" && $0 !~ /^\[(ok|err|skip|ignore|exception|TIMEOUT)\]: / && $0 !~ /^\[[0-9]+\/[0-9]+ done\]/ {
        if ($0 ~ /[^ ]/) pmsg = $0
        next
    }
    /^\[ok\]: / {
        flush_err(); s = substr($0, 7); sub(/ \([0-9]+ ms\)$/, "", s); emit("ok", s, ""); next
    }
    /^\[err\]: / {
        flush_err(); s = substr($0, 8)
        if (s ~ / in tests\/.*\.tcl$/) { sub(/ in tests\/[^ ]*\.tcl$/, "", s) }
        else { s = "<outside a test> " s }
        pend = s; pmsg = ""; next
    }
    /^\[skip\]: / { flush_err(); emit("skip", substr($0, 9), ""); next }
    /^\[ignore\]: / {
        flush_err(); s = substr($0, 11); r = ""
        if (match(s, /: (Not supported [^:]*|Tag: .*|large memory flag not provided)$/)) {
            r = substr(s, RSTART + 2); s = substr(s, 1, RSTART - 1)
        }
        emit("ignore", s, r); next
    }
    /^\[exception\]: / { flush_err(); emit("exception", "<exception> " substr($0, 15, 200), substr($0, 15)); next }
    /^\[TIMEOUT\]: /   { flush_err(); emit("timeout", "<runtest timeout: no progress>", $0); next }
    /^\[[0-9]+\/[0-9]+ done\]/ { flush_err(); next }
    END { flush_err() }
    ' "$2"
}

# json_summary PREFIX: write PREFIX.json from PREFIX.tests.tsv and PREFIX.units.tsv.
json_summary() {
    local prefix=$1
    awk -F'\t' -v target="$(cat "$prefix.target" 2>/dev/null || echo unknown)" \
        -v suite="redis $REDIS_SUITE_VERSION tests (Debian source $(suite_debian_version))" \
        -v args="$(cat "$prefix.args" 2>/dev/null || echo)" '
    function js(s) {
        gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); gsub(/\t/, "\\t", s)
        gsub(/[\001-\037]/, " ", s); return "\"" s "\""
    }
    FNR == 1 { file++ }
    file == 1 {   # units.tsv: unit seconds rc complete
        if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
        secs[$1] = $2; rc[$1] = $3; comp[$1] = $4; next
    }
    {             # tests.tsv: unit status occ name msg
        u = $1; st = $2; cnt[u, st]++; tot[st]++
        if (st != "ok" && st != "skip" && st != "ignore") {
            nm = $4 ($3 > 1 ? " #" $3 : "")
            fl[u] = fl[u] (fl[u] == "" ? "" : ", ") js(nm)
            allf = allf (allf == "" ? "" : ",\n    ") js(u ": " nm)
        }
    }
    END {
        printf "{\n  \"suite\": %s,\n  \"target\": %s,\n  \"runtest_args\": %s,\n  \"units\": [\n", js(suite), js(target), js(args)
        wall = 0
        for (i = 1; i <= n; i++) {
            u = order[i]
            ok = cnt[u, "ok"] + 0; er = cnt[u, "err"] + 0; ex = cnt[u, "exception"] + 0
            to = cnt[u, "timeout"] + 0; sk = cnt[u, "skip"] + 0; ig = cnt[u, "ignore"] + 0
            total = ok + er + ex + to + sk + ig; wall += secs[u]
            printf "    {\"unit\": %s, \"ok\": %d, \"err\": %d, \"exception\": %d, \"timeout\": %d, \"skipped\": %d, \"skip\": %d, \"ignore\": %d, \"total\": %d, \"seconds\": %d, \"exit_code\": %d, \"complete\": %s,\n     \"failed\": [%s]}%s\n", \
                js(u), ok, er, ex, to, sk + ig, sk, ig, total, secs[u], rc[u], (comp[u] == 1 ? "true" : "false"), fl[u], (i < n ? "," : "")
        }
        ok = tot["ok"] + 0; er = tot["err"] + 0; ex = tot["exception"] + 0; to = tot["timeout"] + 0
        sk = tot["skip"] + 0; ig = tot["ignore"] + 0
        printf "  ],\n  \"totals\": {\"units\": %d, \"ok\": %d, \"err\": %d, \"exception\": %d, \"timeout\": %d, \"skipped\": %d, \"skip\": %d, \"ignore\": %d, \"total\": %d, \"seconds\": %d},\n", \
            n, ok, er, ex, to, sk + ig, sk, ig, ok + er + ex + to + sk + ig, wall
        printf "  \"failed\": [\n    %s\n  ]\n}\n", allf
    }' "$prefix.units.tsv" "$prefix.tests.tsv" >"$prefix.json"
}

print_table() {
    local prefix=$1
    awk -F'\t' '
    FNR == 1 { file++ }
    file == 1 { if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }; secs[$1] = $2; comp[$1] = $4; next }
    { c[$1, $2]++ }
    END {
        printf "%-26s %5s %5s %5s %5s %5s %6s %s\n", "unit", "ok", "err", "exc", "skip", "total", "secs", ""
        for (i = 1; i <= n; i++) {
            u = order[i]; sk = c[u, "skip"] + c[u, "ignore"]
            t = c[u, "ok"] + c[u, "err"] + c[u, "exception"] + c[u, "timeout"] + sk
            printf "%-26s %5d %5d %5d %5d %5d %6d %s\n", u, c[u, "ok"], c[u, "err"], c[u, "exception"] + c[u, "timeout"], sk, t, secs[u], (comp[u] == 1 ? "" : "INCOMPLETE")
            T["ok"] += c[u, "ok"]; T["err"] += c[u, "err"]; T["exc"] += c[u, "exception"] + c[u, "timeout"]; T["sk"] += sk; T["t"] += t; T["s"] += secs[u]
        }
        printf "%-26s %5d %5d %5d %5d %5d %6d\n", "TOTAL", T["ok"], T["err"], T["exc"], T["sk"], T["t"], T["s"]
    }' "$prefix.units.tsv" "$prefix.tests.tsv"
}

if [ -n "$SUMMARIZE" ]; then
    json_summary "${SUMMARIZE%.json}"
    print_table "${SUMMARIZE%.json}"
    exit 0
fi

ensure_suite
[ "$FETCH_ONLY" = 1 ] && { echo "$REDIS_SUITE_DIR"; exit 0; }

if [ -z "$OUT" ]; then
    mkdir -p "$SCRIPTS_DIR/.redis-suite-out"
    OUT=$SCRIPTS_DIR/.redis-suite-out/suite-$HOST-$PORT-$(date -u +%Y%m%dT%H%M%SZ).json
fi
case $OUT in /*) ;; *) OUT=$PWD/$OUT ;; esac
PREFIX=${OUT%.json}
mkdir -p "$(dirname "$OUT")" "$PREFIX.logs"
if [ "$APPEND" != 1 ]; then
    : >"$PREFIX.tests.tsv"; : >"$PREFIX.units.tsv"
fi
touch "$PREFIX.tests.tsv" "$PREFIX.units.tsv"

for u in $UNITS; do
    [ -f "$REDIS_SUITE_DIR/tests/$u.tcl" ] || die "no such unit in redis $REDIS_SUITE_VERSION: $u"
done

# One test client is used in external mode whatever --clients says; --durable
# turns test-body exceptions (e.g. a dropped connection) into [err] results
# instead of aborting the whole unit at the first one.
# --baseport: runtest's test server listens on a port in [baseport-32, baseport);
# its default (21079) collides when two suites run on one machine.
TSPORT=$(free_port)
ARGS=(--host "$HOST" --port "$PORT" --clients 1 --timeout "$UNIT_TIMEOUT" --baseport "$((TSPORT + 32))")
[ "$DURABLE" = 1 ] && ARGS+=(--durable)
[ -n "$TAGS" ] && ARGS+=(--tags "$TAGS")
echo "$HOST:$PORT" >"$PREFIX.target"
echo "./runtest ${ARGS[*]} --single UNIT" >"$PREFIX.args"

RUN_PID=""
trap '[ -n "$RUN_PID" ] && kill -TERM -- "-$RUN_PID" 2>/dev/null; exit 130' INT TERM

(exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null || log "WARNING: nothing accepts connections on $HOST:$PORT"

for u in $UNITS; do
    logf=$PREFIX.logs/${u//\//_}.log
    log "running $u against $HOST:$PORT"
    start=$(date +%s)
    rc=0
    # TERM=dumb: no colour codes. timeout(1) puts itself in its own process
    # group and signals the whole group, i.e. the test server *and* its test
    # client; if we are interrupted we kill that group ourselves.
    (cd "$REDIS_SUITE_DIR" && exec env TERM=dumb timeout -k 10 "$((UNIT_TIMEOUT + 60))" \
        ./runtest "${ARGS[@]}" --single "$u" </dev/null >"$logf" 2>&1) &
    RUN_PID=$!
    wait "$RUN_PID" || rc=$?
    RUN_PID=""
    secs=$(($(date +%s) - start))
    complete=0
    grep -qE '^\[[0-9]+/[0-9]+ done\]: ' "$logf" && complete=1
    parse_log "$u" "$logf" >>"$PREFIX.tests.tsv"
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        printf '%s\ttimeout\t1\t<unit killed after %ss>\t\n' "$u" "$((UNIT_TIMEOUT + 60))" >>"$PREFIX.tests.tsv"
    fi
    printf '%s\t%s\t%s\t%s\n' "$u" "$secs" "$rc" "$complete" >>"$PREFIX.units.tsv"
    log "  $u: $(awk -F'\t' -v u="$u" '$1 == u {c[$2]++} END {printf "ok=%d err=%d exception=%d skip=%d ignore=%d", c["ok"], c["err"], c["exception"] + c["timeout"], c["skip"], c["ignore"]}' "$PREFIX.tests.tsv") (${secs}s, rc=$rc)"
done

json_summary "$PREFIX"
print_table "$PREFIX"
log "summary: $OUT"
