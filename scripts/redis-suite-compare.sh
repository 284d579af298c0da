#!/usr/bin/env bash
# Compare Redis 7.0.15's test suite run directly against a fresh redis-server
# with the same suite run through a "subject" (a proxy) in front of a fresh
# redis-server.
#
#   scripts/redis-suite-compare.sh --subject 'CMD' [--units "..."] [--out-dir DIR]
#                                  [--baseline DIR_OR_JSON] [--fresh-per run|unit]
#                                  [--unit-timeout S] [--tags "TAGS"] [--no-durable]
#
# CMD is run with bash from the repository root, after replacing
#   {port}      the port the subject must listen on (127.0.0.1)
#   {upstream}  the port of the redis-server behind it (127.0.0.1)
# e.g.
#   --subject 'socat TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr TCP:127.0.0.1:{upstream}'
#   --subject './respcache --upstream 127.0.0.1:{upstream} --listen 127.0.0.1:{port}'
# CMD must stay in the foreground; it is started in its own process group and
# that group is killed afterwards.
#
# --fresh-per unit (default): a new redis-server (and a new subject) for every
#     unit, so one unit's leftovers or a subject crash cannot affect the next.
# --fresh-per run: one redis-server (and subject) per run, like a plain
#     `./runtest --host --port` over all units.
# --baseline: reuse a previous direct run (its DIR or DIR/direct.json) instead
#     of running the suite directly again.
#
# Prints per unit and overall: tests passed directly, through the subject,
# ratio, and the names of the tests that pass directly but not through the
# subject. Everything is kept in DIR (default scripts/.redis-suite-out/compare-<time>/):
# direct.json, subject.json (+ .tests.tsv, .units.tsv, .logs/), compare.txt.
set -euo pipefail
# shellcheck source=scripts/redis-suite-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/redis-suite-lib.sh"

SUBJECT=""
UNITS=$DEFAULT_UNITS
OUTDIR=""
BASELINE=""
FRESH=unit
PASS=()

# Print the header comment (line 2 up to the first non-comment line).
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
    case $1 in
        --subject) SUBJECT=$2; shift 2 ;;
        --units) UNITS=$2; shift 2 ;;
        --out-dir) OUTDIR=$2; shift 2 ;;
        --baseline) BASELINE=$2; shift 2 ;;
        --fresh-per) FRESH=$2; shift 2 ;;
        --unit-timeout|--tags) PASS+=("$1" "$2"); shift 2 ;;
        --no-durable) PASS+=("$1"); shift ;;
        -h|--help) usage 0 ;;
        *) echo "unknown argument: $1" >&2; usage 2 ;;
    esac
done
[ -n "$SUBJECT" ] || [ -n "$BASELINE" ] || { echo "--subject is required" >&2; usage 2; }
case $FRESH in unit|run) ;; *) die "--fresh-per must be unit or run" ;; esac

ensure_suite
command -v redis-server >/dev/null 2>&1 || apt_install redis-server
rv=$(redis-server --version | sed -nE 's/.* v=([0-9.]+).*/\1/p')
[ "$rv" = "$REDIS_SUITE_VERSION" ] || log "WARNING: redis-server is $rv, the suite is $REDIS_SUITE_VERSION"
if [[ $SUBJECT == socat* ]]; then command -v socat >/dev/null 2>&1 || apt_install socat; fi

if [ -z "$OUTDIR" ]; then
    OUTDIR=$SCRIPTS_DIR/.redis-suite-out/compare-$(date -u +%Y%m%dT%H%M%SZ)
fi
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
WORK=$(mktemp -d /tmp/redis-suite-compare.XXXXXX)

