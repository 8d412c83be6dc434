#!/bin/bash
# compare.sh — the same load against xmppd, ejabberd and Prosody, one server
# at a time, and a table of the figures with xmppd ÷ best peer.
#
#   bench/compare.sh                      # full run, every server (see README)
#   bench/compare.sh --quick --servers xmppd   # CI smoke run, seconds
#
# Each server in turn: started privately on a free port of 127.0.0.1 from
# bench/peers/SERVER.sh, accounts created, every scenario run with
# build/xmppd-bench, stopped. The table goes to stdout and, with the raw
# lines of the generator, to bench/results/YYYYMMDD-HHMMSS.txt.
set -u -o pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
PEERS=$BENCH_DIR/peers

usage() {
    cat <<'USAGE'
usage: bench/compare.sh [OPTIONS] [-- GENERATOR-OPTIONS...]

  --quick              tiny sizes (CI smoke test; with --servers xmppd it
                       takes seconds)
  --servers LIST       comma-separated: xmppd,ejabberd,prosody (default all)
  --scenarios LIST     comma-separated, in order (default login,idle,msg,fanout,echo)
  --login-users N      login: users logging in (default 5000)
  --idle-sizes LIST    idle: session counts, each on a freshly started server
                       (default 2000,10000,50000; sizes the open-files limit
                       cannot hold, in the generator or the server, are
                       skipped and said so)
  --msg-users N        msg: senders, in pairs (default 200)
  --concurrency C      logins in progress at once (default 100)
  --duration T         seconds of each measured phase (default 10)
  --window W           messages in flight per sender (msg, default 5)
  --rate R             open-loop messages per second in total (msg latency,
                       default 1000)
  --contacts K         fanout: contacts per user (even, default 100)
  --fanout-users N     fanout: users with rosters (default 200: rosters are
                       made through the protocol, slow on the peers)
  --mech M             SCRAM-SHA-1 (default; the only SCRAM both peers store),
                       SCRAM-SHA-256 (xmppd only) or PLAIN
  --password PW        password of every bench account
  --iterations I       SCRAM iterations for every server (default 4096)
  --no-warmup          skip the unmeasured login pass that fills the
                       generator's SCRAM key cache and warms the server
  --no-install         do not run `peers/X.sh install` for ejabberd/Prosody
  --keep               keep the servers' work directories (logs, data)
  --out FILE           results file (default bench/results/YYYYMMDD-HHMMSS.txt)
  --bench PATH         load generator (default build/xmppd-bench, built by
                       `make bench` when missing)
  -h, --help
Anything after -- is passed to every xmppd-bench run.
USAGE
}

# ---- options ---------------------------------------------------------------
QUICK=0
SERVERS=xmppd,ejabberd,prosody
SCENARIOS=login,idle,msg,fanout,echo
LOGIN_USERS=""; IDLE_SIZES=""; MSG_USERS=""
CONC=""; DURATION=""; WINDOW=""; RATE=""; CONTACTS=""; FANOUT_USERS=""
MECH=SCRAM-SHA-1
PASSWORD=bench-secret
ITERATIONS=4096
WARMUP=1; INSTALL=1; KEEP=0
OUT=""
BENCH=$REPO_ROOT/build/xmppd-bench
EXTRA=()
while [ $# -gt 0 ]; do
    case $1 in
        --quick) QUICK=1 ;;
        --servers) SERVERS=$2; shift ;;
        --scenarios) SCENARIOS=$2; shift ;;
        --login-users) LOGIN_USERS=$2; shift ;;
        --idle-sizes) IDLE_SIZES=$2; shift ;;
        --msg-users) MSG_USERS=$2; shift ;;
        --concurrency) CONC=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --window) WINDOW=$2; shift ;;
        --rate) RATE=$2; shift ;;
        --contacts) CONTACTS=$2; shift ;;
        --fanout-users) FANOUT_USERS=$2; shift ;;
        --mech) MECH=$2; shift ;;
        --password) PASSWORD=$2; shift ;;
        --iterations) ITERATIONS=$2; shift ;;
        --no-warmup) WARMUP=0 ;;
        --no-install) INSTALL=0 ;;
        --keep) KEEP=1 ;;
        --out) OUT=$2; shift ;;
        --bench) BENCH=$2; shift ;;
        -h|--help) usage; exit 0 ;;
        --) shift; EXTRA=("$@"); break ;;
        *) echo "compare.sh: unknown option $1" >&2; usage >&2; exit 64 ;;
    esac
    shift
