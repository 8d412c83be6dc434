# common.sh — helpers shared by the peer scripts (sourced, not run).
# shellcheck shell=bash
# Every peer script has the same subcommands:
#   install | start DIR PORT | users DIR N PASSWORD [PREFIX] | pid DIR | stop DIR

set -u

PEERS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034  # used by the scripts that source this file
REPO_ROOT=$(cd "$PEERS_DIR/../.." && pwd)
: "${PEER_START_TIMEOUT:=60}"   # seconds to wait for the port
: "${PEER_STOP_TIMEOUT:=20}"    # seconds between SIGTERM and SIGKILL
: "${SCRAM_ITERATIONS:=4096}"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
since_ms() { local d=$(( $(now_ms) - $1 )); printf '%d.%03ds' $((d / 1000)) $((d % 1000)); }
say()  { printf '%s: %s\n' "$PEER" "$*" >&2; }
die()  { say "error: $*"; exit 1; }

# alive PID: the process exists and is not a zombie (PID 1 here does not
# always reap, and a dead child of this script stays a zombie until it ends).
alive() {
    local st
    st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "${st:0:1}" != Z ]
}

# port_open PORT: true if something accepts on 127.0.0.1:PORT.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# port_pids PORT...: pids of processes listening on any of the TCP ports.
port_pids() {
    local p filter=""
    for p in "$@"; do filter="$filter${filter:+ or }sport = :$p"; done
    ss -Hltnp "( $filter )" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -un
}

# raise_nofile: soft limit of open files up to the hard limit (a server
# started from here inherits it; the load generator needs it too).
raise_nofile() {
    local hard; hard=$(ulimit -Hn)
    ulimit -n "$hard" 2>/dev/null || ulimit -n 1048576 2>/dev/null || true
}

# wait_port PORT PIDFILE LOG: wait until PORT accepts (bounded); fail early
# if the recorded main process died.
wait_port() {
    local port=$1 pidfile=$2 log=$3 t=0 main
    while ! port_open "$port"; do
        main=$(head -n1 "$pidfile" 2>/dev/null || true)
        if [ -n "$main" ] && ! alive "$main"; then
            say "server process $main exited before listening"
            [ -f "$log" ] && tail -n 40 "$log" >&2
            return 1
        fi
        if [ "$t" -ge $((PEER_START_TIMEOUT * 10)) ]; then
            say "port $port not open after ${PEER_START_TIMEOUT}s"
            [ -f "$log" ] && tail -n 40 "$log" >&2
            return 1
        fi
        sleep 0.1; t=$((t + 1))
    done
}

# stop_pids PIDFILE: SIGTERM every pid recorded, bounded wait, then SIGKILL;
# fails if one survives.
stop_pids() {
    local pidfile=$1 pids="" p t=0 alive_now
    [ -f "$pidfile" ] || { say "no $pidfile: nothing to stop"; return 0; }
    for p in $(<"$pidfile"); do
        alive "$p" && pids="$pids $p"
    done
    [ -n "$pids" ] || { rm -f "$pidfile"; return 0; }
    # shellcheck disable=SC2086  # a list of pids
    kill -TERM $pids 2>/dev/null || true
    while :; do
        alive_now=""
        for p in $pids; do alive "$p" && alive_now="$alive_now $p"; done
        [ -n "$alive_now" ] || break
        if [ "$t" -ge $((PEER_STOP_TIMEOUT * 10)) ]; then
            say "SIGKILL to$alive_now"
            # shellcheck disable=SC2086
            kill -KILL $alive_now 2>/dev/null || true
            sleep 0.5
            break
        fi
        sleep 0.1; t=$((t + 1))
    done
    for p in $pids; do
        if alive "$p"; then say "process $p survived SIGKILL"; return 1; fi
    done
    rm -f "$pidfile"
}

# system_pids USER PORTS...: pids of the processes run by the package's
# system USER (not by us, not by anyone else) listening on any of PORTS.
system_pids() {
    local user=$1 p; shift
    for p in $(port_pids "$@"); do
        [ "$(ps -o user= -p "$p" 2>/dev/null)" = "$user" ] && echo "$p"
    done
}

