#!/bin/bash
# xmppd.sh — a private xmppd (this repository's build/) for bench/compare.sh.
#   install | start DIR PORT | users DIR N PASSWORD [PREFIX] | pid DIR | stop DIR
# shellcheck disable=SC2034  # read by common.sh
PEER=xmppd
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "$0")/common.sh"

XMPPD=${XMPPD:-$REPO_ROOT/build/xmppd}
XMPPCTL=${XMPPCTL:-$REPO_ROOT/build/xmppctl}
: "${XMPPD_WORKERS:=2}"

cmd_install() {
    # nothing from apt beyond what `make` installs; just build
    make -C "$REPO_ROOT" -s all >&2 || die "make failed"
}

cmd_start() {
    [ $# -eq 2 ] || die "usage: start DIR PORT"
    raise_nofile
    local dir=$1 port=$2
    [ -x "$XMPPD" ] || die "$XMPPD not built (make)"
    port_open "$port" && die "port $port already in use"
    mkdir -p "$dir/data" "$dir/run"
    dir=$(cd "$dir" && pwd)
    cat > "$dir/xmppd.yml" <<YML
# written by bench/peers/xmppd.sh
hosts: [localhost]
loglevel: warning
workers: $XMPPD_WORKERS
data_dir: $dir/data
run_dir: $dir/run
scram_iterations: $SCRAM_ITERATIONS
# plain TCP like the peers (STARTTLS off, PLAIN allowed), and no shaper or
# per-address limits: every bench client comes from 127.0.0.1
listen:
  - {port: $port, ip: 127.0.0.1, module: c2s, starttls: off, allow_plaintext_auth: true}
limits:
  max_connections_per_ip: 0
  connection_rate_per_ip: 0
  shaper_bytes_per_second: 0
  keepalive_interval: 0
# the IM module set a deployment runs (as the peers run theirs)
modules:
  ping: {}
  disco: {}
  roster: {}
  offline: {}
  vcard: {}
  register: {}
  private: {}
  blocking: {}
  carbons: {}
  version: {}
  time: {}
  last: {}
YML
    "$XMPPD" -t -c "$dir/xmppd.yml" >&2 || die "configuration rejected"
    echo "$port" > "$dir/port"
    # setsid: its own session, so a Ctrl-C meant for compare.sh does not
    # hit it, and stop can find the whole group
    setsid "$XMPPD" -c "$dir/xmppd.yml" </dev/null >>"$dir/xmppd.log" 2>&1 &
    echo $! > "$dir/pid"
    wait_port "$port" "$dir/pid" "$dir/xmppd.log" || { cmd_stop "$dir"; exit 1; }
    say "listening on 127.0.0.1:$port, pid $(cat "$dir/pid")"
}

cmd_users() {
    [ $# -ge 3 ] || die "usage: users DIR N PASSWORD [PREFIX]"
    local dir=$1 n=$2 pw=$3 prefix=${4:-user} t0
    t0=$(now_ms)
    # One xmppctl process per user costs ~10 ms of process start-up; speak
    # xmppctl's control protocol (NUL-separated arguments, half-close, a
    # reply line "ok" or "error: ...") directly instead, two requests in
    # flight so the router's SCRAM key derivation keeps both cores busy.
    /usr/bin/python3 - "$dir/run/xmppd.ctl" "$n" "$pw" "$prefix" <<'PY' || die "registration failed"
import socket, sys, threading
path, n, pw, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
errors, lock, nxt = [], threading.Lock(), [1]
def work():
    while True:
        with lock:
            i = nxt[0]; nxt[0] += 1
        if i > n or errors:
            return
        args = ["register", f"{prefix}{i}", "localhost", pw]
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.sendall(b"".join(a.encode() + b"\0" for a in args))
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            reply += d
        s.close()
        if not reply.startswith(b"ok\n"):
            errors.append(f"{prefix}{i}: {reply.decode(errors='replace').strip()}")
ts = [threading.Thread(target=work) for _ in range(2)]
for t in ts: t.start()
for t in ts: t.join()
if errors:
    print("\n".join(errors[:5]), file=sys.stderr); sys.exit(1)
PY
    local have
    have=$("$XMPPCTL" -c "$dir/xmppd.yml" users localhost | grep -c "^${prefix}[0-9]" || true)
    [ "$have" -ge "$n" ] || die "only $have accounts $prefix* after registration"
    say "$n users ${prefix}1..$prefix$n in $(since_ms "$t0")"
}

cmd_pid() {
    [ $# -eq 1 ] || die "usage: pid DIR"
    head -n1 "$1/pid" 2>/dev/null || die "no $1/pid"
}

cmd_stop() {
    [ $# -eq 1 ] || die "usage: stop DIR"
    local dir=$1 master kids
    master=$(head -n1 "$dir/pid" 2>/dev/null || true)
    # the master stops its router and workers on SIGTERM; record them too so
    # a child that outlives the master is killed as well
    if [ -n "$master" ] && kill -0 "$master" 2>/dev/null; then
        kids=$(pgrep -P "$master" || true)
        [ -n "$kids" ] && echo "$kids" >> "$dir/pid"
    fi
    stop_pids "$dir/pid"
}

cmd_check() {
    [ $# -ge 3 ] || die "usage: check DIR USER PASSWORD [MECH]"
    login_check "$(cat "$1/port")" "$2" "$3" "${4:-SCRAM-SHA-1}"
}

dispatch "$@"
