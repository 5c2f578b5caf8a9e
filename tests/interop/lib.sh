# Shared helpers for the interop scenarios. Source it; do not run it.
#
# A scenario sources this file, then starts what it needs (start_ward, start_unbound,
# start_postfix, ...). Everything started here is stopped by the EXIT trap, and the
# scenario's scratch directory ($WORK) is removed unless KEEP_WORK=1 (kept on failure).
#
# Exit code of a scenario: 0 passed, anything else failed. There is no skip: a program
# that is missing or cannot start is a failure.

set -euo pipefail

INTEROP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$INTEROP_DIR/../.." && pwd)
SNIPPETS=$INTEROP_DIR/snippets
WARD_BIN=${WARD_BIN:-$REPO_ROOT/target/release/ward}
SCENARIO=${SCENARIO:-$(basename "${0%.sh}")}

# ---------------------------------------------------------------------------------
# reporting

say() { printf '[%s] %s\n' "$SCENARIO" "$*" >&2; }
ok() { printf '[%s] ok: %s\n' "$SCENARIO" "$*" >&2; }
fail() {
    printf '[%s] FAIL: %s\n' "$SCENARIO" "$*" >&2
    exit 1
}

# Checks: a failed check is reported and counted, the scenario goes on (so one run
# shows every problem); `finish` at the end turns any failed check into exit 1.
FAILURES=0
check_failed() {
    printf '[%s] FAIL: %s\n' "$SCENARIO" "$*" >&2
    FAILURES=$((FAILURES + 1))
}
finish() {
    if ((FAILURES > 0)); then
        say "$FAILURES check(s) failed"
        exit 1
    fi
    say "PASS"
    exit 0
}
expect_contains() { # HAYSTACK NEEDLE WHAT
    if [[ "$1" != *"$2"* ]]; then
        printf '%s\n' "--- output was:" "$1" "---" >&2
        check_failed "$3: expected to contain: $2"
        return 0
    fi
    ok "$3"
}
expect_not_contains() { # HAYSTACK NEEDLE WHAT
    if [[ "$1" == *"$2"* ]]; then
        printf '%s\n' "--- output was:" "$1" "---" >&2
        check_failed "$3: expected NOT to contain: $2"
        return 0
    fi
    ok "$3"
}
expect_eq() { # GOT WANT WHAT
    if [[ "$1" != "$2" ]]; then
        check_failed "$3: got '$1', want '$2'"
        return 0
    fi
    ok "$3"
}

need_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || fail "required program '$c' is missing (run tests/interop/run.sh, which installs it)"
    done
}

# ---------------------------------------------------------------------------------
# scratch directory, background processes, cleanup

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ward-interop.$SCENARIO.XXXXXX")
chmod 755 "$WORK" # daemons that drop privileges (postfix, unbound) must traverse it
_PIDS=()
_ON_EXIT=()
_LOGS=()

# bg LOGFILE CMD... : start CMD in the background, stdout+stderr to LOGFILE; sets BG_PID.
bg() {
    local log=$1
    shift
    : >"$log"
    # append mode: daemons that reopen /dev/stdout (postlogd) must not overwrite
    "$@" >>"$log" 2>&1 &
    BG_PID=$!
    _PIDS+=("$BG_PID")
    _LOGS+=("$log")
}
# on_exit CMD: run CMD (eval) at exit, before the background processes are killed.
on_exit() { _ON_EXIT+=("$*"); }
register_log() { _LOGS+=("$@"); }

