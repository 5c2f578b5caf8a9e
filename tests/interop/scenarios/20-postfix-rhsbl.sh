#!/usr/bin/env bash
# Postfix reject_rhsbl_sender / reject_rhsbl_recipient (snippets/postfix-main.cf):
# a listed sender domain (exact and wildcard entry) and a listed recipient domain are
# refused with ward's TXT reason; other domains pass.
source "$(dirname "$0")/../lib.sh"

write_zones "$WORK/zones"
start_ward "$WORK/zones"
RESOLVER=$(random_loopback)
start_unbound "$RESOLVER" 53
start_postfix "$RESOLVER" "$SNIPPETS/postfix-main.cf"

# --- sender domain (unlisted client 192.0.2.1 via XCLIENT) ---
out=$(smtp 192.0.2.1 promo@spam.example root@localhost)
expect_contains "$out" "<** 554 5.7.1 Service unavailable; Sender address [promo@spam.example] blocked using domains.block.example; Domain spam.example is used for spam" \
    "sender domain spam.example (exact entry) refused with TXT"

out=$(smtp 192.0.2.1 promo@mail.spam.example root@localhost)
expect_contains "$out" "<** 554 5.7.1 Service unavailable; Sender address [promo@mail.spam.example] blocked using domains.block.example; Domain spam.example is used for spam" \
    "sender domain mail.spam.example (wildcard entry) refused with TXT (\$ = the wildcard base, as rbldnsd)"

out=$(smtp 192.0.2.1 friend@notspam.example root@localhost)
expect_contains "$out" "<-  250 2.1.5 Ok" "unlisted sender domain notspam.example accepted"

out=$(smtp 192.0.2.1 x@test root@localhost)
expect_contains "$out" "blocked using domains.block.example" "RFC 5782 domain test point 'test' refused"

out=$(smtp 192.0.2.1 x@invalid root@localhost)
expect_not_contains "$out" "blocked using" "RFC 5782 'invalid' not listed"

# --- recipient domain: our own users (mynetworks, real client 127.0.0.1) sending out ---
out=$(smtp - user@interop.test 5551234567@sms.example)
expect_contains "$out" "<** 554 5.7.1 Service unavailable; Recipient address [5551234567@sms.example] blocked using domains.block.example; sms.example is an email-to-SMS gateway; we do not send there" \
    "recipient domain sms.example refused with TXT"

out=$(smtp - user@interop.test friend@other.example)
expect_contains "$out" "<-  250 2.1.5 Ok" "unlisted recipient domain other.example accepted"

out=$(smtp - user@interop.test friend@sms.example.net)
expect_contains "$out" "<-  250 2.1.5 Ok" "sms.example.net (not below sms.example) accepted"
finish
