#!/usr/bin/env bash
# Lists that keep themselves (docs/fail2ban.md): real Postfix logs to a file, real
# fail2ban reads it with contrib/fail2ban's filters, jails (jail.d/ward.conf, enabled
# and with short ban times in jail.local) and action, and lists through ward's admin
# API; Postfix asks `ward policy`, which asks ward over DNS, about every sender.
#   1. ten mails to unknown recipients from one sender -> fail2ban bans it -> ward lists
#      it as invalid-recipients, with an expiry, by fail2ban, with the jail as ticket
#      -> its next mail is refused with the reason's TXT in the 554 -> the ban time
#      ends, fail2ban unbans -> ward removes the entry -> its mail is accepted again;
#   2. the same for a sender that cannot take bounces: its domain does not exist
#      (Postfix's reject_unknown_sender_domain, 550), so it is listed as invalid-sender
#      and refused with that reason; the customer fixes the domain's DNS (unbound's
#      local data, as their DNS host would), the ban ends, its mail is accepted;
#   3. nothing an admin wrote in the zones directory changed.
source "$(dirname "$0")/../lib.sh"

need_cmd fail2ban-client fail2ban-server curl python3 sha256sum

ZONE=f2b.block.example
CONTRIB=$REPO_ROOT/contrib/fail2ban
BANTIME=20

# --- ward: the zones (the senders zone a directory, with an admin's own file) ---
write_zones "$WORK/zones"
cat >>"$WORK/zones/reasons.conf" <<'EOF'
$REASON invalid-recipients 127.0.0.7  "$ mailed many addresses that do not exist. Clean the list."
$REASON invalid-sender     127.0.0.12 "$ cannot receive bounces. Send from a real, reachable address."
EOF
mkdir -p "$WORK/zones/$ZONE"
cat >"$WORK/zones/$ZONE/admin.zone" <<'EOF'
$SOA 3600 ns1.block.example. hostmaster.block.example. 0 600 300 86400 10
$NS 3600 ns1.block.example.
$TTL 10
# an admin's own listing: fail2ban must leave it (and this file) alone
offers@deals.example.com   rate-evasion
EOF
admin_files() { (cd "$WORK/zones" && find . -type f ! -name 'api.zone' ! -name '.api.zone*' -print0 | sort -z | xargs -0 sha256sum); }
BEFORE=$(admin_files)

python3 -c 'import secrets; print(secrets.token_hex(32))' >"$WORK/admin.token"
chmod 600 "$WORK/admin.token"
ADMIN_PORT=$(free_port)
start_ward "$WORK/zones" --admin "127.0.0.1:$ADMIN_PORT" --admin-token-file "$WORK/admin.token" --state "$WORK/state"
API=http://127.0.0.1:$ADMIN_PORT
wait_until 15 "the admin API to answer" curl -sf -o /dev/null -H "Authorization: Bearer $(cat "$WORK/admin.token")" "$API/api/v1/entries"
entries() { curl -s -H "Authorization: Bearer $(cat "$WORK/admin.token")" "$API/api/v1/entries?zone=$ZONE&key=$1"; }
# entry KEY FIELD: that field of the API's entry for KEY ("none" without an entry)
entry() { entries "$1" | python3 -c 'import json,sys; e=json.load(sys.stdin)["entries"]; print(e[0].get(sys.argv[1]) if e else "none")' "$2"; }

# --- ward policy, which Postfix asks ---
POLICY_PORT=$(free_port)
bg "$WORK/policy.log" "$WARD_BIN" policy --listen "127.0.0.1:$POLICY_PORT" \
    --server "127.0.0.1:$WARD_PORT" --sender-zone "$ZONE" --timeout 2
wait_until 15 "ward policy to listen" bash -c "exec 3<>/dev/tcp/127.0.0.1/$POLICY_PORT"

# --- Postfix: a virtual domain with one user; its log is the file fail2ban reads ---
# The senders' DNS: shop.example.com exists, web1.shop.example.com does not (yet).
RESOLVER=$(random_loopback)
start_unbound "$RESOLVER" 53 '    local-zone: "shop.example.com." static
    local-data: "shop.example.com. 10 IN A 192.0.2.80"'
cat >"$WORK/postfix-fail2ban.cf" <<EOF
virtual_alias_domains = customers.example.com
virtual_alias_maps = inline:{ { alice@customers.example.com = alice@localhost } }
# ward policy first: a listed sender is refused with its reason, whatever else applies
smtpd_sender_restrictions =
    check_policy_service inet:127.0.0.1:$POLICY_PORT,
    reject_non_fqdn_sender, reject_unknown_sender_domain
# a sender domain that does not exist is refused for good (as jail.d/ward.conf asks)
unknown_address_reject_code = 550
EOF
start_postfix "$RESOLVER" "$WORK/postfix-fail2ban.cf"
MAILLOG=$WORK/postfix.log

