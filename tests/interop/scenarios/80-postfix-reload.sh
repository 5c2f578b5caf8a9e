#!/usr/bin/env bash
# Hot reload as Postfix sees it (snippets/postfix-main.cf): a listing written into the
# running ward's zones directory (write to a temp file, rename over the zone file, as
# editors and rsync do) is served within ~3 s, and the next SMTP connection from that IP
# is refused with the new reason. Then the listing is removed again and ward gets
# SIGHUP: ward must keep running and the client is accepted again.
#
# Two caches stand between ward and Postfix's decision, and both are shortened here:
# - unbound: the zone's TTLs are 1 s here (SOA minimum and $TTL); a list with TTL 300
#   is seen by resolvers up to 300 s after a change;
# - Postfix: each smtpd process keeps its own cache of RBL answers (100 entries, no TTL,
#   kept across SMTP sessions, see smtpd_check.c), so a change reaches a running smtpd
#   process only when it is replaced (after max_use=100 sessions or max_idle=100 s idle
#   by default). Here max_use=1: every connection gets a fresh smtpd process.
source "$(dirname "$0")/../lib.sh"

Z=$WORK/zones
write_zones "$Z" 1 1
start_ward "$Z"
RESOLVER=$(random_loopback)
start_unbound "$RESOLVER" 53
PF_SMTPD_OPTS="-o max_use=1" start_postfix "$RESOLVER" "$SNIPPETS/postfix-main.cf"

CLIENT=192.0.2.77
QNAME=77.2.0.192.ips.block.example
ZFILE=$Z/ips.block.example.zone
serial() { ward_q ips.block.example SOA +short | awk '{print $3}'; }

out=$(smtp "$CLIENT" alice@sender.interop.test root@localhost)
expect_contains "$out" "<-  250 2.1.5 Ok" "before the change: $CLIENT accepted"
serial0=$(serial)

# what ward and unbound answer now (printed when a Postfix check fails)
diagnose() {
    say "diagnosis: ward says $(dns_status 127.0.0.1 "$WARD_PORT" "$QNAME" A) $(ward_q "$QNAME" A +short | tr '\n' ' ')," \
        "unbound says $(dns_status "$RESOLVER" 53 "$QNAME" A) $(dns "$RESOLVER" 53 "$QNAME" A +short | tr '\n' ' ')"
}

# --- add a listing: write a temp file (ignored: dot-file), rename it over the zone ---
tmp=$Z/.ips.block.example.zone.new
{
    cat "$ZFILE"
    echo "$CLIENT                  compromised   # added while ward runs"
} >"$tmp"
mv -f "$tmp" "$ZFILE"
start_ns=$(date +%s%N)
seen=""
for ((i = 0; i < 30; i++)); do # 30 x 0.1 s = 3 s
    if [[ "$(ward_q "$QNAME" A +short)" == 127.0.0.4 ]]; then
        seen=$((($(date +%s%N) - start_ns) / 1000000))
        break
    fi
    sleep 0.1
done
if [[ -n "$seen" ]]; then
    ok "ward serves the new listing ${seen} ms after the rename"
else
    check_failed "ward does not serve the listing of $CLIENT 3 s after the zone file was replaced (hot reload)"
fi
serial1=$(serial)
if [[ -n "$seen" ]]; then
    if ((serial1 > serial0)); then ok "SOA serial rose ($serial0 -> $serial1)"; else check_failed "SOA serial did not rise ($serial0 -> $serial1)"; fi
fi
# new SMTP connections until one is refused: unbound may hold the NXDOMAIN of the first
# connection for up to ~2 s (negative TTL 1 s, whole-second clock)
want="<** 554 5.7.1 Service unavailable; Client host [$CLIENT] blocked using ips.block.example; Compromised host $CLIENT; dispute at https://help.example/t?q=$CLIENT"
refused=""
while (($(date +%s%N) - start_ns < 6000000000)); do
    out=$(smtp "$CLIENT" alice@sender.interop.test root@localhost)
    if [[ "$out" == *"$want"* ]]; then
        refused=$((($(date +%s%N) - start_ns) / 1000000))
        break
    fi
    sleep 0.5
done
if [[ -n "$refused" ]]; then
    ok "after the change: a new connection from $CLIENT is refused with the new reason (${refused} ms after the rename)"
else
    expect_contains "$out" "$want" "after the change: a new connection from $CLIENT is refused with the new reason (within 6 s)"
    diagnose
fi
out=$(smtp 192.0.2.1 alice@sender.interop.test root@localhost)
expect_contains "$out" "<-  250 2.1.5 Ok" "after the change: other clients still accepted"
out=$(smtp 203.0.113.7 alice@sender.interop.test root@localhost)
expect_contains "$out" "blocked using ips.block.example" "after the change: the old listings still refused"

# --- remove it again, then SIGHUP ---
grep -v "^$CLIENT " "$ZFILE" >"$tmp"
mv -f "$tmp" "$ZFILE"
kill -HUP "$WARD_PID"
sleep 0.5
if kill -0 "$WARD_PID" 2>/dev/null; then
    ok "ward survives SIGHUP"
else
    check_failed "ward died on SIGHUP (it must reload instead); the removal test cannot go on"
    finish
fi
gone=""
for ((i = 0; i < 30; i++)); do
    if [[ "$(dns_status 127.0.0.1 "$WARD_PORT" "$QNAME" A)" == NXDOMAIN ]]; then
        gone=yes
        break
    fi
    sleep 0.1
done
if [[ -n "$gone" ]]; then
    ok "ward no longer lists $CLIENT after the removal + SIGHUP"
else
    check_failed "ward still lists $CLIENT 3 s after the removal + SIGHUP"
fi
# new SMTP connections until one is accepted (unbound's positive TTL is 1 s)
hup_ns=$(date +%s%N)
accepted=""
while (($(date +%s%N) - hup_ns < 6000000000)); do
    out=$(smtp "$CLIENT" alice@sender.interop.test root@localhost)
    # (Postfix also accepts when the lookup fails: require unbound's NXDOMAIN too)
    if [[ "$out" == *"<-  250 2.1.5 Ok"* && "$(dns_status "$RESOLVER" 53 "$QNAME" A)" == NXDOMAIN ]]; then
        accepted=yes
        break
    fi
    sleep 0.5
done
if [[ -n "$accepted" ]]; then
    ok "after the removal: $CLIENT accepted again (and unbound answers NXDOMAIN)"
else
    expect_contains "$out" "<-  250 2.1.5 Ok" "after the removal: $CLIENT accepted again (within 6 s)"
    diagnose
fi
finish
