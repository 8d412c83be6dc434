#!/bin/bash
# prosody.sh — a private Prosody (Debian 12: 0.12) for bench/compare.sh.
#   install | start DIR PORT | users DIR N PASSWORD [PREFIX] | pid DIR | stop DIR
#
# Started as root, Prosody switches to the system user "prosody" itself;
# DIR/data is owned by it. Configuration DIR/prosody.cfg.lua, log
# DIR/prosody.log (warnings and errors), pid DIR/prosody.pid.
# shellcheck disable=SC2034  # read by common.sh
PEER=prosody
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "$0")/common.sh"

PROSODY=/usr/bin/prosody
RUN_AS=prosody

cmd_install() {
    # 5222 c2s, 5269 s2s, 5280/5281 http(s), 5347 components
    apt_install prosody prosody "$RUN_AS" 5222 5269 5280 5281 5347
}

cmd_start() {
    [ $# -eq 2 ] || die "usage: start DIR PORT"
    raise_nofile
    local dir=$1 port=$2
    [ -x "$PROSODY" ] || die "prosody not installed: $0 install"
    port_open "$port" && die "port $port already in use"
    mkdir -p "$dir/data" "$dir/certs"
    dir=$(cd "$dir" && pwd)
    echo "$port" > "$dir/port"
    cat > "$dir/prosody.cfg.lua" <<CFG
-- written by bench/peers/prosody.sh — client-to-server only, no limits
prosody_user = "$RUN_AS"
pidfile = "$dir/prosody.pid"
data_path = "$dir/data"
certificates = "$dir/certs"           -- empty: no TLS
log = { warn = "$dir/prosody.log" }   -- warn and error
admins = { }

-- c2s on one port of 127.0.0.1; s2s, http, components: none
interfaces = { "127.0.0.1" }
c2s_interfaces = { "127.0.0.1" }
c2s_ports = { $port }
s2s_ports = { }
component_ports = { }
http_ports = { }
https_ports = { }
network_settings = { tcp_backlog = 1024 }  -- default 128; xmppd uses 1024

-- plain TCP: no TLS module, PLAIN allowed without it
c2s_require_encryption = false
allow_unencrypted_plain_auth = true

-- SCRAM-SHA-1 keys only (as xmppd), 4096 iterations (default 10000)
authentication = "internal_hashed"
default_iteration_count = $SCRAM_ITERATIONS
storage = "internal"

-- no rate limits (mod_limits not loaded), no registration, no offline
-- storage, no server-to-server
limits = { }
modules_enabled = {
    "saslauth"; "roster"; "disco"; "ping";
}
modules_disabled = {
    "offline"; "s2s"; "s2s_auth_certs"; "dialback";
}

VirtualHost "localhost"
CFG
    chown -R "$RUN_AS": "$dir/data"
    chmod 755 "$dir"
    # the log and pid files are written after the switch to $RUN_AS
    : > "$dir/prosody.log"; chown "$RUN_AS": "$dir/prosody.log"
    rm -f "$dir/prosody.pid"
    su -s /bin/sh -c "test -w '$dir/data' && test -r '$dir/prosody.cfg.lua'" "$RUN_AS" \
        || die "user $RUN_AS cannot reach $dir (a parent directory not searchable?)"
    chown "$RUN_AS": "$dir" "$dir/certs"   # for the pid file
    # Prosody must be started as its user (only prosodyctl switches);
    # setpriv execs without forking and -F keeps it in the foreground, so
    # \$! is the lua process itself.
    setsid setpriv --reuid="$RUN_AS" --regid="$RUN_AS" --init-groups \
        env HOME="$dir/data" "$PROSODY" --config "$dir/prosody.cfg.lua" -F \
        </dev/null >>"$dir/prosody.out" 2>&1 &
    echo $! > "$dir/pid"
    if ! wait_port "$port" "$dir/pid" "$dir/prosody.log"; then
        tail -n 20 "$dir/prosody.out" >&2
        cmd_stop "$dir"; exit 1
    fi
    local main; main=$(cat "$dir/pid")
    [ "$(ps -o comm= -p "$main")" = lua5.4 ] || say "warning: pid $main is $(ps -o comm= -p "$main"), not lua5.4"
    say "listening on 127.0.0.1:$port, pid $main"
}

cmd_users() {
    [ $# -ge 3 ] || die "usage: users DIR N PASSWORD [PREFIX]"
    local dir=$1 n=$2 pw=$3 prefix=${4:-user} t0
    t0=$(now_ms)
    [[ $prefix =~ ^[a-z0-9]+$ ]] || die "prefix must be lower-case letters and digits"
    # `prosodyctl register` starts a Lua interpreter per user. Instead the
    # account files of Prosody's internal storage are written directly, as
    # mod_auth_internal_hashed's create_user makes them: data_path/
    # localhost/accounts/USER.dat holding hex stored_key and server_key of
    # SCRAM-SHA-1, the salt (a random UUID string) and iteration_count.
    # The server reads an account file at each login, so no restart is needed.
    local acc="$dir/data/localhost/accounts"
    mkdir -p "$acc"
    scram_keys sha1 uuid hex "$n" "$pw" "$prefix" | \
    /usr/bin/python3 -c '
import os, sys
os.umask(0o027)   # as Prosody writes its data files
acc, it = sys.argv[1], int(sys.argv[2])
for line in sys.stdin:
    user, stored, server, salt = line.rstrip("\n").split("\t")
    tmp = os.path.join(acc, user + ".dat~")
    with open(tmp, "w") as f:
        f.write("return {\n\t[\"iteration_count\"] = %d;\n\t[\"salt\"] = \"%s\";\n"
                "\t[\"server_key\"] = \"%s\";\n\t[\"stored_key\"] = \"%s\";\n};\n"
                % (it, salt, server, stored))
    os.rename(tmp, os.path.join(acc, user + ".dat"))
' "$acc" "$SCRAM_ITERATIONS" || die "writing accounts failed"
    chown -R "$RUN_AS": "$dir/data/localhost"
    local have
    have=$(find "$acc" -name "${prefix}[0-9]*.dat" | wc -l)
    [ "$have" -ge "$n" ] || die "only $have accounts $prefix* after registration"
    say "$n users ${prefix}1..$prefix$n in $(since_ms "$t0")"
}

cmd_pid() {
    [ $# -eq 1 ] || die "usage: pid DIR"
    head -n1 "$1/pid" 2>/dev/null | grep . || die "no $1/pid"
}

cmd_stop() {
    [ $# -eq 1 ] || die "usage: stop DIR"
    stop_pids "$1/pid"
}

cmd_check() {
    [ $# -ge 3 ] || die "usage: check DIR USER PASSWORD [MECH]"
    login_check "$(cat "$1/port")" "$2" "$3" "${4:-SCRAM-SHA-1}"
}

dispatch "$@"