REDIS_PID=""
SUBJECT_PID=""
stop_subject() {
    if [ -n "$SUBJECT_PID" ]; then
        kill -TERM -- "-$SUBJECT_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$SUBJECT_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$SUBJECT_PID" 2>/dev/null || true
        wait "$SUBJECT_PID" 2>/dev/null || true
        SUBJECT_PID=""
    fi
}
stop_redis() {
    if [ -n "$REDIS_PID" ]; then
        kill -TERM "$REDIS_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$REDIS_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$REDIS_PID" 2>/dev/null || true
        wait "$REDIS_PID" 2>/dev/null || true
        REDIS_PID=""
    fi
}
cleanup() { stop_subject; stop_redis; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_redis TAG: fresh, empty, non-persistent redis-server on a free port.
start_redis() {
    local dir=$WORK/redis-$1-$RANDOM try
    mkdir -p "$dir"
    for try in 1 2 3; do
        REDIS_PORT=$(free_port)
        # Same settings as Redis's own external-server CI job; DEBUG is needed by
        # many tests. --save "" --appendonly no: no persistence (tests that
        # enable appendonly themselves write into $dir).
        redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
            --dir "$dir" --logfile "$dir/redis.log" --daemonize no \
            --enable-debug-command yes --enable-protected-configs yes --enable-module-command yes \
            </dev/null >/dev/null 2>&1 &
        REDIS_PID=$!
        wait_port 127.0.0.1 "$REDIS_PORT" 10 && kill -0 "$REDIS_PID" 2>/dev/null && return 0
        stop_redis
    done
    die "redis-server did not start (see $dir/redis.log)"
}

# start_subject TAG: start the subject in front of $REDIS_PORT on $SUBJECT_PORT.
start_subject() {
    local cmd try
    for try in 1 2 3; do
        SUBJECT_PORT=$(free_port)
        cmd=${SUBJECT//\{port\}/$SUBJECT_PORT}
        cmd=${cmd//\{upstream\}/$REDIS_PORT}
        echo "$cmd" >>"$OUTDIR/subject.cmd"
        (cd "$REPO_DIR" && exec setsid bash -c "exec $cmd" </dev/null >>"$OUTDIR/subject.log" 2>&1) &
        SUBJECT_PID=$!
        wait_port 127.0.0.1 "$SUBJECT_PORT" 15 && kill -0 "$SUBJECT_PID" 2>/dev/null && return 0
        stop_subject
    done
    die "subject did not listen on 127.0.0.1:$SUBJECT_PORT: $cmd (see $OUTDIR/subject.log)"
}

# run_suite NAME with_subject(0|1)
run_suite() {
    local name=$1 with=$2 out=$OUTDIR/$1.json t0 u first=1
    t0=$(date +%s)
    local ext
    for ext in json tests.tsv units.tsv target args wall logs; do rm -rf "${OUTDIR:?}/$name.$ext"; done
    if [ "$FRESH" = run ]; then
        start_redis "$name"; port=$REDIS_PORT
        if [ "$with" = 1 ]; then start_subject "$name"; port=$SUBJECT_PORT; fi
        "$SCRIPTS_DIR/redis-suite.sh" --host 127.0.0.1 --port "$port" --units "$UNITS" \
            --out "$out" "${PASS[@]}" >/dev/null || true
        stop_subject; stop_redis
    else
        for u in $UNITS; do
            start_redis "$name"; port=$REDIS_PORT
            if [ "$with" = 1 ]; then start_subject "$name"; port=$SUBJECT_PORT; fi
            local app=(--append); [ $first = 1 ] && app=(); first=0
            "$SCRIPTS_DIR/redis-suite.sh" --host 127.0.0.1 --port "$port" --units "$u" \
                --out "$out" "${app[@]}" "${PASS[@]}" >/dev/null || true
            if [ "$with" = 1 ] && ! kill -0 "$SUBJECT_PID" 2>/dev/null; then
                log "WARNING: the subject exited during $u"
                echo "subject exited during $u" >>"$OUTDIR/subject.log"
            fi
            stop_subject; stop_redis
        done
        echo "127.0.0.1:(fresh per unit)" >"${out%.json}.target"
        "$SCRIPTS_DIR/redis-suite.sh" --summarize "$out" >/dev/null
    fi
    echo $(($(date +%s) - t0)) >"$OUTDIR/$name.wall"
    log "$name run done in $(cat "$OUTDIR/$name.wall")s"
}

# --- direct run (or reuse of a baseline) -------------------------------------
if [ -n "$BASELINE" ]; then
    b=${BASELINE%/}; [ -d "$b" ] && b=$b/direct.json
    bp=${b%.json}
    [ -f "$bp.tests.tsv" ] || die "baseline $bp.tests.tsv not found"
    if [ "$(cd "$(dirname "$bp")" && pwd)/$(basename "$bp")" != "$OUTDIR/direct" ]; then
        rm -rf "$OUTDIR/direct.logs"
        for ext in json tests.tsv units.tsv target args wall; do
            [ -f "$bp.$ext" ] && cp "$bp.$ext" "$OUTDIR/direct.$ext"
        done
        [ -d "$bp.logs" ] && cp -r "$bp.logs" "$OUTDIR/direct.logs"
        [ -f "$(dirname "$bp")/direct.wall" ] && cp "$(dirname "$bp")/direct.wall" "$OUTDIR/direct.wall"
    fi
    log "using baseline $b"
else
    log "direct run against a fresh redis-server (units: $(wc -w <<<"$UNITS"), fresh per $FRESH)"
    run_suite direct 0
fi

if [ -n "$SUBJECT" ]; then
    : >"$OUTDIR/subject.cmd"; : >"$OUTDIR/subject.log"
    log "subject run: $SUBJECT"
    run_suite subject 1
fi
[ -f "$OUTDIR/subject.tests.tsv" ] || { log "no subject run"; exit 0; }

# --- comparison --------------------------------------------------------------
# Only units present in both runs (and in --units) are compared.
DW="$(cat "$OUTDIR/direct.wall" 2>/dev/null || echo "?")s"
[ -n "$BASELINE" ] && DW="$DW (baseline run, all its units)"
awk -F'\t' -v units="$UNITS" -v dw="$DW" \
    -v sw="$(cat "$OUTDIR/subject.wall" 2>/dev/null || echo '?')" '
BEGIN { nu = split(units, U, /[ \n\t]+/); for (i = 1; i <= nu; i++) if (U[i] != "") want[U[i]] = 1 }
{ file = (FILENAME ~ /direct\.tests\.tsv$/ ? 1 : (FILENAME ~ /subject\.units\.tsv$/ ? 2 : 3)) }
!($1 in want) { next }
file == 1 { if ($2 == "ok") { dok[$1]++; dkey[$1 SUBSEP $3 SUBSEP $4] = 1 } ; dseen[$1] = 1; next }
file == 2 { sseen[$1] = 1; next }    # subject.units.tsv: units the subject run covered
file == 3 {
    sseen[$1] = 1; st[$1 SUBSEP $3 SUBSEP $4] = $2; msg[$1 SUBSEP $3 SUBSEP $4] = $5
    if ($2 == "ok") sok[$1]++
}
END {
    printf "%-26s %8s %8s %8s %8s\n", "unit", "direct", "subject", "ratio", "lost"
    for (i = 1; i <= nu; i++) {
        u = U[i]; if (u == "" || !(u in dseen) || !(u in sseen)) continue
        d = dok[u] + 0; s = sok[u] + 0; D += d; S += s
        lost[u] = 0
        for (k in dkey) { split(k, p, SUBSEP); if (p[1] == u && !((k in st) && st[k] == "ok")) lost[u]++ }
        L += lost[u]
        printf "%-26s %8d %8d %7.1f%% %8d\n", u, d, s, (d ? 100 * s / d : 100), lost[u]
    }
    printf "%-26s %8d %8d %7.2f%% %8d\n", "TOTAL", D, S, (D ? 100 * S / D : 100), L
    printf "\nratio = tests passed through the subject / tests passed directly: %.2f%% (%d/%d)\n", (D ? 100 * S / D : 100), S, D
    printf "strict ratio (tests passing directly that also pass through the subject): %.2f%% (%d/%d)\n", (D ? 100 * (D - L) / D : 100), D - L, D
    printf "wall time: direct %s, subject %ss\n", dw, sw
    printf "\nTests that pass directly but not through the subject (status: name -- first error line):\n"
    n = 0
    for (i = 1; i <= nu; i++) {
        u = U[i]; if (u == "" || !(u in sseen)) continue
        # print in the order of the direct run
        while ((getline line < DIRECT) > 0) {
            split(line, f, "\t")
            if (f[1] != u || f[2] != "ok") continue
            k = f[1] SUBSEP f[3] SUBSEP f[4]
            ss = (k in st) ? st[k] : "not run"
            if (ss == "ok") continue
            n++
            printf "  %s [%s]: %s%s%s\n", u, ss, f[4], (f[3] > 1 ? " #" f[3] : ""), ((k in msg) && msg[k] != "" ? " -- " msg[k] : "")
        }
        close(DIRECT)
    }
    if (n == 0) print "  (none)"
}' DIRECT="$OUTDIR/direct.tests.tsv" "$OUTDIR/direct.tests.tsv" "$OUTDIR/subject.units.tsv" "$OUTDIR/subject.tests.tsv" | tee "$OUTDIR/compare.txt"
log "results in $OUTDIR"
