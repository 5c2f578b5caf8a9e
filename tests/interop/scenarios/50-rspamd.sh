#!/usr/bin/env bash
# rspamd (snippets/rspamd-rbl.conf, rspamd-rbl_group.conf, rspamd-options.inc) asks ward
# directly. The IP rule fires per return code for listed IPv4/IPv6 clients, the `emails`
# rules (plain and sha1) fire on listed addresses in the message, and rspamd's health
# check of the zones (1.0.0.127 / random label must be NXDOMAIN) keeps the rules enabled.
# No redis needed: the rbl module works without it.
source "$(dirname "$0")/../lib.sh"
need_cmd rspamd rspamc

write_zones "$WORK/zones"
start_ward "$WORK/zones"

R=$WORK/rspamd
mkdir -p "$R/local.d" "$R/override.d" "$R/db" "$R/run" "$R/log"
cp "$SNIPPETS/rspamd-rbl.conf" "$R/local.d/rbl.conf"
cp "$SNIPPETS/rspamd-rbl_group.conf" "$R/local.d/rbl_group.conf"
{
    sed "s/127\.0\.0\.1:5353/127.0.0.1:$WARD_PORT/" "$SNIPPETS/rspamd-options.inc"
    cat <<'EOF'
# --- test harness (not for the README): health checks every 3 s instead of every
# minute so the test sees several; no hyperscan compilation (faster start)
monitoring_watch_interval = 3s;
disable_hyperscan = true;
EOF
} >"$R/local.d/options.inc"
grep -q "127.0.0.1:$WARD_PORT" "$R/local.d/options.inc" || fail "snippets/rspamd-options.inc has no 127.0.0.1:5353 to point at ward"
NPORT=$(free_port)
CPORT=$(free_port)
echo "bind_socket = \"127.0.0.1:$NPORT\"; count = 1;" >"$R/override.d/worker-normal.inc"
echo "bind_socket = \"127.0.0.1:$CPORT\"; count = 1;" >"$R/override.d/worker-controller.inc"
echo "enabled = false;" >"$R/override.d/worker-proxy.inc"
echo "enabled = false;" >"$R/local.d/fuzzy_check.conf" # no fuzzy servers in a test
cat >"$R/override.d/logging.inc" <<EOF
type = "file";
filename = "$R/log/rspamd.log";
level = "info";
debug_modules = ["monitored", "rbl"];
EOF
chown -R _rspamd:_rspamd "$R"
register_log "$R/log/rspamd.log"

t0=$SECONDS
bg "$WORK/rspamd.out" rspamd -f -u _rspamd -g _rspamd -c /etc/rspamd/rspamd.conf \
    --var "LOCAL_CONFDIR=$R" --var "DBDIR=$R/db" --var "RUNDIR=$R/run" --var "LOGDIR=$R/log"
RSPAMD_PID=$BG_PID
register_log "$WORK/rspamd.out"
WAIT_PID=$RSPAMD_PID wait_until 180 "rspamd normal worker on 127.0.0.1:$NPORT" bash -c "exec 3<>/dev/tcp/127.0.0.1/$NPORT"
say "rspamd pid $RSPAMD_PID up after $((SECONDS - t0)) s (normal worker 127.0.0.1:$NPORT)"

# --- health checks: wait for three rounds on each ward zone (rspamd disables a rule
# after its check failed three times), then they must all have seen NXDOMAIN ---
three_checks() {
    local z n
    for z in ips.block.example senders.block.example; do
        n=$(grep -c "dns callback for $z in" "$R/log/rspamd.log" || true)
        ((n >= 3)) || return 1
    done
}
wait_until 60 "three rspamd health checks of each ward zone" three_checks
log=$(cat "$R/log/rspamd.log")
for z in ips.block.example senders.block.example; do
    expect_contains "$log" "dns callback for $z in 0.00: no records with this name" \
        "rspamd health check of $z got NXDOMAIN"
    bad=$(grep -E "dns callback for $z in" "$R/log/rspamd.log" | grep -v 'no records with this name' || true)
    expect_eq "$bad" "" "every health check of $z got NXDOMAIN"
    expect_not_contains "$log" "on resolving $z" "no health check error for $z"
    expect_not_contains "$log" "while 'nxdomain' was expected when querying for '$z'" "no unexpected health check answer for $z"
