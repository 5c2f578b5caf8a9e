#!/usr/bin/env bash
# Postfix reject_rbl_client (snippets/postfix-main.cf): a listed IPv4 and a listed IPv6
# client are refused with a 5xx reply carrying ward's exact TXT reason; unlisted clients
# are accepted. Postfix -> unbound (127.x.y.z:53, snippets/unbound.conf) -> ward.
source "$(dirname "$0")/../lib.sh"

write_zones "$WORK/zones"
start_ward "$WORK/zones"
RESOLVER=$(random_loopback)
start_unbound "$RESOLVER" 53
start_postfix "$RESOLVER" "$SNIPPETS/postfix-main.cf"

reason7="Compromised host 203.0.113.7; dispute at https://help.example/t?q=203.0.113.7"
out=$(smtp 203.0.113.7 alice@sender.interop.test root@localhost)
expect_contains "$out" "<** 554 5.7.1 Service unavailable; Client host [203.0.113.7] blocked using ips.block.example; $reason7" \
    "listed IPv4 203.0.113.7 refused with 554 and the exact TXT reason"

out=$(smtp 198.51.100.9 alice@sender.interop.test root@localhost)
expect_contains "$out" "<** 554 5.7.1 Service unavailable; Client host [198.51.100.9] blocked using ips.block.example; Listed for abuse" \
    "listed IPv4 range 198.51.100.0/24 (rbldnsd-style value) refused with its TXT"

reason6="Compromised host 2001:db8:bad::25; dispute at https://help.example/t?q=2001:db8:bad::25"
out=$(smtp 2001:db8:bad::25 alice@sender.interop.test root@localhost)
expect_contains "$out" "<** 554 5.7.1 Service unavailable; Client host [2001:db8:bad::25] blocked using ips.block.example; $reason6" \
    "listed IPv6 2001:db8:bad::25 refused with 554 and the exact TXT reason"

out=$(smtp 127.0.0.2 alice@sender.interop.test root@localhost)
expect_contains "$out" "<** 554 5.7.1 Service unavailable; Client host [127.0.0.2] blocked using ips.block.example" \
    "RFC 5782 test point 127.0.0.2 refused"

for client in 192.0.2.1 203.0.113.8 2001:db8:600d::1; do
    out=$(smtp "$client" alice@sender.interop.test root@localhost)
    expect_contains "$out" "<-  250 2.1.5 Ok" "unlisted client $client accepted (RCPT 250)"
    expect_not_contains "$out" "blocked using" "unlisted client $client not blocked"
done

# the real connection over IPv6 loopback (no XCLIENT) is not listed either
out=$(swaks --server ::1 --port "$SMTP_PORT" --from a@sender.interop.test --to root@localhost \
    --quit-after RCPT --timeout 30 --hide-informational 2>&1 || true)
expect_contains "$out" "<-  250 2.1.5 Ok" "client ::1 accepted"

# Postfix logged the reject with the reason too (what an admin greps for)
expect_contains "$(cat "$WORK/postfix.log")" "blocked using ips.block.example; $reason7" \
    "postfix log has the reject with the TXT reason"
finish
