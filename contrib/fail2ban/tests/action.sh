#!/bin/bash
# End-to-end test of action.d/ward.conf: a real fail2ban (its own server, socket and
# config in a temporary directory, nothing of the host's) reads a mail log with the
# ward-* filters and bans through the action against tests/stub-ward.py, a stand-in
# for ward's admin API on 127.0.0.1 that records every request. Checks the exact
# requests (method, path, query, bearer token, JSON) for:
#   a ban (GET the zone's entries, then POST with expires = last failure + bantime +
#   grace), its unban when the ban time is over (GET, DELETE ...&by=fail2ban&ticket=…), a
#   repeat offender (bantime.increment: POST with the jail's bantime, then the prolong
#   POST with twice that), a permanent ban (bantime = -1: no expires), a listing made
#   by someone else (neither replaced nor removed), a listing removed meanwhile and one
#   whose DELETE answers 404 (both success, logged), a wrong token (HTTP 401) and ward
#   not answering (both logged by fail2ban as a failed ban, with the action's message),
#   and that the token appears in no command fail2ban logs.
# With WARD=/path/to/ward it also runs one ban and unban against a real ward (admin
# listener and DNS on 127.0.0.1, zones in the temporary directory) and asks its DNS.
#
#   contrib/fail2ban/tests/action.sh          (about a minute; exit 0 when all pass)
#
# Needs fail2ban >= 1.0, curl, python3; only loopback traffic.

set -u
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
contrib=$(dirname "$here")
f2b_config=${FAIL2BAN_CONFIG:-/etc/fail2ban}
for tool in fail2ban-client fail2ban-server curl python3; do
    command -v "$tool" >/dev/null || { echo "action.sh: $tool not found" >&2; exit 1; }
done

work=$(mktemp -d)
stub_pid=
ward_pid=
f2b_started=
cleanup() {
    if [ -n "$f2b_started" ]; then
        fail2ban-client -s "$work/fail2ban.sock" stop >/dev/null 2>&1
        [ -r "$work/fail2ban.pid" ] && kill "$(cat "$work/fail2ban.pid")" 2>/dev/null
    fi
    [ -n "$stub_pid" ] && kill "$stub_pid" 2>/dev/null
    [ -n "$ward_pid" ] && kill "$ward_pid" 2>/dev/null
    wait 2>/dev/null
    if [ "${KEEP:-}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

failed=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }

free_port() {
    # A port free for both TCP and UDP (ward's DNS listener takes both).
    python3 -c '
import socket
while True:
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM); t.bind(("127.0.0.1", 0))
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", t.getsockname()[1])); print(t.getsockname()[1]); break
    except OSError:
        pass'
}
# wait_for SECONDS COMMAND...: until COMMAND succeeds
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.2
    done
}
requests() { [ -r "$work/requests.jsonl" ] && wc -l < "$work/requests.jsonl" || echo 0; }
have_requests() { [ "$(requests)" -ge "$1" ]; }
logged() { grep -q -- "$1" "$work/fail2ban.log" 2>/dev/null; }
now() { date '+%b %e %H:%M:%S'; }
# a Postfix line each filter counts, with the current time
line_unknown_rcpt() {  # sender
    local rcpt="nobody$RANDOM@example.com"
    echo "$(now) mx1 postfix/smtpd[2001]: NOQUEUE: reject: RCPT from mail.shop.example[198.51.100.23]: 550 5.1.1 <$rcpt>: Recipient address rejected: User unknown in virtual mailbox table; from=<$1> to=<$rcpt> proto=ESMTP helo=<mail.shop.example>"
}
line_bad_sender() {  # sender
    echo "$(now) mx1 postfix/smtpd[2002]: NOQUEUE: reject: RCPT from unknown[192.0.2.52]: 504 5.5.2 <$1>: Sender address rejected: need fully-qualified address; from=<$1> to=<admin@example.com> proto=ESMTP helo=<backup>"
}
line_rate() {  # sender
    echo "$(now) mx1 postfix/submission/smtpd[2003]: NOQUEUE: reject: RCPT from unknown[192.0.2.60]: 450 4.7.1 <a.user@example.net>: Recipient address rejected: Rate limit reach, retry later; from=<$1> to=<a.user@example.net> proto=ESMTP helo=<[192.0.2.60]>"
}
# the requests since request number $1 (1-based), as JSON lines
since() { tail -n "+$1" "$work/requests.jsonl"; }
# check_requests FIRST 'python assertion over r (the requests from FIRST on), token, T'
check_requests() {
    local first=$1 what=$2 code=$3
    if since "$first" | python3 -c '
import json, sys
token, T = sys.argv[2], float(sys.argv[3])
r = [json.loads(l) for l in sys.stdin if l.strip()]
for x in r:
    x["json"] = json.loads(x["body"]) if x["body"] else None
    x["q"] = {k: v[0] for k, v in x["query"].items()}
ok = eval("(" + sys.argv[1] + ")")
if not ok:
    json.dump(r, sys.stderr, indent=1)
    sys.exit(1)
' "$code" "$token" "${T:-0}" 2> "$work/check.err"; then
        ok "$what"
    else
        bad "$what; the requests were:"
        sed 's/^/    /' "$work/check.err"
    fi
}
expires_at() {  # epoch seconds -> RFC 3339, as the action writes it
    date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ
}

