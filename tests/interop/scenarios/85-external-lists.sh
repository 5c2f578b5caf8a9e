#!/usr/bin/env bash
# "Is my server listed anywhere?": ward's lookup page, its JSON, the bounce explainer and
# `ward lookup --external` ask public lists through a real unbound. Stand-ins for the
# public lists, all on loopback, each a stub zone of unbound:
#   rbl.lists.example      Debian's rbldnsd, lists 203.0.113.7 (127.0.0.2)
#   refusing.lists.example a second ward, answers 127.255.255.254 to everything ("your resolver
#                 is refused", as Spamhaus does)
#   dom.lists.example      the second ward, a domain list (spam.example, 127.0.1.2)
#   silent.lists.example   a port that drops every packet: a timeout
#   broken.lists.example   a server that refuses the zone: unbound answers SERVFAIL
# Checked: each list's status and detail in the JSON, the page and the CLI; a bounce
# naming rbl.lists.example is explained with its answer; a second identical lookup sends no query
# to unbound; a burst of 1,000 lookups of distinct IPs stays within the outbound cap
# (counted in unbound's query log).
source "$(dirname "$0")/../lib.sh"

need_cmd rbldnsd
need_cmd unbound
need_cmd curl
need_cmd python3

# --- the stand-ins ---
RBL_PORT=$(free_port)
printf ':127.0.0.2:Listed by the stand-in rbl\n203.0.113.7\n' >"$WORK/rbl.ip4set"
chmod 755 "$WORK"
chmod 644 "$WORK/rbl.ip4set"
bg "$WORK/rbldnsd.log" rbldnsd -n -f -u nobody -b "127.0.0.1/$RBL_PORT" -r "$WORK" rbl.lists.example:ip4set:rbl.ip4set
wait_until 10 "rbldnsd to answer" _status_is 127.0.0.1 "$RBL_PORT" 7.113.0.203.rbl.lists.example A NOERROR

S=$WORK/stand-in
mkdir -p "$S/zones"
printf '0.0.0.0/0 :127.255.255.254:Refused\n' >"$S/zones/refusing.lists.example.ip4set"
printf 'spam.example :127.0.1.2:Spam domain\n' >"$S/zones/dom.lists.example.dnset"
STAND_IN_PORT=$(free_port)
bg "$WORK/stand-in.log" "$WARD_BIN" serve --zones "$S/zones" --listen "127.0.0.1:$STAND_IN_PORT" --no-test-points
wait_until 15 "the stand-in ward to answer" _status_is 127.0.0.1 "$STAND_IN_PORT" refusing.lists.example SOA NOERROR

SILENT_PORT=$(free_port)
cat >"$WORK/silent.py" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    s.recvfrom(4096)  # read and drop: the sender times out
EOF
bg "$WORK/silent.log" python3 "$WORK/silent.py" "$SILENT_PORT"

# --- unbound in front of them ---
UNBOUND_ADDR=$(random_loopback)
UNBOUND_PORT=$(free_port)
cat >"$WORK/unbound.conf" <<EOF
server:
    interface: $UNBOUND_ADDR
    port: $UNBOUND_PORT
    username: ""
    chroot: ""
    directory: "$WORK"
    pidfile: "$WORK/unbound.pid"
    use-syslog: no
    logfile: "$WORK/unbound-queries.log"
    log-queries: yes
    verbosity: 0
    num-threads: 1
    module-config: "iterator"
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    domain-insecure: "lists.example"
stub-zone:
    name: "rbl.lists.example"
    stub-addr: 127.0.0.1@$RBL_PORT
stub-zone:
    name: "refusing.lists.example"
    stub-addr: 127.0.0.1@$STAND_IN_PORT
stub-zone:
    name: "dom.lists.example"
    stub-addr: 127.0.0.1@$STAND_IN_PORT
stub-zone:
    name: "silent.lists.example"
    stub-addr: 127.0.0.1@$SILENT_PORT
stub-zone:
    name: "broken.lists.example"
    stub-addr: 127.0.0.1@$STAND_IN_PORT
EOF
unbound-checkconf "$WORK/unbound.conf" >/dev/null || fail "unbound-checkconf rejected the config"
bg "$WORK/unbound.out" unbound -d -c "$WORK/unbound.conf"
register_log "$WORK/unbound-queries.log"
wait_until 15 "unbound to answer" _status_is "$UNBOUND_ADDR" "$UNBOUND_PORT" 7.113.0.203.rbl.lists.example A NOERROR
say "unbound on $UNBOUND_ADDR:$UNBOUND_PORT in front of the stand-in lists"

# --- ward, asking them ---
Z=$WORK/zones
write_zones "$Z"
cat >"$WORK/ward.toml" <<EOF
[resolver]
address = "$UNBOUND_ADDR:$UNBOUND_PORT"
timeout = 1.5
max_queries_per_second = 20

[external."rbl.lists.example"]
name = "Stand-in RBL"
lists = ["ipv4"]
link = "https://rbl.example/lookup?ip=\$"
[external."rbl.lists.example".codes]
"127.0.0.2" = "a spam source"

[external."refusing.lists.example"]
name = "Refusing list"
lists = ["ipv4"]
[external."refusing.lists.example".codes]
"127.0.0.2" = "listed"

[external."silent.lists.example"]
name = "Silent list"
lists = ["ipv4"]