done
# The sizes of issue 3: msg is 200 users in pairs with 5 in flight each and
# an open loop at 1000 msg/s; idle at 2,000, 10,000 and 50,000 sessions;
# fanout with rosters of 100 contacts.
if [ "$QUICK" = 1 ]; then
    : "${LOGIN_USERS:=20}" "${IDLE_SIZES:=20}" "${MSG_USERS:=20}" "${FANOUT_USERS:=20}"
    : "${CONC:=10}" "${DURATION:=1}" "${WINDOW:=4}" "${RATE:=200}" "${CONTACTS:=4}"
else
    : "${LOGIN_USERS:=5000}" "${IDLE_SIZES:=2000,10000,50000}" "${MSG_USERS:=200}"
    : "${FANOUT_USERS:=200}" "${CONC:=100}" "${DURATION:=10}" "${WINDOW:=5}" "${RATE:=1000}"
    : "${CONTACTS:=100}"
fi
if [ $((MSG_USERS % 2)) -ne 0 ] || [ $((FANOUT_USERS % 2)) -ne 0 ] || [ $((CONTACTS % 2)) -ne 0 ]; then
    echo "compare.sh: --msg-users, --fanout-users and --contacts must be even" >&2; exit 64
fi
# open files: every connection is one descriptor in the generator and one
# in the server; an idle size past the limit is skipped (and said so)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FD_LIMIT=$(ulimit -n)
# Accounts: enough for the largest scenario that can run.
USERS=$LOGIN_USERS
for n in ${IDLE_SIZES//,/ } "$MSG_USERS" "$FANOUT_USERS"; do
    [ "$n" -gt "$USERS" ] && [ "$n" -le $(( FD_LIMIT - 200 )) ] && USERS=$n
done
export SCRAM_ITERATIONS=$ITERATIONS
IFS=, read -r -a SERVER_LIST <<<"$SERVERS"
IFS=, read -r -a SCENARIO_LIST <<<"$SCENARIOS"
for s in "${SERVER_LIST[@]}"; do
    [ -x "$PEERS/$s.sh" ] || { echo "compare.sh: no peer script $PEERS/$s.sh" >&2; exit 64; }
done

say() { printf 'compare.sh: %s\n' "$*" >&2; }

# ---- cleanup: stop every server this run started, whatever happens ---------
WORK=""
BENCH_PID=""
STARTED=()     # "server dir" pairs still running
FAILED_ANY=0
cleanup() {
    local rc=$? entry s d
    trap - EXIT INT TERM
    if [ -n "$BENCH_PID" ] && kill -0 "$BENCH_PID" 2>/dev/null; then
        kill -TERM "$BENCH_PID" 2>/dev/null; wait "$BENCH_PID" 2>/dev/null
    fi
    for entry in "${STARTED[@]}"; do
        s=${entry%% *}; d=${entry#* }
        say "stopping $s ($d)"
        "$PEERS/$s.sh" stop "$d" || say "warning: $s did not stop cleanly"
    done
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ "$KEEP" = 1 ] || [ $rc -ne 0 ] || [ "$FAILED_ANY" = 1 ]; then
            say "work directories (logs) kept in $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    exit $rc
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

# ---- preparation -----------------------------------------------------------
say "open files limit $FD_LIMIT"

if [ ! -x "$BENCH" ] || [ "$BENCH" = "$REPO_ROOT/build/xmppd-bench" ]; then
    make -C "$REPO_ROOT" -s all bench </dev/null >&2 || { say "build failed"; exit 1; }
fi
[ -x "$BENCH" ] || { say "no load generator at $BENCH"; exit 1; }

if [ "$INSTALL" = 1 ]; then
    for s in "${SERVER_LIST[@]}"; do
        [ "$s" = xmppd ] && continue
        "$PEERS/$s.sh" install </dev/null >&2 || { say "installing $s failed"; exit 1; }
    done
fi

STAMP=$(date +%Y%m%d-%H%M%S)
[ -n "$OUT" ] || OUT=$BENCH_DIR/results/$STAMP.txt
mkdir -p "$(dirname "$OUT")"
WORK=$(mktemp -d /tmp/xmppd-compare.XXXXXX)
chmod 755 "$WORK"          # the ejabberd and prosody users must reach it
RAW=$WORK/raw.tsv          # server, scenario, status, then the generator's columns
: > "$RAW"
HEADER=""

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

server_version() {
    case $1 in
        xmppd) git -C "$REPO_ROOT" describe --always --dirty 2>/dev/null || echo unknown ;;
        *) dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo unknown ;;
    esac
}

