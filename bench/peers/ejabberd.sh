#!/bin/bash
# ejabberd.sh — a private ejabberd (Debian 12: 23.01) for bench/compare.sh.
#   install | start DIR PORT | users DIR N PASSWORD [PREFIX] | pid DIR | stop DIR
#
# The instance runs as the system user "ejabberd" (ejabberdctl insists) from
# DIR/etc (configuration), DIR/db (Mnesia), DIR/log. It starts no epmd: the
# Erlang distribution listens on a fixed private port on 127.0.0.1
# (ERL_DIST_PORT, DIR/distport) under a private node name and cookie, so it
# never meets the system node or another instance.
# shellcheck disable=SC2034  # read by common.sh
PEER=ejabberd
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "$0")/common.sh"

EJABBERDCTL=/usr/sbin/ejabberdctl
RUN_AS=ejabberd

cmd_install() {
    # 5222 c2s, 5223 legacy TLS, 5269 s2s, 5280/5443 http, 4369 epmd
    apt_install ejabberd ejabberd "$RUN_AS" 5222 5223 5269 5280 5443 4369
}

# ctl DIR ARGS...: ejabberdctl against the private instance, run directly
# as the ejabberd user: run as root, ejabberdctl would switch with su, whose
# PAM session (pam_limits) resets the open-files limit to 1024, and the node
# then runs out of descriptors after ~1000 connections.
ctl() {
    local dir=$1; shift
    setpriv --reuid="$RUN_AS" --regid="$RUN_AS" --init-groups env HOME="$dir/db" \
    "$EJABBERDCTL" --config-dir "$dir/etc" --config "$dir/etc/ejabberd.yml" \
        --ctl-config "$dir/etc/ejabberdctl.cfg" --logs "$dir/log" \
        --spool "$dir/db" --node "$(cat "$dir/node")" "$@" </dev/null
}

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