# apt_install PKG SERVICE USER PORTS...: install a Debian package without
# letting its postinst start the system service (a temporary policy-rc.d
# that exits 101), then make sure that no system instance (a process of the
# package's USER on one of the package's standard PORTS) is left running.
# An already installed package is left alone: a system instance someone
# started on purpose keeps running (our private instances use other ports,
# node names and data), it is only reported.
apt_install() {
    local pkg=$1 svc=$2 user=$3; shift 3
    export DEBIAN_FRONTEND=noninteractive
    if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        say "$pkg already installed"
        local running; running=$(system_pids "$user" "$@" | tr '\n' ' ')
        [ -z "$running" ] || say "note: a system $svc runs (pids $running); left alone"
        return 0
    fi
    local policy=/usr/sbin/policy-rc.d backup=""
    if [ -e "$policy" ]; then
        backup=$(mktemp /tmp/policy-rc.d.XXXXXX); cp -p "$policy" "$backup"
    fi
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"
    # a cached list that does not know the package: update once
    if ! apt-cache show "$pkg" >/dev/null 2>&1; then
        apt-get update -q </dev/null || { restore_policy "$backup"; die "apt-get update failed"; }
    fi
    local rc=0
    apt-get install -y -q --no-install-recommends "$pkg" </dev/null || rc=$?
    if [ $rc -ne 0 ]; then
        # an old list can point at files the mirror no longer has
        apt-get update -q </dev/null && \
            apt-get install -y -q --no-install-recommends "$pkg" </dev/null && rc=0
    fi
    restore_policy "$backup"
    [ $rc -eq 0 ] || die "apt-get install $pkg failed"
    # the postinst should not have started it; if it did: init script
    # first, then by pid (only the package user's processes)
    if system_pids "$user" "$@" | grep -q .; then
        say "a system $svc was started by the installation: stopping it"
        if [ -x "/etc/init.d/$svc" ]; then
            "/etc/init.d/$svc" stop </dev/null >/dev/null 2>&1 || true
        fi
        local p t=0
        while system_pids "$user" "$@" | grep -q . && [ $t -lt 10 ]; do sleep 0.5; t=$((t + 1)); done
        for p in $(system_pids "$user" "$@"); do
            say "killing system $svc process $p ($(ps -o comm= -p "$p"))"
            kill -TERM "$p" 2>/dev/null || true
        done
        sleep 2
        for p in $(system_pids "$user" "$@"); do kill -KILL "$p" 2>/dev/null || true; done
    fi
    if system_pids "$user" "$@" | grep -q .; then
        die "a system $svc still listens on one of $*"
    fi
}

restore_policy() {
    if [ -n "${1:-}" ]; then mv -f "$1" /usr/sbin/policy-rc.d
    else rm -f /usr/sbin/policy-rc.d; fi
}

# login_check PORT USER PASSWORD MECH: one slixmpp login (PLAIN or SCRAM-*).
login_check() {
    local port=$1 user=$2 pw=$3 mech=${4:-SCRAM-SHA-1}
    timeout 30 /usr/bin/python3 - "$port" "$user" "$pw" "$mech" <<'PY'
import asyncio, logging, sys
import slixmpp
port, user, pw, mech = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
logging.basicConfig(level=logging.CRITICAL)
class C(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__(f"{user}@localhost/check", pw,
                         sasl_mech=mech)
        self.ok = False
        self.enable_plaintext = True
        self.enable_starttls = False
        self.enable_direct_tls = False
        self['feature_mechanisms'].unencrypted_plain = True
        self['feature_mechanisms'].unencrypted_scram = True
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("failed_auth", self.fail)
    async def start(self, _):
        self.ok = True
        self.disconnect()
    def fail(self, _):
        self.disconnect()
c = C()
c.register_plugin('xep_0199')
c.connect(("127.0.0.1", port), use_ssl=False, force_starttls=False,
          disable_starttls=True)
loop = asyncio.get_event_loop()
loop.run_until_complete(asyncio.wait_for(c.disconnected, 25))
print(("login ok" if c.ok else "login FAILED") + f": {user}@localhost via {mech}")
sys.exit(0 if c.ok else 1)
PY
}

# scram_keys HASH SALTLEN ENC N PASSWORD PREFIX: one line per user PREFIXi
# "user TAB stored_key TAB server_key TAB salt" (ENC: b64 or hex; the salt
# is random bytes, or with SALTLEN=uuid a random UUID string used as is, as
# Prosody makes it) for SCRAM_ITERATIONS iterations, on every core.
scram_keys() {
    /usr/bin/python3 - "$@" <<'PY'
import base64, hashlib, hmac, os, sys, uuid
from multiprocessing import Pool
hname, saltlen, enc, n, pw, prefix = sys.argv[1:7]
n, it = int(n), int(os.environ.get("SCRAM_ITERATIONS", "4096"))
pwb = pw.encode()
def e(b):
    return base64.b64encode(b).decode() if enc == "b64" else b.hex()
def one(i):
    if saltlen == "uuid":
        salt = str(uuid.uuid4()).encode(); salt_out = salt.decode()
    else:
        salt = os.urandom(int(saltlen)); salt_out = e(salt)
    sp = hashlib.pbkdf2_hmac(hname, pwb, salt, it)
    ck = hmac.new(sp, b"Client Key", hname).digest()
    sk = hmac.new(sp, b"Server Key", hname).digest()
    return f"{prefix}{i}\t{e(hashlib.new(hname, ck).digest())}\t{e(sk)}\t{salt_out}\n"
with Pool(os.cpu_count() or 2) as p:
    for line in p.imap(one, range(1, n + 1), chunksize=256):
        sys.stdout.write(line)
PY
}

# dispatch: run the subcommand named by $1 (functions cmd_install, ...).
dispatch() {
    local cmd=${1:-}
    case "$cmd" in
        install|start|users|pid|stop|check) shift; "cmd_$cmd" "$@" ;;
        *) cat >&2 <<USAGE
usage: $0 install
       $0 start DIR PORT
       $0 users DIR N PASSWORD [PREFIX]
       $0 pid DIR
       $0 stop DIR
       $0 check DIR USER PASSWORD [MECH]   (one slixmpp login)
USAGE
           exit 2 ;;
    esac
}