# run_scenario SERVER DIR PORT PID SCENARIO LABEL [EXTRA...]: one generator
# run; its TSV line goes to RAW with SERVER, SCENARIO and a status (a
# warm-up or setup run only to its log). PID "-": no --server-pid.
# Returns the generator's exit status.
run_scenario() {
    local s=$1 d=$2 port=$3 pid=$4 sc=$5 label=$6 rc out err line hdr users
    shift 6
    # the row's name in the table: idle runs once per size
    local row=$sc
    case $sc in
        login) users=$LOGIN_USERS ;;
        idle) users=$IDLE_N; row=idle-$IDLE_N ;;
        msg|echo) users=$MSG_USERS ;;
        fanout) users=$FANOUT_USERS ;;
        *) users=$USERS ;;
    esac
    local tag=$label-$row
    out=$d/bench-$tag.tsv; err=$d/bench-$tag.log
    local args=("$sc" --addr 127.0.0.1 --port "$port" --host localhost
                --users "$users" --concurrency "$CONC" --password "$PASSWORD"
                --mech "$MECH" --window "$WINDOW" --duration "$DURATION"
                --rate "$RATE" --label "$label" --header
                --scram-cache "$d/scram.cache")
    [ "$pid" != - ] && args+=(--server-pid "$pid")
    [ "$sc" = fanout ] && args+=(--contacts "$CONTACTS")
    args+=("$@" "${EXTRA[@]}")
    say "$s: xmppd-bench ${args[*]}"
    # in the background so that a signal is handled at once (bash runs a
    # trap only after the foreground command ends); cleanup ends it
    "$BENCH" "${args[@]}" </dev/null >"$out" 2>"$err" &
    BENCH_PID=$!
    wait "$BENCH_PID"
    rc=$?
    BENCH_PID=""
    case $label in
        warmup|setup)
            [ $rc -eq 0 ] || say "$s: $label exited $rc: $(tail -n 2 "$err" | tr '\n' ' ')"
            return $rc ;;
    esac
    hdr=$(grep -m1 -v '^[[:space:]]*$' "$out" 2>/dev/null || true)
    line=$(grep -v '^[[:space:]]*$' "$out" 2>/dev/null | sed -n 2p || true)
    local status
    case $rc in
        0) status=ok ;;
        1) status=failed; FAILED_ANY=1 ;;
        2) status=unsupported ;;
        *) status="exit$rc"; FAILED_ANY=1 ;;
    esac
    [ $rc -eq 0 ] || say "$s $sc: exit $rc: $(tail -n 3 "$err" | tr '\n' ' ')"
    if [ -n "$hdr" ] && [ -z "$HEADER" ]; then HEADER=$hdr; fi
    if [ -n "$line" ]; then
        if [ -n "$hdr" ] && [ "$hdr" != "$HEADER" ]; then
            printf '#header\t%s\n' "$hdr" >> "$RAW"
        fi
        printf '%s\t%s\t%s\t%s\n' "$s" "$row" "$status" "$line" >> "$RAW"
    else
        printf '%s\t%s\t%s\n' "$s" "$row" "$status" >> "$RAW"
    fi
    return $rc
}