cmd_start() {
    [ $# -eq 2 ] || die "usage: start DIR PORT"
    raise_nofile
    local dir=$1 port=$2 distport node cookie
    [ -x "$EJABBERDCTL" ] || die "ejabberd not installed: $0 install"
    port_open "$port" && die "port $port already in use"
    mkdir -p "$dir/etc" "$dir/db" "$dir/log"
    dir=$(cd "$dir" && pwd)
    distport=$(free_port)
    node="bench$port@localhost"
    cookie=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
    echo "$node" > "$dir/node"; echo "$distport" > "$dir/distport"
    echo "$port" > "$dir/port"
    cat > "$dir/etc/ejabberdctl.cfg" <<CFG
# written by bench/peers/ejabberd.sh (sourced by ejabberdctl)
ERLANG_NODE=$node
# no epmd: fixed distribution port, also for the ejabberdctl client nodes
ERL_DIST_PORT=$distport
INET_DIST_INTERFACE=127.0.0.1
ERL_OPTIONS="-setcookie $cookie +sbwt none +sbwtdcpu none +sbwtdio none"
ERL_MAX_PORTS=65536
ERL_PROCESSES=1000000
EJABBERD_PID_PATH=$dir/log/ejabberd.pid
EJABBERD_BYPASS_WARNINGS=true
CFG
    echo "$cookie" > "$dir/cookie"; chmod 600 "$dir/cookie"
    printf '{lookup, [file, native]}.\n{hosts_file, "/etc/hosts"}.\n' > "$dir/etc/inetrc"
    cat > "$dir/etc/ejabberd.yml" <<YML
# written by bench/peers/ejabberd.sh — client-to-server only, no limits
hosts: [localhost]
loglevel: warning
log_rotate_count: 0
default_db: mnesia
auth_method: [internal]
auth_password_format: scram       # SCRAM keys only, as xmppd stores them
auth_scram_hash: sha              # SCRAM-SHA-1 (and PLAIN) are offered
# Caches (auth: the passwd table is disc_only, i.e. dets; rosters) hold
# 1000 entries by default: with more users they thrash and the log asks to
# raise them. Large enough for every account of a run.
cache_size: 1000000
disable_sasl_mechanisms: [digest-md5, x-oauth2]
listen:
  -
    port: $port
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls: false
    starttls_required: false
    max_stanza_size: 262144       # as xmppd's max_stanza_size
    max_fsm_queue: 1000000        # default 10000 would drop fan-out receivers
    backlog: 1024                 # default 5; xmppd listens with 1024
    # no shaper: option absent means none
s2s_access: none                  # no server-to-server at all
max_fsm_queue: 1000000
acl:
  local:
    user_regexp: ""
access_rules:
  c2s:
    allow: all
shaper: {}
shaper_rules: {}                  # no c2s_shaper, max_user_sessions unlimited
api_permissions:
  "console commands":
    from: [ejabberd_ctl]
    who: all
    what: "*"
modules:
  mod_disco: {}
  mod_ping: {}
  mod_roster: {}
YML
    chown -R "$RUN_AS": "$dir/etc" "$dir/db" "$dir/log"
    chmod 755 "$dir"
    su -s /bin/sh -c "test -r '$dir/etc/ejabberd.yml' && test -w '$dir/db'" "$RUN_AS" \
        || die "user $RUN_AS cannot reach $dir (a parent directory not searchable?)"
    : > "$dir/pid"
    ctl "$dir" start >>"$dir/log/ejabberdctl.out" 2>&1 || die "ejabberdctl start failed"
    # the detached beam.smp: its pid file, else by its unique node name
    local t=0 beam=""
    while [ -z "$beam" ] && [ $t -lt 100 ]; do
        beam=$(pgrep -f -- "-sname $node " | while read -r p; do
                   [ "$(ps -o comm= -p "$p")" = beam.smp ] && echo "$p"; done | head -n1)
        [ -n "$beam" ] || { sleep 0.1; t=$((t + 1)); }
    done
    [ -n "$beam" ] || { tail -n 40 "$dir/log/ejabberd.log" "$dir/log/ejabberdctl.out" >&2 2>/dev/null; die "no beam.smp for $node"; }
    echo "$beam" > "$dir/pid"
    if ! wait_port "$port" "$dir/pid" "$dir/log/ejabberd.log"; then
        tail -n 20 "$dir/log/ejabberdctl.out" >&2 2>/dev/null
        cmd_stop "$dir"; exit 1
    fi
    # its children (erl_child_setup ...) go in the pid file after the main one
    pgrep -P "$beam" >> "$dir/pid" || true
    say "listening on 127.0.0.1:$port, node $node, beam.smp pid $beam"
}

cmd_users() {
    [ $# -ge 3 ] || die "usage: users DIR N PASSWORD [PREFIX]"
    local dir=$1 n=$2 pw=$3 prefix=${4:-user} t0
    t0=$(now_ms)
    # `ejabberdctl register` starts an Erlang node per user (~0.5 s each),
    # and even in-node ejabberd derives SCRAM keys in Erlang (~6 ms each).
    # So: the SCRAM-SHA-1 keys (16-byte random salt, 4096 iterations: what
    # ejabberd_auth:password_to_scram/2 makes) are derived here with
    # OpenSSL's PBKDF2 on both cores, then one hidden client node hands each
    # account as a ready #scram{} record to ejabberd_auth:try_register/3 on
    # the server node over RPC (the same call ejabberdctl register makes:
    # hooks and the user counter run as usual).
    local keys
    keys=$(mktemp /tmp/ejabberd-users.XXXXXX)
    scram_keys sha1 16 b64 "$n" "$pw" "$prefix" > "$keys" || { rm -f "$keys"; die "SCRAM keys failed"; }
    local expr
    expr='
    Node = list_to_atom(os:getenv("BENCH_NODE")),
    {ok, Bin} = file:read_file(os:getenv("BENCH_KEYS")),
    Lines = [L || L <- binary:split(Bin, <<"\n">>, [global]), L =/= <<>>],
    K = 4, Self = self(),
    Chunks = [[L || {I, L} <- lists:zip(lists:seq(1, length(Lines)), Lines), I rem K =:= W] || W <- lists:seq(0, K - 1)],
    Work = fun(Chunk) ->
        R = lists:foldl(fun(L, Acc) ->
                [U, St, Sv, Salt] = binary:split(L, <<"\t">>, [global]),
                Rec = {scram, St, Sv, Salt, sha, 4096},
                case rpc:call(Node, ejabberd_auth, try_register, [U, <<"localhost">>, Rec]) of
                    ok -> Acc;
                    {error, exists} -> Acc;
                    Err -> [{U, Err} | Acc]
                end
            end, [], Chunk),
        Self ! {done, R}
    end,
    [spawn(fun() -> Work(C) end) || C <- Chunks],
    Errs = lists:append([receive {done, R} -> R after 600000 -> [timeout] end || _ <- Chunks]),
    case Errs of
        [] -> halt(0);
        _ -> io:format("errors: ~p~
", [lists:sublist(Errs, 5)]), halt(1)
    end.'
    BENCH_NODE=$(cat "$dir/node") BENCH_KEYS=$keys \
    erl -noshell -hidden -sname "benchctl$$@localhost" -setcookie "$(cat "$dir/cookie")" \
        -erl_epmd_port "$(cat "$dir/distport")" -start_epmd false -dist_listen false \
        -eval "$expr" </dev/null >&2 || { rm -f "$keys"; die "registration failed"; }
    rm -f "$keys"
    local have
    have=$(ctl "$dir" registered_users localhost | grep -c "^${prefix}[0-9]" || true)
    [ "$have" -ge "$n" ] || die "only $have accounts $prefix* after registration"
    say "$n users ${prefix}1..$prefix$n in $(since_ms "$t0")"
}

cmd_pid() {
    [ $# -eq 1 ] || die "usage: pid DIR"
    head -n1 "$1/pid" 2>/dev/null | grep . || die "no $1/pid"
}

cmd_stop() {
    [ $# -eq 1 ] || die "usage: stop DIR"
    local dir=$1 beam
    beam=$(head -n1 "$dir/pid" 2>/dev/null || true)
    if [ -n "$beam" ] && kill -0 "$beam" 2>/dev/null; then
        pgrep -P "$beam" >> "$dir/pid" || true
    fi
    # SIGTERM makes the Erlang VM run init:stop(), a clean Mnesia shutdown
    stop_pids "$dir/pid"
}

cmd_check() {
    [ $# -ge 3 ] || die "usage: check DIR USER PASSWORD [MECH]"
    login_check "$(cat "$1/port")" "$2" "$3" "${4:-SCRAM-SHA-1}"
}

dispatch "$@"
