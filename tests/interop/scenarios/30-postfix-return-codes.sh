#!/usr/bin/env bash
# Postfix return-code filters and rbl_reply_maps (snippets/postfix-return-codes.cf and
# snippets/postfix-rbl_reply): `ips.block.example=127.0.0.4` refuses only that code with
# its own reply, `=127.0.0.[5..6]` gets a temporary 450 reply, a listing with another
# code (127.0.0.3) passes both filters.
source "$(dirname "$0")/../lib.sh"

write_zones "$WORK/zones"
start_ward "$WORK/zones"

# what ward answers, so a failure below can be told apart from a data mistake
expect_eq "$(ward_q 7.113.0.203.ips.block.example A +short)" 127.0.0.4 "ward: 203.0.113.7 -> 127.0.0.4"
expect_eq "$(ward_q 50.113.0.203.ips.block.example A +short)" 127.0.0.5 "ward: 203.0.113.50 -> 127.0.0.5"
expect_eq "$(ward_q 9.100.51.198.ips.block.example A +short)" 127.0.0.3 "ward: 198.51.100.9 -> 127.0.0.3"

RESOLVER=$(random_loopback)
start_unbound "$RESOLVER" 53
configure_postfix "$RESOLVER" "$SNIPPETS/postfix-return-codes.cf"
cp "$SNIPPETS/postfix-rbl_reply" "$PF_ETC/rbl_reply"
postmap -c "$PF_ETC" "hash:$PF_ETC/rbl_reply" || fail "postmap rbl_reply"
launch_postfix

out=$(smtp 203.0.113.7 alice@sender.interop.test root@localhost)
expect_contains "$out" "<** 554 5.7.1 Refused: 203.0.113.7 is listed as compromised by ips.block.example; Compromised host 203.0.113.7; dispute at https://help.example/t?q=203.0.113.7" \
    "code 127.0.0.4 refused with the rbl_reply_maps reply for ips.block.example=127.0.0.4"

out=$(smtp 203.0.113.50 alice@sender.interop.test root@localhost)
expect_contains "$out" "<** 450 4.7.1 Try later: 203.0.113.50 is listed by ips.block.example; Spam trap hit from 203.0.113.50" \
    "code 127.0.0.5 gets the 450 reply of ips.block.example=127.0.0.[5..6]"

out=$(smtp 198.51.100.9 alice@sender.interop.test root@localhost)
expect_contains "$out" "<-  250 2.1.5 Ok" "listed with another code (127.0.0.3): passes the filters, accepted"

out=$(smtp 192.0.2.1 alice@sender.interop.test root@localhost)
expect_contains "$out" "<-  250 2.1.5 Ok" "unlisted client accepted"

out=$(smtp 2001:db8:bad::1 alice@sender.interop.test root@localhost)
expect_contains "$out" "<** 554 5.7.1 Refused: 2001:db8:bad::1 is listed as compromised by ips.block.example;" \
    "IPv6 listing with code 127.0.0.4 refused with the mapped reply"
finish