# run_idle_sizes SERVER DIR PORT: idle once per size, each on a freshly
# started server (same data, so the accounts stay): a server that has
# already served sessions keeps memory its baseline would then hide.
IDLE_N=0
run_idle_sizes() {
    local s=$1 d=$2 port=$3 first=1 n pid
    for n in ${IDLE_SIZES//,/ }; do
        # one descriptor per session in the generator and one in the server,
        # plus room for the rest of each process
        if [ "$n" -gt $(( FD_LIMIT - 200 )) ]; then
            say "$s: idle $n skipped: the open-files limit is $FD_LIMIT"
            printf '%s\tidle-%s\tskipped-fd-limit-%s\n' "$s" "$n" "$FD_LIMIT" >> "$RAW"
            continue
        fi
        if [ $first = 0 ]; then
            "$PEERS/$s.sh" stop "$d" || say "warning: $s did not stop cleanly"
            if ! "$PEERS/$s.sh" start "$d" "$port" </dev/null; then
                say "$s did not restart"
                FAILED_ANY=1
                return 1
            fi
        fi
        first=0
        pid=$("$PEERS/$s.sh" pid "$d")
        IDLE_N=$n
        run_scenario "$s" "$d" "$port" "$pid" idle "$s"
    done
    # the scenarios after idle get a fresh server too
    "$PEERS/$s.sh" stop "$d" || say "warning: $s did not stop cleanly"
    "$PEERS/$s.sh" start "$d" "$port" </dev/null || { FAILED_ANY=1; return 1; }
}

# ---- the runs --------------------------------------------------------------
T0=$(date +%s)
PER_SERVER=()
for sc in "${SCENARIO_LIST[@]}"; do
    if [ "$sc" = echo ]; then
        # once: the generator against its own echo server, the ceiling of
        # this machine for the msg load
        mkdir -p "$WORK/machine"
        say "=== echo: the generator against its own echo server ==="
        run_scenario machine "$WORK/machine" 0 - echo machine
    else
        PER_SERVER+=("$sc")
    fi
done
for s in "${SERVER_LIST[@]}"; do
    d=$WORK/$s
    port=$(free_port)
    say "=== $s $(server_version "$s") on 127.0.0.1:$port ==="
    if ! "$PEERS/$s.sh" start "$d" "$port" </dev/null; then
        say "$s did not start; its scenarios are skipped"
        FAILED_ANY=1
        for sc in "${PER_SERVER[@]}"; do printf '%s\t%s\tno-server\n' "$s" "$sc" >> "$RAW"; done
        "$PEERS/$s.sh" stop "$d" >/dev/null 2>&1 || true
        continue
    fi
    STARTED+=("$s $d")
    if ! "$PEERS/$s.sh" users "$d" "$USERS" "$PASSWORD" </dev/null; then
        say "$s: creating $USERS users failed; its scenarios are skipped"
        FAILED_ANY=1
        for sc in "${PER_SERVER[@]}"; do printf '%s\t%s\tno-users\n' "$s" "$sc" >> "$RAW"; done
    else
        pid=$("$PEERS/$s.sh" pid "$d")
        # idle first, on the freshly started server: a server that has
        # already served thousands of sessions keeps memory (allocator
        # caches, Erlang heaps), and its baseline would hide the cost of a
        # session. Its logins also fill the SCRAM key cache, as the warm-up
        # would; otherwise an unmeasured login pass does.
        ORDER=()
        for sc in "${PER_SERVER[@]}"; do [ "$sc" = idle ] && ORDER+=(idle); done
        for sc in "${PER_SERVER[@]}"; do [ "$sc" = idle ] || ORDER+=("$sc"); done
        if [ "$WARMUP" = 1 ] && [ ${#ORDER[@]} -gt 0 ] && [ "${ORDER[0]}" != idle ]; then
            run_scenario "$s" "$d" "$port" "$pid" login warmup
        fi
        for sc in "${ORDER[@]}"; do
            if [ "$sc" = idle ]; then
                run_idle_sizes "$s" "$d" "$port"
                pid=$("$PEERS/$s.sh" pid "$d")
                continue
            fi
            if ! kill -0 "$pid" 2>/dev/null; then
                say "$s (pid $pid) is gone; $sc skipped"
                FAILED_ANY=1
                printf '%s\t%s\tserver-died\n' "$s" "$sc" >> "$RAW"
                continue
            fi
            if [ "$sc" = fanout ]; then
                # rosters first, through the protocol (unmeasured)
                run_scenario "$s" "$d" "$port" "$pid" fanout setup --setup-rosters --timeout 900
                case $? in
                    0) ;;
                    2) printf '%s\t%s\tunsupported\n' "$s" "$sc" >> "$RAW"; continue ;;
                    *) printf '%s\t%s\tsetup-failed\n' "$s" "$sc" >> "$RAW"; FAILED_ANY=1; continue ;;
                esac
            fi
            run_scenario "$s" "$d" "$port" "$pid" "$sc" "$s"
        done
    fi
    "$PEERS/$s.sh" stop "$d" || say "warning: $s did not stop cleanly"
    unset 'STARTED[-1]'
done
ELAPSED=$(( $(date +%s) - T0 ))

# ---- the table -------------------------------------------------------------
{
    echo "# xmppd comparison $STAMP"
    echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
    for s in "${SERVER_LIST[@]}"; do echo "# $s: $(server_version "$s")"; done
    echo "# login $LOGIN_USERS users (concurrency $CONC), idle $IDLE_SIZES, msg $MSG_USERS users (window $WINDOW, open loop $RATE/s), fanout $FANOUT_USERS users x $CONTACTS contacts; duration ${DURATION}s, mech $MECH, SCRAM iterations $ITERATIONS${EXTRA[*]:+, extra: ${EXTRA[*]}}"
    echo "# generator and server share the machine's cores; see bench/README.md"
    echo "# run time ${ELAPSED}s"
    echo
    /usr/bin/python3 "$BENCH_DIR/peers/table.py" "$RAW" "$HEADER" "${SERVER_LIST[@]}"
    echo
    echo "# raw generator lines (server, scenario, status, then the columns below)"
    printf '#server\tscenario\tstatus\t%s\n' "$HEADER"
    cat "$RAW"
} > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
sed '/^# raw generator lines/,$d' "$OUT"
say "results in $OUT"
[ "$FAILED_ANY" = 0 ]