# --- fail2ban: its own configuration, socket and database in $WORK ---
F2B=$WORK/fail2ban
mkdir -p "$F2B/filter.d" "$F2B/action.d" "$F2B/jail.d"
cp /etc/fail2ban/filter.d/common.conf "$CONTRIB"/filter.d/*.conf "$F2B/filter.d/"
cp "$CONTRIB"/action.d/*.conf "$F2B/action.d/"
cp "$CONTRIB/jail.d/ward.conf" "$F2B/jail.d/"
cat >"$F2B/fail2ban.conf" <<EOF
[Definition]
loglevel = INFO
logtarget = $F2B/fail2ban.log
socket = $F2B/fail2ban.sock
pidfile = $F2B/fail2ban.pid
dbfile = $F2B/fail2ban.sqlite3
dbpurgeage = 60d
EOF
printf '[DEFAULT]\nbackend = polling\n' >"$F2B/jail.conf"
# as an admin enables the shipped jails (docs/fail2ban.md), with ban times of seconds
cat >"$F2B/jail.local" <<EOF
[DEFAULT]
ward_zone = $ZONE
ward_api = $API
ward_tokenfile = $WORK/admin.token
ward_logpath = $MAILLOG
ward_backend = polling

[ward-invalid-recipients]
enabled = true
bantime = $BANTIME

[ward-invalid-sender]
enabled = true
bantime = $BANTIME
EOF
register_log "$F2B/fail2ban.log"
fail2ban-client -c "$F2B" -s "$F2B/fail2ban.sock" -p "$F2B/fail2ban.pid" start >"$F2B/start.log" 2>&1 ||
    fail "fail2ban did not start: $(cat "$F2B/start.log")"
on_exit "fail2ban-client -c '$F2B' -s '$F2B/fail2ban.sock' stop"
f2b_logged() { grep -q -- "$1" "$F2B/fail2ban.log" 2>/dev/null; }
wait_until 30 "fail2ban's jails to start" f2b_logged "Jail 'ward-invalid-sender' started"
say "fail2ban reads $MAILLOG"

# listed SENDER: the policy's answer through Postfix
accepted() { [[ "$(smtp 192.0.2.1 "$1" alice@customers.example.com)" == *"<-  250 2.1.5 Ok"* ]]; }
listed_in_dns() { [[ -n "$(dns_answer 127.0.0.1 "$WARD_PORT" "$1.$ZONE" A)" ]]; }

# loop SENDER REASON TEXT WHAT [FIX...]: the listing, the refusal, the customer's fix
# (a command, if any), the unban, the acceptance
loop() {
    local sender=$1 reason=$2 text=$3 what=$4 name
    shift 4
    name=${sender/@/.}
    wait_until 30 "$what: fail2ban bans $sender" f2b_logged "Ban $sender"
    wait_until 15 "$what: ward lists $sender" listed_in_dns "$name"
    expect_eq "$(entry "$sender" reason)" "$reason" "$what: listed with reason $reason"
    expect_eq "$(entry "$sender" by)" fail2ban "$what: listed by fail2ban"
    expect_eq "$(entry "$sender" ticket)" "fail2ban:ward-$reason" "$what: the jail is the ticket"
    expect_contains "$(entry "$sender" expires)" "T" "$what: the listing expires (RFC 3339)"
    expect_contains "$(dns_answer 127.0.0.1 "$WARD_PORT" "$name.$ZONE" TXT)" "$text" "$what: TXT gives the reason"
    local out
    out=$(smtp 192.0.2.1 "$sender" alice@customers.example.com)
    expect_contains "$out" "<** 554 5.7.1 <$sender>: Sender address rejected: blocked using $ZONE; $sender $text" \
        "$what: the next mail is refused with the reason's TXT in the 554"
    if (($#)); then "$@" || check_failed "$what: the fix failed: $*"; fi
    wait_until $((BANTIME + 30)) "$what: fail2ban unbans $sender" f2b_logged "Unban $sender"
    wait_until 15 "$what: ward removes $sender" eval '! listed_in_dns "$name"'
    expect_eq "$(entry "$sender" key)" none "$what: the API's entry is gone"
    wait_until 15 "$what: mail from $sender accepted again" accepted "$sender"
    ok "$what: mail from $sender is accepted again after the unban"
}

# --- 1. ten unknown recipients from one sender ---
SENDER=newsletter@shop.example.com
accepted "$SENDER" || check_failed "unknown recipients: $SENDER is accepted before"
for i in $(seq 1 10); do
    out=$(smtp 192.0.2.1 "$SENDER" "nobody$i@customers.example.com")
    [[ "$out" == *"550 5.1.1 <nobody$i@customers.example.com>: Recipient address rejected: User unknown in virtual alias table"* ]] ||
        check_failed "unknown recipient $i was not refused as unknown: $out"
done
loop "$SENDER" invalid-recipients "mailed many addresses that do not exist. Clean the list." "unknown recipients"

# --- 2. a sender that cannot take bounces: its domain does not exist ---
BAD=cron@web1.shop.example.com
for i in 1 2 3; do
    out=$(smtp 192.0.2.1 "$BAD" alice@customers.example.com)
    [[ "$out" == *"550 5.1.8 <$BAD>: Sender address rejected: Domain not found"* ]] ||
        check_failed "invalid sender $i was not refused as such: $out"
done
fix_dns() { unbound-control -c "$UNBOUND_CONF" local_data "web1.shop.example.com. 10 IN A 192.0.2.81" >/dev/null; }
loop "$BAD" invalid-sender "cannot receive bounces. Send from a real, reachable address." "invalid sender" fix_dns

# --- 3. the admins' files ---
expect_eq "$(admin_files)" "$BEFORE" "nothing an admin wrote in the zones directory changed"
expect_contains "$(dns_answer 127.0.0.1 "$WARD_PORT" offers.deals.example.com.$ZONE A)" "127.0.0.8" \
    "the admin's own listing is still served"
grep -q '"action":"add","by":"fail2ban"' "$WORK/state/audit.log" &&
    grep -q '"action":"remove","by":"fail2ban"' "$WORK/state/audit.log" &&
    ok "ward's audit log has fail2ban's adds and removals" || check_failed "audit log: $(cat "$WORK/state/audit.log")"
finish