[external."broken.lists.example"]
name = "Broken list"
lists = ["ipv4"]

[external."dom.lists.example"]
name = "Domain list"
lists = ["domain"]
[external."dom.lists.example".codes]
"127.0.1.2" = "a spam domain"
EOF
HTTP_PORT=$(free_port)
start_ward "$Z" --config "$WORK/ward.toml" --http "127.0.0.1:$HTTP_PORT" --trusted-proxy 127.0.0.0/8
# The page's listener binds right after the DNS side answers.
wait_until 10 "the lookup page" curl -sf -o /dev/null "http://127.0.0.1:$HTTP_PORT/ward.css"
api() { curl -s --max-time 10 "http://127.0.0.1:$HTTP_PORT/api/v1/lookup?q=$1" -H "X-Forwarded-For: ${2:-192.0.2.200}"; }
status_of() { # JSON ZONE -> status|detail
    python3 -c 'import json,sys; v=json.load(sys.stdin); l=[x for x in v.get("external",[]) if x["zone"]==sys.argv[1]]; print(l[0]["status"]+"|"+(l[0].get("detail") or "") if l else "absent")' "$2" <<<"$1"
}
field_of() { # JSON ZONE FIELD -> the field, as JSON
    python3 -c 'import json,sys; v=json.load(sys.stdin); l=[x for x in v.get("external",[]) if x["zone"]==sys.argv[1]]; print(json.dumps(l[0].get(sys.argv[2])) if l else "absent")' "$2" "$3" <<<"$1"
}
json=$(api 203.0.113.7)
expect_contains "$(status_of "$json" rbl.lists.example)" "listed|" "rbldnsd's listing is shown as listed"
expect_eq "$(field_of "$json" rbl.lists.example meanings)" '["a spam source"]' "with the meaning of its code"
expect_eq "$(field_of "$json" rbl.lists.example link)" '"https://rbl.example/lookup?ip=203.0.113.7"' "and the list's page for the IP"
expect_contains "$(status_of "$json" refusing.lists.example)" "not checked|it answered 127.255.255.254: the list refuses the resolver" "127.255.255.254 is no listing"
expect_contains "$(status_of "$json" silent.lists.example)" "not checked|no answer within 1.5 s" "a list that drops the question: could not check (timeout)"
expect_contains "$(status_of "$json" broken.lists.example)" "not checked|" "a list the resolver cannot reach: could not check"
expect_contains "$(status_of "$json" broken.lists.example)" "SERVFAIL" "... because of SERVFAIL"
expect_eq "$(status_of "$json" dom.lists.example)" "absent" "a domain list is not asked about an IP"
expect_eq "$(status_of "$(api spam.example)" dom.lists.example)" "listed|" "the domain list lists spam.example"
expect_eq "$(status_of "$(api 203.0.113.8)" rbl.lists.example)" "not listed|" "an unlisted IP: not listed"

page=$(curl -s --max-time 10 "http://127.0.0.1:$HTTP_PORT/lookup?q=203.0.113.7")
expect_contains "$page" "Other lists" "the page has the public lists' table"
expect_contains "$page" "could not check" "the page says which lists could not be checked"
explained=$(curl -s --max-time 10 -G "http://127.0.0.1:$HTTP_PORT/explain" \
    --data-urlencode "text=554 5.7.1 Client host [203.0.113.7] blocked using rbl.lists.example; see https://rbl.example/")
expect_contains "$explained" "rbl.lists.example (Stand-in RBL) lists 203.0.113.7 as 127.0.0.2: a spam source." "the explainer asks the list the bounce names"
cli=$(cd "$WORK" && "$WARD_BIN" lookup --external --zones "$Z" --config "$WORK/ward.toml" 203.0.113.7 || true)
expect_contains "$cli" "Stand-in RBL (rbl.lists.example): listed: 127.0.0.2 (a spam source)" "ward lookup --external"
expect_contains "$cli" "Silent list (silent.lists.example): could not check: no answer within 1.5 s" "ward lookup --external: the timeout"

# --- the cache: the same lookup again sends nothing ---
asked() { grep -c "$1" "$WORK/unbound-queries.log" || true; }
before=$(asked "7.113.0.203.rbl.lists.example")
api 203.0.113.7 >/dev/null
curl -s --max-time 10 "http://127.0.0.1:$HTTP_PORT/lookup?q=203.0.113.7" >/dev/null
expect_eq "$(asked "7.113.0.203.rbl.lists.example")" "$before" "a second lookup asks unbound nothing (answers kept for their TTL)"

# --- a burst of distinct IPs stays within the cap (20 a second) ---
before=$(grep -c "info: " "$WORK/unbound-queries.log" || true)
start=$(date +%s)
for ((i = 0; i < 1000; i++)); do
    api "198.18.$((i / 250)).$((i % 250 + 1))" "10.$((i / 100)).0.$((i % 100 + 1))" >/dev/null
done
seconds=$(($(date +%s) - start + 1))
sent=$(($(grep -c "info: " "$WORK/unbound-queries.log" || true) - before))
if ((sent <= 20 * seconds + 20)); then
    ok "1,000 lookups in ${seconds} s sent $sent questions (cap: 20 a second)"
else
    check_failed "1,000 lookups in ${seconds} s sent $sent questions, over the cap of 20 a second"
fi

finish