# --- the stub, the token, fail2ban's own configuration -------------------------------
port=$(free_port)
dead_port=$(free_port)
token=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
printf '%s\n' "$token" > "$work/admin.token"
printf '%s\n' "0123456789abcdef-not-the-token" > "$work/wrong.token"
chmod 600 "$work/admin.token" "$work/wrong.token"
python3 "$here/stub-ward.py" "$port" "$token" "$work/requests.jsonl" > "$work/stub.log" 2>&1 &
stub_pid=$!
wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$port/" || { echo "action.sh: the stub did not start" >&2; cat "$work/stub.log"; exit 1; }
rm -f "$work/requests.jsonl"

mkdir -p "$work/conf/filter.d" "$work/conf/action.d"
cp "$f2b_config/filter.d/common.conf" "$contrib"/filter.d/*.conf "$work/conf/filter.d/"
cp "$contrib"/action.d/*.conf "$work/conf/action.d/"
touch "$work/mail.log"
cat > "$work/conf/fail2ban.conf" <<EOF
[Definition]
loglevel = DEBUG
logtarget = $work/fail2ban.log
syslogsocket = auto
socket = $work/fail2ban.sock
pidfile = $work/fail2ban.pid
allowipv6 = auto
dbfile = $work/fail2ban.sqlite3
dbpurgeage = 1d
EOF
api="http://127.0.0.1:$port"
cat > "$work/conf/jail.conf" <<EOF
[DEFAULT]
backend = polling
logpath = $work/mail.log
findtime = 1h

[ward-invalid-recipients]
enabled = true
filter = ward-invalid-recipients[mode=postfix]
maxretry = 2
bantime = 6
bantime.increment = true
bantime.factor = 1
bantime.maxtime = 1h
action = ward[zone="senders.block.example", reason=invalid-recipients, api="$api", tokenfile="$work/admin.token", grace=2]

[ward-invalid-sender]
enabled = true
filter = ward-invalid-sender[mode=postfix]
maxretry = 1
bantime = -1
action = ward[zone="senders.block.example", reason=invalid-sender, api="$api", tokenfile="$work/admin.token"]

[ward-badtoken]
enabled = true
filter = ward-rate-evasion[mode=postfix]
maxretry = 1
bantime = 1h
action = ward[zone="senders.block.example", reason=rate-evasion, api="$api", tokenfile="$work/wrong.token"]

[ward-down]
enabled = true
filter = ward-rate-evasion-domain[mode=postfix]
maxretry = 1
bantime = 1h
action = ward[zone="senders.block.example", reason=rate-evasion, api="http://127.0.0.1:$dead_port", tokenfile="$work/admin.token", curltimeout=3]
EOF

if ! fail2ban-client -c "$work/conf" -s "$work/fail2ban.sock" -p "$work/fail2ban.pid" start > "$work/start.log" 2>&1; then
    echo "action.sh: fail2ban did not start:" >&2
    cat "$work/start.log" "$work/fail2ban.log" >&2
    exit 1
fi
f2b_started=1
wait_for 20 logged "Jail 'ward-down' started" || { echo "action.sh: the jails did not start" >&2; tail -20 "$work/fail2ban.log" >&2; exit 1; }
f2b() { fail2ban-client -c "$work/conf" -s "$work/fail2ban.sock" "$@"; }

# --- 1. a ban ------------------------------------------------------------------------
first=$(( $(requests) + 1 ))
line_unknown_rcpt newsletter@shop.example >> "$work/mail.log"
T=$(date +%s)
line_unknown_rcpt newsletter@shop.example >> "$work/mail.log"
if wait_for 20 have_requests $((first + 1)); then
    check_requests "$first" "ban: GET the zone's entries for the key, then POST the entry with bearer token and JSON" '
len(r) == 2
and r[0]["method"] == "GET" and r[0]["path"] == "/api/v1/entries"
and r[0]["q"] == {"zone": "senders.block.example", "key": "newsletter@shop.example"}
and r[1]["method"] == "POST" and r[1]["path"] == "/api/v1/entries" and r[1]["query"] == {}
and all(x["authorization"] == "Bearer " + token for x in r)
and r[1]["content_type"] == "application/json"
and set(r[1]["json"]) == {"zone", "key", "reason", "ticket", "by", "expires"}
and r[1]["json"]["zone"] == "senders.block.example"
and r[1]["json"]["key"] == "newsletter@shop.example"
and r[1]["json"]["reason"] == "invalid-recipients"
and r[1]["json"]["ticket"] == "fail2ban:ward-invalid-recipients"
and r[1]["json"]["by"] == "fail2ban"'
    # expires: the last failure (T, to the second) + bantime 6 + grace 2
    got=$(since "$((first + 1))" | head -n1 | python3 -c 'import json,sys; print(json.loads(json.load(sys.stdin)["body"])["expires"])')
    if [ "$got" = "$(expires_at $((T + 8)))" ] || [ "$got" = "$(expires_at $((T + 7)))" ] || [ "$got" = "$(expires_at $((T + 9)))" ]; then
        ok "ban: expires = last failure + bantime (6 s) + grace (2 s) = $got"
    else
        bad "ban: expires $got, expected $(expires_at $((T + 8))) (last failure + 6 + 2)"
    fi
else
    bad "ban: no GET and POST reached the stub"; tail -30 "$work/fail2ban.log"
fi
wait_for 5 logged "stdout: 'ward: listed newsletter@shop.example in senders.block.example as invalid-recipients until" \
    && ok "ban: the action's message is in fail2ban's log" || bad "ban: no 'listed' message in fail2ban's log"

# --- 2. the unban when the ban time is over -----------------------------------------
first=$(( $(requests) + 1 ))
if wait_for 20 have_requests $((first + 1)); then
    check_requests "$first" "unban: GET, then DELETE ?zone=&key=&by=fail2ban&ticket=fail2ban:JAIL, no body" '
len(r) == 2 and r[0]["method"] == "GET"
and r[1]["method"] == "DELETE" and r[1]["path"] == "/api/v1/entries" and r[1]["body"] == ""
and r[1]["q"] == {"zone": "senders.block.example", "key": "newsletter@shop.example", "by": "fail2ban", "ticket": "fail2ban:ward-invalid-recipients"}
and r[1]["authorization"] == "Bearer " + token'
else
    bad "unban: no DELETE reached the stub"
fi
wait_for 5 logged "ward: removed newsletter@shop.example from senders.block.example (HTTP 200)" \
    && ok "unban: 'removed' logged" || bad "unban: no 'removed' message in fail2ban's log"

# --- 3. the same sender again: bantime.increment -------------------------------------
# The first failure bans already (fail2ban counts a known offender's failures more),
# with the jail's bantime (6 s) or, if fail2ban's observer was quicker, the increased
# one; then actionprolong posts the increased ban time, 6 * 2 = 12 s.
first=$(( $(requests) + 1 ))
T=$(date +%s)
line_unknown_rcpt newsletter@shop.example >> "$work/mail.log"
line_unknown_rcpt newsletter@shop.example >> "$work/mail.log"
if wait_for 25 have_requests $((first + 3)); then
    check_requests "$first" "repeat offender: a POST, then the prolong POST expiring at the last failure + 2 x 6 s + 2 s" '
[x["method"] for x in r[:4]] == ["GET", "POST", "GET", "POST"]
and r[1]["json"]["key"] == r[3]["json"]["key"] == "newsletter@shop.example"
and abs(__import__("datetime").datetime.fromisoformat(r[3]["json"]["expires"].replace("Z", "+00:00")).timestamp() - (T + 14)) <= 2
and (__import__("datetime").datetime.fromisoformat(r[3]["json"]["expires"].replace("Z", "+00:00"))
     - __import__("datetime").datetime.fromisoformat(r[1]["json"]["expires"].replace("Z", "+00:00"))).total_seconds() in (0, 6)'
else
    bad "repeat offender: expected GET, POST, GET, POST (ban, then prolong)"; since "$first"
fi
logged "Increase Ban newsletter@shop.example" && ok "repeat offender: fail2ban increased the ban" || bad "repeat offender: no 'Increase Ban' in fail2ban's log"
f2b set ward-invalid-recipients unbanip newsletter@shop.example >/dev/null

# --- 4. a permanent ban --------------------------------------------------------------
first=$(( $(requests) + 1 ))
line_bad_sender root@localhost >> "$work/mail.log"
if wait_for 20 have_requests $((first + 1)); then
    check_requests "$first" "permanent ban (bantime = -1): POST without expires" '
[x["method"] for x in r[:2]] == ["GET", "POST"]
and r[1]["json"] == {"zone": "senders.block.example", "key": "root@localhost", "reason": "invalid-sender",
                     "ticket": "fail2ban:ward-invalid-sender", "by": "fail2ban"}'
else
    bad "permanent ban: no POST"
fi
f2b set ward-invalid-sender unbanip root@localhost >/dev/null
wait_for 10 logged "ward: removed root@localhost" && ok "permanent ban: removed by unbanip" || bad "permanent ban: not removed by unbanip"

# --- 5. a listing somebody else made ----------------------------------------------------
curl -s -o /dev/null -H "Authorization: Bearer $token" \
    -d '{"zone":"senders.block.example","key":"sender9@bulk.example","reason":"rate-evasion","ticket":"5120","by":"cli:alice"}' \
    "$api/api/v1/entries"
first=$(( $(requests) + 1 ))
line_unknown_rcpt sender9@bulk.example >> "$work/mail.log"
line_unknown_rcpt sender9@bulk.example >> "$work/mail.log"
if wait_for 20 logged "sender9@bulk.example is already listed in senders.block.example by cli:alice (ticket 5120): left alone"; then
    check_requests "$first" "foreign listing: the ban only reads (GET), and says so" '[x["method"] for x in r] == ["GET"]'
else
    bad "foreign listing: no 'left alone' message"; since "$first"
fi
first=$(( $(requests) + 1 ))
f2b set ward-invalid-recipients unbanip sender9@bulk.example >/dev/null
if wait_for 10 logged "sender9@bulk.example is listed in senders.block.example by cli:alice (ticket 5120), not by jail ward-invalid-recipients: left alone"; then
    check_requests "$first" "foreign listing: the unban only reads (GET) too" '[x["method"] for x in r] == ["GET"]'
else
    bad "foreign listing: the unban did not leave it alone"; since "$first"
fi

# --- 6. removed meanwhile; a DELETE that finds nothing (404) --------------------------
line_unknown_rcpt gone@shop.example >> "$work/mail.log"
line_unknown_rcpt gone@shop.example >> "$work/mail.log"
wait_for 20 logged "ward: listed gone@shop.example" || bad "removed meanwhile: no ban"
curl -s -o /dev/null -X DELETE -H "Authorization: Bearer $token" "$api/api/v1/entries?zone=senders.block.example&key=gone@shop.example&by=cli:alice"
f2b set ward-invalid-recipients unbanip gone@shop.example >/dev/null
wait_for 10 logged "ward: gone@shop.example is not listed in senders.block.example any more (expired or removed): nothing to remove" \
    && ok "removed meanwhile: the unban succeeds and says so" || bad "removed meanwhile: no 'nothing to remove' message"
line_unknown_rcpt race-1@shop.example >> "$work/mail.log"
line_unknown_rcpt race-1@shop.example >> "$work/mail.log"
wait_for 20 logged "ward: listed race-1@shop.example" || bad "404 on DELETE: no ban"
first=$(( $(requests) + 1 ))
f2b set ward-invalid-recipients unbanip race-1@shop.example >/dev/null
if wait_for 10 logged "ward: race-1@shop.example was not listed in senders.block.example any more (expired or removed meanwhile): nothing to remove (HTTP 404)"; then
    check_requests "$first" "404 on DELETE: success with a log line, after GET and DELETE" '[x["method"] for x in r] == ["GET", "DELETE"]'
else
    bad "404 on DELETE: not taken as success"
fi
logged "Failed to execute unban jail 'ward-invalid-recipients'" && bad "an unban failed in fail2ban's log" || ok "no unban of ward-invalid-recipients failed"

# --- 7. a wrong token, ward not answering ---------------------------------------------
line_rate sender1@bulk.example >> "$work/mail.log"
wait_for 25 logged "ward: GET http://127.0.0.1:$port/api/v1/entries?zone=senders.block.example answered HTTP 401" \
    && ok "wrong token: the action fails with HTTP 401, and fail2ban logs it" || bad "wrong token: no HTTP 401 failure logged"
wait_for 25 logged "ward: no answer from http://127.0.0.1:$dead_port (curl exit code 7)" \
    && ok "ward down: the action fails, and fail2ban logs it" || bad "ward down: no failure logged"
wait_for 10 logged "Failed to execute ban jail 'ward-badtoken' action 'ward'" \
    && logged "Failed to execute ban jail 'ward-down' action 'ward'" \
    && ok "failures are logged by fail2ban as failed bans" || bad "failed bans are not in fail2ban's log"

# --- 8. the token stays out of the commands fail2ban logs ------------------------------
if grep -qF "$token" "$work/fail2ban.log"; then
    bad "the token appears in fail2ban's log"
else
    ok "the token appears nowhere in fail2ban's (debug) log"
fi

# --- 9. optional: a real ward ------------------------------------------------------------
if [ -n "${WARD:-}" ]; then
    # fail2ban runs actions from its own directory: the path must not be relative.
    WARD=$(realpath "$WARD")
    wport=$(free_port)
    dport=$(free_port)
    repo=$(cd "$contrib/../.." && pwd)
    mkdir -p "$work/ward/zones/senders.block.example"
    if [ -r "$repo/zones/reasons.conf" ]; then
        cp "$repo/zones/reasons.conf" "$work/ward/zones/"
    else
        printf '%s\n' '$REASON invalid-recipients 127.0.0.7 "$ mailed many addresses that do not exist."' \
            '$REASON invalid-sender 127.0.0.12 "$ cannot receive bounces."' > "$work/ward/zones/reasons.conf"
    fi
    printf '%s\n' '# admins'"'"' own entries' > "$work/ward/zones/senders.block.example/manual.zone"
    "$WARD" serve --zones "$work/ward/zones" --listen "127.0.0.1:$dport" --admin "127.0.0.1:$wport" \
        --admin-token-file "$work/admin.token" --state "$work/ward/state" > "$work/ward/ward.log" 2>&1 &
    ward_pid=$!
    if wait_for 20 curl -s -o /dev/null "http://127.0.0.1:$wport/"; then
        cat >> "$work/conf/jail.conf" <<EOF

[ward-real]
enabled = true
filter = ward-invalid-recipients[mode=postfix, ignoresenders="(?!real@)\S+"]
maxretry = 2
bantime = 1h
action = ward[zone="senders.block.example", reason=invalid-recipients, api="http://127.0.0.1:$wport", tokenfile="$work/admin.token"]
EOF
        f2b reload >/dev/null
        wait_for 20 logged "Jail 'ward-real' started"
        line_unknown_rcpt real@shop.example >> "$work/mail.log"
        line_unknown_rcpt real@shop.example >> "$work/mail.log"
        if wait_for 20 logged "ward: listed real@shop.example in senders.block.example as invalid-recipients"; then
            ok "real ward: listed (HTTP 201)"
            if command -v dig >/dev/null; then
                wait_for 10 sh -c "[ \"\$(dig @127.0.0.1 -p $dport +short real.shop.example.senders.block.example A)\" = 127.0.0.7 ]" \
                    && ok "real ward: real.shop.example.senders.block.example A 127.0.0.7" || bad "real ward: the DNS does not answer the listing"
            fi
            f2b set ward-real unbanip real@shop.example >/dev/null
            wait_for 10 logged "ward: removed real@shop.example from senders.block.example (HTTP 200)" \
                && ok "real ward: removed (HTTP 200)" || bad "real ward: not removed"
            if command -v dig >/dev/null; then
                wait_for 10 sh -c "dig @127.0.0.1 -p $dport real.shop.example.senders.block.example A | grep -q NXDOMAIN" \
                    && ok "real ward: NXDOMAIN after the unban" || bad "real ward: still answering after the unban"
            fi
            grep -q '"action":"add","by":"fail2ban"' "$work/ward/state/audit.log" \
                && grep -q '"action":"remove","by":"fail2ban"' "$work/ward/state/audit.log" \
                && ok "real ward: both changes in its audit log, by=fail2ban" || bad "real ward: audit log lacks the changes"
            # the same with action.d/ward-cli.conf (`ward add` / `ward remove`)
            cat >> "$work/conf/jail.conf" <<EOF

[ward-real-cli]
enabled = true
filter = ward-invalid-sender[mode=postfix, ignoresenders="(?!cli@)\S+"]
maxretry = 1
bantime = 1h
action = ward-cli[zone="senders.block.example", reason=invalid-sender, ward="$WARD", zonesdir="$work/ward/zones", statedir="$work/ward/state"]
EOF
            f2b reload >/dev/null
            wait_for 20 logged "Jail 'ward-real-cli' started"
            line_bad_sender cli@web1.localdomain >> "$work/mail.log"
            if wait_for 20 logged "ward: listed cli@web1.localdomain in senders.block.example as invalid-sender until"; then
                ok "real ward, CLI: listed by ward add"
                if command -v dig >/dev/null; then
                    wait_for 10 sh -c "[ \"\$(dig @127.0.0.1 -p $dport +short cli.web1.localdomain.senders.block.example A)\" = 127.0.0.12 ]" \
                        && ok "real ward, CLI: cli.web1.localdomain.senders.block.example A 127.0.0.12" || bad "real ward, CLI: the DNS does not answer the listing"
                fi
                grep -q '^cli@web1.localdomain  invalid-sender  expires=.* by=fail2ban ticket=fail2ban:ward-real-cli$' "$work/ward/zones/senders.block.example/api.zone" \
                    && ok "real ward, CLI: the api.zone line has expires=, by=fail2ban, ticket=fail2ban:ward-real-cli" \
                    || { bad "real ward, CLI: unexpected api.zone:"; sed 's/^/    /' "$work/ward/zones/senders.block.example/api.zone"; }
                f2b set ward-real-cli unbanip cli@web1.localdomain >/dev/null
                wait_for 10 logged "ward: removed cli@web1.localdomain from senders.block.example" \
                    && ok "real ward, CLI: removed by ward remove" || bad "real ward, CLI: not removed"
            else
                bad "real ward, CLI: not listed"; grep -E "ward:|ERROR" "$work/fail2ban.log" | tail -5
            fi
        else
            bad "real ward: not listed"; grep -E "ward:|ERROR" "$work/fail2ban.log" | tail -5
        fi
    else
        bad "real ward: did not start"; cat "$work/ward/ward.log"
    fi
fi

if [ "$failed" -gt 0 ]; then
    echo "action.sh: $failed check(s) FAILED (KEEP=1 keeps the work directory)"
    exit 1
fi
echo "action.sh: all checks passed"