done
# the tag of a monitored object is in <...> on its "started monitored object" line
for z in ips.block.example senders.block.example; do
    tag=$(sed -n "s/.*<\([a-z0-9]*\)>; monitored; rspamd_monitored_start: started monitored object $z in.*/\1/p" \
        "$R/log/rspamd.log" | head -n1)
    [[ -n "$tag" ]] || {
        check_failed "no monitored object for $z in the rspamd log"
        continue
    }
    expect_not_contains "$log" "broadcast monitored update for $tag" "health check of $z never marked it dead"
done

# --- scans ---
cat >"$WORK/msg.eml" <<'EOF'
From: Shop News <newsletter@shop.example.com>
To: user@interop.test
Subject: offers
Date: Mon, 23 Nov 2026 09:00:00 +0000
Message-ID: <interop-1@shop.example.com>

Questions? Write to sender1@bulk.example.com or mailto:John.Doe+promo@googlemail.com today.
EOF
cat >"$WORK/clean.eml" <<'EOF'
From: Friend <friend@clean.example.com>
To: user@interop.test
Subject: hello
Date: Mon, 23 Nov 2026 09:00:00 +0000
Message-ID: <interop-2@clean.example.com>

Write to me at friend@clean.example.com.
EOF
scan() { # IP FILE
    rspamc -h "127.0.0.1:$NPORT" -t 30 --ip "$1" --from newsletter@shop.example.com --rcpt user@interop.test \
        symbols <"$2" 2>&1 || true
}

out=$(scan 203.0.113.7 "$WORK/msg.eml")
expect_contains "$out" "Symbol: WARD_IPS_COMPROMISED (6.00)[203.0.113.7:from]" "IPv4 203.0.113.7 (127.0.0.4): WARD_IPS_COMPROMISED"
expect_contains "$out" "Symbol: WARD_SENDERS (" "plain emails rule fired"
plain_line=$(grep 'Symbol: WARD_SENDERS ' <<<"$out" || true)
expect_contains "$plain_line" "sender1.bulk.example.com:email" "plain emails rule: sender1@bulk.example.com listed"
expect_contains "$out" "Symbol: WARD_SENDERS_SHA1 (" "sha1 emails rule fired"
sha1_line=$(grep 'Symbol: WARD_SENDERS_SHA1' <<<"$out" || true)
expect_contains "$sha1_line" "sender1@bulk.example.com" "sha1 emails rule: sender1@bulk.example.com listed"
# John.Doe+promo@googlemail.com is listed as john.doe@gmail.com: rspamd normalises it to
# johndoe@gmail.com (dots, +tag, googlemail) before hashing and before the plain lookup
expect_contains "$sha1_line" "johndoe@gmail.com" "sha1 emails rule: John.Doe+promo@googlemail.com matches the listed john.doe@gmail.com"
expect_contains "$plain_line" "johndoe.gmail.com" "plain emails rule: John.Doe+promo@googlemail.com (queried as johndoe.gmail.com) matches the listed john.doe@gmail.com"

out=$(scan 2001:db8:bad::25 "$WORK/clean.eml")
expect_contains "$out" "Symbol: WARD_IPS_COMPROMISED (6.00)[2001:db8:bad::25:from]" "IPv6 2001:db8:bad::25: WARD_IPS_COMPROMISED"
expect_not_contains "$out" "WARD_SENDERS" "clean message: no address rule"

out=$(scan 198.51.100.9 "$WORK/clean.eml")
expect_contains "$out" "Symbol: WARD_IPS_ABUSE (4.00)[198.51.100.9:from]" "IPv4 198.51.100.9 (127.0.0.3): WARD_IPS_ABUSE"

out=$(scan 203.0.113.50 "$WORK/clean.eml")
expect_contains "$out" "Symbol: WARD_IPS (2.00)[203.0.113.50:from:127.0.0.5]" "IPv4 203.0.113.50 (127.0.0.5, no returncode symbol): base symbol WARD_IPS"

out=$(scan 192.0.2.1 "$WORK/clean.eml")
expect_contains "$out" "Action:" "rspamd scanned the clean message"
expect_not_contains "$out" "WARD_" "unlisted IP, clean message: no ward symbol"
finish
