#!/usr/bin/env bash
# unbound (snippets/unbound.conf: stub zones to ward, QNAME minimisation on, here also
# strict so a wrong NXDOMAIN on an empty non-terminal would lose the listing) answers
# listed, unlisted and empty-non-terminal names right, and serves a repeated NXDOMAIN
# from its cache for the SOA's negative TTL (proved by stopping ward first).
source "$(dirname "$0")/../lib.sh"

write_zones "$WORK/zones" 60 # negative TTL (SOA minimum) 60 s
start_ward "$WORK/zones"
UPORT=$(free_port)
start_unbound 127.0.0.1 "$UPORT" "    verbosity: 3
    qname-minimisation-strict: yes"
uq() { dns 127.0.0.1 "$UPORT" "$@"; }
ustatus() { dns_status 127.0.0.1 "$UPORT" "$@"; }

# --- listed: IPv4, IPv6, RHSBL wildcard, email address (plain) ---
expect_eq "$(uq 7.113.0.203.ips.block.example A +short)" 127.0.0.4 "listed 203.0.113.7: A 127.0.0.4"
expect_eq "$(uq 7.113.0.203.ips.block.example TXT +short)" \
    '"Compromised host 203.0.113.7; dispute at https://help.example/t?q=203.0.113.7"' "listed 203.0.113.7: exact TXT"
v6name=5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.a.b.0.8.b.d.0.1.0.0.2.ips.block.example
expect_eq "$(uq "$v6name" A +short)" 127.0.0.4 "listed 2001:db8:bad::25 (32 nibbles, minimised): A 127.0.0.4"
expect_eq "$(uq mail.spam.example.domains.block.example A +short)" 127.0.1.2 "RHSBL wildcard mail.spam.example: A 127.0.1.2"
expect_eq "$(uq sender1.bulk.example.com.senders.block.example A +short)" 127.0.0.8 "address sender1@bulk.example.com (plain): A 127.0.0.8"
expect_eq "$(uq 2.0.0.127.ips.block.example A +short)" 127.0.0.2 "RFC 5782 test point 127.0.0.2"

