#!/usr/bin/env bash
# SpamAssassin (snippets/spamassassin.cf): check_rbl and check_rbl_sub (by return code)
# fire on a listed relay in a Received header, IPv4 and IPv6; HashBL finds a listed
# sender address by its sha1. Network tests on (no -L), dns_server = ward.
source "$(dirname "$0")/../lib.sh"
need_cmd spamassassin

write_zones "$WORK/zones"
start_ward "$WORK/zones"

SA=$WORK/sa
mkdir -p "$SA/site" "$SA/user"
# what an admin has: the stock rules (/usr/share/spamassassin) and the stock site config
# (/etc/spamassassin), with our file dropped in beside it
cp /etc/spamassassin/*.pre "$SA/site/"
{
    cat <<'EOF2'
# --- test harness (not for the README) ---
trusted_networks 127.0.0.0/8
internal_networks 127.0.0.0/8
dns_available yes
use_bayes 0
# the stock rules never look up addresses at example.com (uridnsbl_skip_domain);
# our test addresses are there
clear_uridnsbl_skip_domain example.com

# --- snippets/spamassassin.cf, ward port substituted ---
EOF2
    sed "s/127\.0\.0\.1:5353/127.0.0.1:$WARD_PORT/" "$SNIPPETS/spamassassin.cf"
} >"$SA/site/ward.cf"
grep -q "dns_server 127.0.0.1:$WARD_PORT" "$SA/site/ward.cf" || fail "snippets/spamassassin.cf has no dns_server 127.0.0.1:5353"

sa_check() { # MESSAGE-FILE -> report on stdout, debug log in $WORK/sa-debug.log
    spamassassin -t -D dns,async,dnseval,hashbl,rbl --siteconfigpath "$SA/site" \
        -p "$SA/user/user_prefs" <"$1" 2>>"$WORK/sa-debug.log" || true
}
register_log "$WORK/sa-debug.log"
spamassassin --lint --siteconfigpath "$SA/site" -p "$SA/user/user_prefs" \
    >"$WORK/lint.log" 2>&1 || {
    cat "$WORK/lint.log" >&2
    fail "spamassassin --lint rejects the configuration"
}
ok "spamassassin --lint accepts the configuration"

message() { # RELAY-IP FROM
    cat <<EOF
Received: from client.example (unknown [$1])
	by mx.interop.test (Postfix) with ESMTP id 4Z9XQ1
	for <user@interop.test>; Mon, 23 Nov 2026 09:00:00 +0000 (UTC)
From: Sender <$2>
To: user@interop.test
Subject: interop test
Date: Mon, 23 Nov 2026 08:59:58 +0000
Message-ID: <interop-$RANDOM@interop.test>

Hello.
EOF
}
rules_hit() { # report -> the tests= list of X-Spam-Status, unfolded
    sed -n '/^X-Spam-Status:/,/^[^ \t]/p' <<<"$1" | sed '$d' | tr -d '\n\t ' | sed -n 's/.*tests=\([^ ]*\).*/\1/p' |
        sed 's/autolearn=.*//'
}

message 203.0.113.7 friend@clean.example.com >"$WORK/m1.eml"
hits=$(rules_hit "$(sa_check "$WORK/m1.eml")")
say "203.0.113.7: tests=$hits"
expect_contains ",$hits," ",RCVD_IN_WARD," "relay 203.0.113.7: check_rbl RCVD_IN_WARD"
expect_contains ",$hits," ",RCVD_IN_WARD_COMPROMISED," "relay 203.0.113.7 (127.0.0.4): check_rbl_sub RCVD_IN_WARD_COMPROMISED"
expect_not_contains ",$hits," ",RCVD_IN_WARD_ABUSE," "relay 203.0.113.7: not RCVD_IN_WARD_ABUSE"

message 198.51.100.9 friend@clean.example.com >"$WORK/m2.eml"
hits=$(rules_hit "$(sa_check "$WORK/m2.eml")")
say "198.51.100.9: tests=$hits"
expect_contains ",$hits," ",RCVD_IN_WARD_ABUSE," "relay 198.51.100.9 (127.0.0.3): check_rbl_sub RCVD_IN_WARD_ABUSE"
expect_not_contains ",$hits," ",RCVD_IN_WARD_COMPROMISED," "relay 198.51.100.9: not RCVD_IN_WARD_COMPROMISED"

message 2001:db8:bad::25 friend@clean.example.com >"$WORK/m3.eml"
hits=$(rules_hit "$(sa_check "$WORK/m3.eml")")
say "2001:db8:bad::25: tests=$hits"
expect_contains ",$hits," ",RCVD_IN_WARD_COMPROMISED," "IPv6 relay 2001:db8:bad::25 (127.0.0.4): RCVD_IN_WARD_COMPROMISED"

message 192.0.2.1 sender1@bulk.example.com >"$WORK/m4.eml"
hits=$(rules_hit "$(sa_check "$WORK/m4.eml")")
say "192.0.2.1 from sender1@bulk.example.com: tests=$hits"
expect_not_contains ",$hits," ",RCVD_IN_WARD" "unlisted relay 192.0.2.1: no RCVD_IN_WARD*"
expect_contains ",$hits," ",WARD_SENDER_HASH," "HashBL: From sender1@bulk.example.com (sha1) listed"

message 192.0.2.1 friend@clean.example.com >"$WORK/m5.eml"
hits=$(rules_hit "$(sa_check "$WORK/m5.eml")")
say "192.0.2.1 from friend@clean.example.com: tests=$hits"
expect_not_contains ",$hits," "WARD" "unlisted relay and sender: no ward rule"

# SpamAssassin really asked ward (not a cached or skipped lookup)
expect_contains "$(cat "$WORK/sa-debug.log")" "7.113.0.203.ips.block.example" "SpamAssassin queried 7.113.0.203.ips.block.example"
finish