stop_pid() { # PID: TERM, wait up to 5 s, then KILL. Only ever our own PIDs.
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

_cleanup() {
    local rc=$? i
    set +e
    trap - EXIT ERR
    if [[ $rc -eq 0 && $FAILURES -gt 0 ]]; then rc=1; fi
    for ((i = ${#_ON_EXIT[@]} - 1; i >= 0; i--)); do
        eval "${_ON_EXIT[i]}" >/dev/null 2>&1
    done
    for ((i = ${#_PIDS[@]} - 1; i >= 0; i--)); do
        stop_pid "${_PIDS[i]}"
    done
    if [[ $rc -ne 0 ]]; then
        local f
        for f in "${_LOGS[@]}"; do
            [[ -s "$f" ]] || continue
            printf '[%s] ---- last lines of %s ----\n' "$SCENARIO" "$f" >&2
            tail -n 40 "$f" | sed "s/^/[$SCENARIO]   /" >&2
        done
        printf '[%s] scratch directory kept: %s\n' "$SCENARIO" "$WORK" >&2
    elif [[ "${KEEP_WORK:-0}" == 1 ]]; then
        printf '[%s] scratch directory kept: %s\n' "$SCENARIO" "$WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap _cleanup EXIT
# an unexpected command failure (set -e) says where, instead of ending silently
set -E
trap 'printf "[%s] FAIL: unexpected error (exit %s) at %s:%s: %s\n" "$SCENARIO" "$?" "${BASH_SOURCE[0]##*/}" "$LINENO" "$BASH_COMMAND" >&2' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_until SECONDS WHAT CMD...: poll CMD every 0.1 s until it succeeds. With
# WAIT_PID set, give up at once when that process has exited.
wait_until() {
    local secs=$1 what=$2 deadline
    shift 2
    deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || fail "timed out after ${secs}s waiting for: $what"
        if [[ -n "${WAIT_PID:-}" ]] && ! kill -0 "$WAIT_PID" 2>/dev/null; then
            fail "process $WAIT_PID exited while waiting for: $what"
        fi
        sleep 0.1
    done
}

# A TCP+UDP port nobody uses, below the kernel's ephemeral range (so that an outgoing
# query or connection of some other program cannot take it before our daemon binds it).
free_port() {
    local lo p i used
    read -r lo _ </proc/sys/net/ipv4/ip_local_port_range || lo=32768
    ((lo > 12000)) || lo=32768
    used=$(ss -Htanu 2>/dev/null | awk '{print $5}' | sed -n 's/.*:\([0-9][0-9]*\)$/\1/p' | sort -u)
    for ((i = 0; i < 200; i++)); do
        p=$((10000 + RANDOM % (lo - 10000)))
        grep -qx "$p" <<<"$used" || {
            echo "$p"
            return 0
        }
    done
    fail "no free port found"
}

# A random loopback address other than 127.0.0.1 (Linux answers all of 127/8 on lo),
# so a resolver on port 53 does not clash with anything already on 127.0.0.1:53.
random_loopback() {
    echo "127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))"
}

# ---------------------------------------------------------------------------------
# DNS

# dns ADDR PORT DIG-ARGS...: one query, short timeouts. No reply = empty output, not an error.
dns() {
    local addr=$1 port=$2
    shift 2
    dig +time=2 +tries=1 -p "$port" @"$addr" "$@" || true
}
dns_status() { # ADDR PORT NAME [TYPE] -> NOERROR / NXDOMAIN / ...
    dns "$1" "$2" "$3" "${4:-A}" +noall +comments | sed -n 's/.*status: \([A-Z]*\),.*/\1/p'
}
dns_answer() { # ADDR PORT NAME TYPE -> rdata lines
    dns "$1" "$2" "$3" "$4" +short
}
_status_is() { [[ "$(dns_status "$1" "$2" "$3" "$4")" == "$5" ]]; }

# ---------------------------------------------------------------------------------
# test data: small zones of our own, documentation ranges only

# write_zones DIR [NEGATIVE_TTL [TTL]]
write_zones() {
    local dir=$1 neg=${2:-60} ttl=${3:-300}
    mkdir -p "$dir"
    cat >"$dir/reasons.conf" <<'EOF'
# shared reason catalogue of the interop tests
$REASON trap-hit      127.0.0.5  "Spam trap hit from $"
$REASON spam-domain   127.0.1.2  "Domain $ is used for spam"
$REASON sms-gateway   127.0.0.20 "$ is an email-to-SMS gateway; we do not send there"
$REASON rate-evasion  127.0.0.8  "$ spread one campaign over numbered senders"
EOF
    cat >"$dir/ips.block.example.zone" <<EOF
\$SOA 3600 ns1.block.example. hostmaster.block.example. 0 600 300 86400 $neg
\$NS 3600 ns1.block.example.
\$TTL $ttl
\$REASON compromised 127.0.0.4 "Compromised host \$; dispute at https://help.example/t?q=\$"
203.0.113.7                 compromised
203.0.113.50                trap-hit
198.51.100.0/24             :127.0.0.3:Listed for abuse
2001:db8:bad::/48           compromised
EOF
    cat >"$dir/domains.block.example.zone" <<EOF
\$SOA 3600 ns1.block.example. hostmaster.block.example. 0 600 300 86400 $neg
\$NS 3600 ns1.block.example.
\$TTL $ttl
spam.example                spam-domain
*.spam.example              spam-domain
sms.example                 sms-gateway
EOF
    # rspamd and SpamAssassin ignore addresses under the .example TLD, so the
    # address list uses names under example.com/.net (RFC 2606, also reserved).
    cat >"$dir/senders.block.example.zone" <<EOF
\$SOA 3600 ns1.block.example. hostmaster.block.example. 0 600 300 86400 $neg
\$NS 3600 ns1.block.example.
\$TTL $ttl
sender1@bulk.example.com    rate-evasion
john.doe@gmail.com          rate-evasion
EOF
}

# ---------------------------------------------------------------------------------
# ward

# start_ward ZONES_DIR [EXTRA ARGS...]: sets WARD_PORT, WARD_PID, WARD_LOG.
start_ward() {
    local zones=$1
    shift
    [[ -x "$WARD_BIN" ]] || fail "ward binary not found or not executable: $WARD_BIN (build it, or set WARD_BIN)"
    WARD_PORT=$(free_port)
    WARD_LOG=$WORK/ward.log
    bg "$WARD_LOG" "$WARD_BIN" serve --zones "$zones" \
        --listen "127.0.0.1:$WARD_PORT" --listen "[::1]:$WARD_PORT" "$@"
    WARD_PID=$BG_PID
    WAIT_PID=$WARD_PID wait_until 15 "ward to answer on 127.0.0.1:$WARD_PORT" _status_is 127.0.0.1 "$WARD_PORT" ips.block.example SOA NOERROR
    kill -0 "$WARD_PID" 2>/dev/null || fail "ward exited"
    say "ward pid $WARD_PID on 127.0.0.1:$WARD_PORT and [::1]:$WARD_PORT, zones $zones"
}
ward_q() { dns 127.0.0.1 "$WARD_PORT" "$@"; }

# ---------------------------------------------------------------------------------
# unbound, configured from snippets/unbound.conf (only the ward port is substituted)

# start_unbound ADDR PORT [EXTRA SERVER LINES]: sets UNBOUND_CONF, UNBOUND_PID.
start_unbound() {
    local addr=$1 port=$2 extra=${3:-}
    need_cmd unbound unbound-checkconf
    UNBOUND_CONF=$WORK/unbound.conf
    {
        cat <<EOF
# test harness part (not for the README)
server:
    interface: $addr
    port: $port
    username: ""
    chroot: ""
    directory: "$WORK"
    pidfile: "$WORK/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    num-threads: 1
    module-config: "iterator"
    access-control: 127.0.0.0/8 allow
$extra
remote-control:
    control-enable: yes
    control-interface: $WORK/unbound.ctl

# snippets/unbound.conf, ward port substituted
EOF
        sed "s/@5353\b/@$WARD_PORT/g" "$SNIPPETS/unbound.conf"
    } >"$UNBOUND_CONF"
    grep -q "@$WARD_PORT" "$UNBOUND_CONF" || fail "snippets/unbound.conf has no stub-addr ...@5353 to point at ward"
    unbound-checkconf "$UNBOUND_CONF" >/dev/null || fail "unbound-checkconf rejected $UNBOUND_CONF"
    bg "$WORK/unbound.log" unbound -d -c "$UNBOUND_CONF"
    UNBOUND_PID=$BG_PID
    WAIT_PID=$UNBOUND_PID wait_until 15 "unbound to answer on $addr:$port" _status_is "$addr" "$port" ips.block.example SOA NOERROR
    say "unbound pid $UNBOUND_PID on $addr:$port, stub zones -> 127.0.0.1:$WARD_PORT"
}

# ---------------------------------------------------------------------------------
# Postfix: own config/queue/data directories, own mount namespace with a resolv.conf
# pointing at unbound (Postfix only uses /etc/resolv.conf, port 53).

# start_postfix RESOLVER_ADDR SNIPPET_FILE... : the snippets are appended to main.cf
# after the harness settings; "/etc/postfix/" in them is replaced by our config dir.
# Sets SMTP_PORT, PF_ETC. Same as configure_postfix followed by launch_postfix (use
# those two when files must be put into $PF_ETC before Postfix starts).
# PF_SMTPD_OPTS: extra "-o name=value" for the smtpd services in master.cf.
start_postfix() {
    configure_postfix "$@"
    launch_postfix
}
configure_postfix() {
    local resolver=$1
    shift
    need_cmd postfix postconf postmap swaks unshare
    local pf=$WORK/postfix
    PF_ETC=$pf/etc
    mkdir -p "$PF_ETC" "$pf/queue" "$pf/data"
    chown postfix "$pf/data"
    SMTP_PORT=$(free_port)
    printf 'nameserver %s\noptions timeout:2 attempts:2\n' "$resolver" >"$WORK/resolv.conf"
    {
        cat <<EOF
# --- test harness part (not for the README) ---
compatibility_level = 3.6
queue_directory = $pf/queue
data_directory = $pf/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.interop.test
mydomain = interop.test
myorigin = \$myhostname
mydestination = localhost, \$myhostname
local_recipient_maps =
inet_interfaces = loopback-only
inet_protocols = all
maillog_file = /dev/stdout
smtpd_authorized_xclient_hosts = 127.0.0.0/8, [::1]/128
mynetworks = 127.0.0.0/8, [::1]/128
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_peername_lookup = no
notify_classes =
EOF
        local s
        for s in "$@"; do
            printf '\n# --- %s ---\n' "snippets/$(basename "$s")"
            sed "s#/etc/postfix/#$PF_ETC/#g" "$s"
        done
    } >"$PF_ETC/main.cf"
    cat >"$PF_ETC/master.cf" <<EOF
127.0.0.1:$SMTP_PORT inet n - n - - smtpd ${PF_SMTPD_OPTS:-}
[::1]:$SMTP_PORT inet n - n - - smtpd ${PF_SMTPD_OPTS:-}
postlog   unix-dgram n - n - 1 postlogd
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
proxymap  unix - - n - - proxymap
showq     unix n - n - - showq
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
EOF
    postconf -c "$PF_ETC" >/dev/null 2>"$WORK/postconf.err" || fail "postconf rejects main.cf: $(cat "$WORK/postconf.err")"
    if grep -q 'warning' "$WORK/postconf.err"; then
        fail "postconf warns about main.cf: $(cat "$WORK/postconf.err")"
    fi
    PF_RESOLVER=$resolver
}
launch_postfix() {
    bg "$WORK/postfix.log" unshare -m --propagation private \
        sh -c 'mount --bind "$0" /etc/resolv.conf && exec postfix -c "$1" start-fg' "$WORK/resolv.conf" "$PF_ETC"
    PF_PID=$BG_PID
    on_exit "postfix -c '$PF_ETC' stop"
    WAIT_PID=$PF_PID wait_until 30 "postfix to listen on 127.0.0.1:$SMTP_PORT" smtp_banner
    say "postfix pid $PF_PID on 127.0.0.1:$SMTP_PORT and [::1]:$SMTP_PORT (resolver $PF_RESOLVER:53)"
}
smtp_banner() { exec 3<>"/dev/tcp/127.0.0.1/$SMTP_PORT" && head -c 3 <&3 | grep -q 220 && exec 3>&-; }

# smtp CLIENT_ADDR FROM TO [SWAKS ARGS...]: one SMTP session via XCLIENT, ends after RCPT.
# CLIENT_ADDR "-" means no XCLIENT (the real client 127.0.0.1). Prints the transcript.
smtp() {
    local client=$1 from=$2 to=$3
    shift 3
    local args=(--server 127.0.0.1 --port "$SMTP_PORT" --from "$from" --to "$to"
        --helo client.interop.test --quit-after RCPT --timeout 30 --hide-informational)
    if [[ "$client" != - ]]; then
        [[ "$client" == *:* ]] && client="IPV6:$client"
        args+=(--xclient-addr "$client" --xclient-name "[UNAVAILABLE]")
    fi
    swaks "${args[@]}" "$@" 2>&1 || true
}