# every ancestor of a listed name below the zone is an empty non-terminal: ward itself
# must say NOERROR there (strict QNAME minimisation stops at the first NXDOMAIN)
check_ents() { # NAME ZONE WHAT
    local name=$1 zone=$2 what=$3 rel bad=() labels k anc st
    rel=${name%".$zone"}
    IFS=. read -r -a labels <<<"$rel"
    for ((k = 1; k < ${#labels[@]}; k++)); do
        anc=$(IFS=.; echo "${labels[*]: -k}").$zone
        st=$(dns_status 127.0.0.1 "$WARD_PORT" "$anc" A)
        [[ "$st" == NOERROR ]] || bad+=("$anc=$st")
    done
    if ((${#bad[@]})); then
        local shown="${bad[*]:0:6}"
        ((${#bad[@]} > 6)) && shown+=" ..."
        check_failed "$what: ward answers ${#bad[@]} of $((${#labels[@]} - 1)) ancestors wrongly (want NOERROR): $shown"
    else
        ok "$what: all $((${#labels[@]} - 1)) ancestors are NOERROR at ward"
    fi
}
check_ents 7.113.0.203.ips.block.example ips.block.example "ENTs of 203.0.113.7"
check_ents "$v6name" ips.block.example "ENTs of 2001:db8:bad::25"
check_ents 2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ips.block.example ips.block.example \
    "ENTs of the IPv6 test point ::ffff:7f00:2"
check_ents mail.spam.example.domains.block.example domains.block.example "ENTs of mail.spam.example"
check_ents sender1.bulk.example.com.senders.block.example senders.block.example "ENTs of sender1@bulk.example.com (plain)"

# unbound really minimised (else the ENT checks above prove nothing)
ulog=$(cat "$WORK/unbound.log")
expect_contains "$ulog" "sending query: 203.ips.block.example. A IN" "unbound sent the minimised query 203.ips.block.example"
expect_contains "$ulog" "sending query: 113.0.203.ips.block.example. A IN" "unbound sent the minimised query 113.0.203.ips.block.example"
expect_contains "$ulog" "sending query: com.senders.block.example. A IN" "unbound sent the minimised query com.senders.block.example"

# --- empty non-terminals: NOERROR, no answer, SOA in authority ---
for ent in 113.0.203.ips.block.example 0.203.ips.block.example 0.0.127.ips.block.example \
    example.domains.block.example bulk.example.com.senders.block.example; do
    out=$(uq "$ent" A +noall +comments +authority +answer)
    expect_contains "$out" "status: NOERROR" "empty non-terminal $ent: NOERROR"
    expect_contains "$out" "ANSWER: 0," "empty non-terminal $ent: no answer"
    expect_contains "$out" "IN	SOA	ns1.block.example." "empty non-terminal $ent: SOA in authority"
done

# --- unlisted: NXDOMAIN with SOA, negative TTL from the SOA (<= 60) ---
out=$(uq 9.113.0.203.ips.block.example A +noall +comments +authority)
expect_contains "$out" "status: NXDOMAIN" "unlisted 203.0.113.9: NXDOMAIN"
soa_ttl=$(awk '$4 == "SOA" {print $2}' <<<"$out")
if [[ -n "$soa_ttl" && "$soa_ttl" -le 60 && "$soa_ttl" -gt 0 ]]; then
    ok "unlisted 203.0.113.9: SOA in authority with negative TTL $soa_ttl <= 60"
else
    check_failed "NXDOMAIN SOA TTL should be 1..60 (SOA minimum), got '$soa_ttl'"
fi
expect_eq "$(ustatus 1.0.0.127.ips.block.example A)" NXDOMAIN "127.0.0.1 is never listed: NXDOMAIN"
expect_eq "$(ustatus invalid.domains.block.example A)" NXDOMAIN "'invalid' is never listed: NXDOMAIN"

cache=$(unbound-control -c "$UNBOUND_CONF" dump_cache)
line=$(grep '^msg 9.113.0.203.ips.block.example. IN A ' <<<"$cache" || true)
[[ -n "$line" ]] || fail "unbound did not cache the NXDOMAIN for 9.113.0.203.ips.block.example"
cached_ttl=$(awk '{print $7}' <<<"$line")
[[ "$cached_ttl" -le 60 ]] || fail "cached NXDOMAIN TTL $cached_ttl > 60"
ok "unbound cached the NXDOMAIN (cache TTL $cached_ttl <= 60)"

# stop ward: the cached NXDOMAIN must still come back, an uncached name must fail
stop_pid "$WARD_PID"
kill -0 "$WARD_PID" 2>/dev/null && fail "ward still running"
hits_before=$(unbound-control -c "$UNBOUND_CONF" stats_noreset | sed -n 's/^total.num.cachehits=//p')
out=$(uq 9.113.0.203.ips.block.example A +noall +comments +authority)
expect_contains "$out" "status: NXDOMAIN" "with ward stopped, the repeated query is still NXDOMAIN (from cache)"
expect_contains "$out" "IN	SOA	ns1.block.example." "cached NXDOMAIN keeps the SOA"
hits_after=$(unbound-control -c "$UNBOUND_CONF" stats_noreset | sed -n 's/^total.num.cachehits=//p')
if ((hits_after > hits_before)); then
    ok "unbound counted a cache hit ($hits_before -> $hits_after)"
else
    check_failed "unbound cache hits did not rise ($hits_before -> $hits_after)"
fi
# control: a name unbound has not cached gets no answer now (SERVFAIL, or a timeout)
st=$(ustatus 10.113.0.203.ips.block.example A)
case "$st" in
NXDOMAIN | NOERROR) check_failed "control: uncached name answered $st with ward stopped: the cache proof above is void" ;;
*) ok "control: an uncached name with ward stopped gets no answer (${st:-timeout})" ;;
esac
finish
