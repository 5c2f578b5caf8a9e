#!/usr/bin/env bash
# Knot DNS, NSD and BIND as TSIG secondaries of ward (snippets/knot.conf, snippets/nsd.conf,
# snippets/named.conf):
# - `ward export` writes each zone as a file kzonecheck and nsd-checkzone accept;
# - all three transfer every zone (AXFR, hmac-sha256) and then answer some 3,700 queries over
#   every kind of data (IPv4 singles, ranges, exclusions, nested ranges; IPv6; domains
#   and wildcards; addresses plain and hashed; test points) exactly as ward does: the
#   same A and TXT records with the same TTLs, the same rcodes;
# - a zone file changes (in a zone with generic records too): ward sends NOTIFY, all
#   fetch the difference by IXFR and answer the new data within 2 s of ward serving it;
# - a listing expires: the same, without any file changing;
# - transfers are refused without the key, with a wrong key, and from another address.
#
# Differences between ward and any standard secondary, left out of the comparison on
# purpose (docs/secondaries.md): names that are not a whole address (a wildcard of a
# range matches any name below it on a secondary, ward answers only addresses);
# IPv4-mapped IPv6 names; sha256 prefixes other than 32 hex digits; `$` in the TXT of a
# range (the secondary has the range's first address: only A is compared in
# 2001:db8:bad::/48, whose reason has one); an excluded name below a
# wildcard (NXDOMAIN from ward, NODATA from a secondary) — only its records compared.
source "$(dirname "$0")/../lib.sh"

need_cmd knotd
need_cmd nsd
need_cmd kdig
need_cmd kzonecheck
need_cmd nsd-checkzone
need_cmd named
need_cmd named-checkconf

Z=$WORK/zones
write_zones "$Z" 60 300
SECRET=$(head -c 32 /dev/urandom | base64)

# --- more data of every kind, documentation and benchmarking ranges only ---
{
    echo '$REASON single 127.0.0.6 "Listed address $"'
    for ((i = 0; i < 400; i++)); do
        if ((i % 3 == 0)); then
            echo "198.18.$((i / 200)).$((i % 200 + 1)) :127.0.0.6:Single listing \$"
        else
            echo "198.18.$((i / 200)).$((i % 200 + 1)) single"
        fi
    done
    echo "198.19.0.0/16 :127.0.0.7:Range 198.19/16"
    echo "!198.19.5.0/24"
    echo "!198.19.7.7"
    echo "198.19.9.0/24 :127.0.0.9:Nested range"
    echo "198.18.128.0/17 :127.0.0.4:Range 198.18.128/17"
    echo "198.18.130.64/26 :127.0.0.10:Quarter"
    echo "198.18.50.10-198.18.50.20 :127.0.0.5:Short range"
    echo "2001:db8:1::/64 :127.0.0.11:IPv6 range"
    echo "!2001:db8:1::dead"
    echo "2001:db8:2::5 :127.0.0.12:IPv6 single"
} >>"$Z/ips.block.example.zone"
{
    echo '$REASON bulk 127.0.1.3 "Bulk sender $"'
    for ((i = 0; i < 200; i++)); do
        if ((i % 2 == 0)); then echo "d$i.example.net bulk"; else echo "d$i.example.net :127.0.1.4:Domain d$i"; fi
    done
    for ((i = 0; i < 40; i++)); do echo "*.w$i.example.net bulk"; done
    echo "!ok.w1.example.net"
} >>"$Z/domains.block.example.zone"
{
    for ((i = 0; i < 150; i++)); do echo "user$i@mail.example.org rate-evasion"; done
} >>"$Z/senders.block.example.zone"
# The IP zone as a directory: its list, and a few records of its own (generic), as many
# lists have; a change to the list is still sent as a difference (IXFR), not the zone.
mkdir "$Z/ips.block.example"
mv "$Z/ips.block.example.zone" "$Z/ips.block.example/list.zone"
printf '%s\n' '@ TXT "lookups: https://block.example/lookup"' 'www A 192.0.2.80' \
    '@ MX 10 mail.block.example' >"$Z/ips.block.example/own.generic"

cat >"$WORK/ward.toml" <<EOF
[key."transfer.key"]
algorithm = "hmac-sha256"
secret = "$SECRET"
EOF
KNOT_PORT=$(free_port)
NSD_PORT=$(free_port)
BIND_PORT=$(free_port)
for zone in ips.block.example domains.block.example senders.block.example; do
    cat >>"$WORK/ward.toml" <<EOF
[zone."$zone".transfer]
allow = ["127.0.0.1/32"]
key = "transfer.key"
notify = ["127.0.0.1:$KNOT_PORT", "127.0.0.1:$NSD_PORT", "127.0.0.1:$BIND_PORT"]
EOF
done
start_ward "$Z" --debounce 50

# --- the secondaries ---
secondary_conf() { # SNIPPET DIR PORT -> config text
    sed -e "s|@DIR@|$2|g" -e "s|@PORT@|$3|g" -e "s|@WARD_PORT@|$WARD_PORT|g" \
        -e "s|@SECRET@|$SECRET|g" "$SNIPPETS/$1"
}
mkdir -p "$WORK/knot/db" "$WORK/knot/zones" "$WORK/nsd" "$WORK/bind"
secondary_conf knot.conf "$WORK/knot" "$KNOT_PORT" >"$WORK/knot/knot.conf"
secondary_conf nsd.conf "$WORK/nsd" "$NSD_PORT" >"$WORK/nsd/nsd.conf"
secondary_conf named.conf "$WORK/bind" "$BIND_PORT" >"$WORK/bind/named.conf"
knotc -c "$WORK/knot/knot.conf" conf-check >/dev/null || fail "knot.conf does not check"
nsd-checkconf "$WORK/nsd/nsd.conf" || fail "nsd.conf does not check"
named-checkconf "$WORK/bind/named.conf" || fail "named.conf does not check"
bg "$WORK/knot.log" knotd -c "$WORK/knot/knot.conf"
bg "$WORK/nsd.out" nsd -d -c "$WORK/nsd/nsd.conf"
# -f: in the foreground, logging as named.conf says (as the user running the suite)
bg "$WORK/bind.out" named -f -c "$WORK/bind/named.conf"
register_log "$WORK/nsd/nsd.log" "$WARD_LOG"
register_log "$WORK/bind/named.log" "$WARD_LOG"
say "Knot on 127.0.0.1:$KNOT_PORT, NSD on 127.0.0.1:$NSD_PORT, BIND on 127.0.0.1:$BIND_PORT"

serial_at() { dns 127.0.0.1 "$1" "$2" SOA +short | awk '{print $3}'; }
ZONES=(ips.block.example domains.block.example senders.block.example)
SECONDARIES=("knot:$KNOT_PORT" "nsd:$NSD_PORT" "bind:$BIND_PORT")
in_sync() { # every zone at ward's serial on every secondary
    local zone want secondary
    for zone in "${ZONES[@]}"; do
        want=$(serial_at "$WARD_PORT" "$zone")
        [[ -n "$want" ]] || return 1
        for secondary in "${SECONDARIES[@]}"; do
            [[ "$(serial_at "${secondary#*:}" "$zone")" == "$want" ]] || return 1
        done
    done
}
wait_until 30 "Knot, NSD and BIND to transfer every zone" in_sync
ok "Knot, NSD and BIND hold every zone at ward's serial"
expect_contains "$(cat "$WORK/knot.log")" "AXFR, incoming" "Knot transferred by AXFR"
expect_contains "$(cat "$WORK/nsd/nsd.log")" "TSIG verified with key transfer.key" "NSD verified the TSIG of the transfer"
expect_contains "$(cat "$WORK/bind/named.log")" "transferred serial" "BIND transferred the zones"
expect_contains "$(cat "$WORK/bind/named.log")" "TSIG 'transfer.key'" "BIND verified the TSIG of the transfer"

# --- `ward export`: the same records as a zone file the secondaries' own checkers accept ---
for zone in "${ZONES[@]}"; do
    "$WARD_BIN" export --zone "$zone" --zones "$Z" --out "$WORK/$zone.export"
    if out=$(kzonecheck -o "$zone" "$WORK/$zone.export" 2>&1); then
        ok "ward export --zone $zone: kzonecheck accepts it"
    else
        check_failed "ward export --zone $zone: kzonecheck says: $out"
    fi
    if out=$(nsd-checkzone "$zone" "$WORK/$zone.export" 2>&1); then
        ok "ward export --zone $zone: nsd-checkzone accepts it ($out)"
    else
        check_failed "ward export --zone $zone: nsd-checkzone says: $out"
    fi
done

# --- the queries ---
ip6_name() { # 32 hex digits -> reversed nibbles
    local hex=$1 out="" k
    for ((k = 31; k >= 0; k--)); do out+="${hex:k:1}."; done
    echo "${out%.}"
}
Q=$WORK/queries
: >"$Q"
add() { printf '%s A\n%s TXT\n' "$1" "$1" >>"$Q"; }
# A only: in a range whose TXT has `$` (a secondary has the range's first address there)
add_a() { printf '%s A\n' "$1" >>"$Q"; }
for ((i = 0; i < 400; i++)); do
    add "$((i % 200 + 1)).$((i / 200)).18.198.ips.block.example"
    ((i % 2)) && add "$((RANDOM % 255)).$((2 + RANDOM % 40)).18.198.ips.block.example"
done
for ((i = 0; i < 150; i++)); do add "$((RANDOM % 256)).$((RANDOM % 12)).19.198.ips.block.example"; done
for ((i = 0; i < 50; i++)); do add "$((RANDOM % 256)).$((128 + RANDOM % 128)).18.198.ips.block.example"; done
for ((i = 0; i < 30; i++)); do add "$((i * 8 + 1)).130.18.198.ips.block.example"; done
for ((i = 5; i <= 25; i++)); do add "$i.50.18.198.ips.block.example"; done
for ((i = 0; i < 256; i += 4)); do add "$i.7.19.198.ips.block.example"; done
for ((i = 1; i <= 60; i++)); do add "$i.113.0.203.ips.block.example"; done
for ((i = 1; i <= 10; i++)); do add "$i.100.51.198.ips.block.example"; done
add 2.0.0.127.ips.block.example
add 1.0.0.127.ips.block.example
for ((i = 0; i < 60; i++)); do
    add "$(ip6_name "$(printf '20010db800010000%016x' $((RANDOM * RANDOM)))").ips.block.example"
done
add "$(ip6_name 20010db800010000000000000000dead).ips.block.example"
add "$(ip6_name 20010db8000200000000000000000005).ips.block.example"
add "$(ip6_name 20010db8000200000000000000000006).ips.block.example"
for ((i = 0; i < 30; i++)); do
    add_a "$(ip6_name "$(printf '20010db80bad%04x%016x' $((RANDOM)) $((RANDOM * RANDOM)))").ips.block.example"
    add "$(ip6_name "$(printf '20010db80003%04x%016x' $((RANDOM)) $((RANDOM)))").ips.block.example"
done
for ((i = 0; i < 200; i++)); do add "d$i.example.net.domains.block.example"; done
for ((i = 0; i < 60; i++)); do add "u$i.example.net.domains.block.example"; done
for ((i = 0; i < 40; i++)); do
    add "mx.w$i.example.net.domains.block.example"
    add "a.b.w$i.example.net.domains.block.example"
    add "w$i.example.net.domains.block.example"
done
for name in spam.example mail.spam.example sms.example www.sms.example test invalid example.net; do
    add "$name.domains.block.example"
done
for ((i = 0; i < 150; i += 2)); do
    address="user$i@mail.example.org"
    add "user$i.mail.example.org.senders.block.example"
    add "$(printf %s "$address" | sha1sum | cut -c1-40).senders.block.example"
    add "$(printf %s "$address" | md5sum | cut -c1-32)._email.senders.block.example"
    add "$(printf %s "$address" | sha256sum | cut -c1-32).senders.block.example"
    add "nobody$i.mail.example.org.senders.block.example"
done
add "sender1.bulk.example.com.senders.block.example"
add "$(printf %s john.doe@gmail.com | sha1sum | cut -c1-40).senders.block.example"
queries=$(($(wc -l <"$Q")))
((queries >= 2000)) || fail "only $queries queries generated"

# Only the records: an excluded name below a wildcard is NXDOMAIN at ward, NODATA at a
# secondary (the secondary needs a name there to stop the wildcard).
R=$WORK/records-only
printf '%s A\n%s TXT\n' ok.w1.example.net.domains.block.example ok.w1.example.net.domains.block.example >"$R"

answers() { # PORT FILE (a retried query leaves a ";;" comment: not a record)
    dig +time=2 +tries=3 -p "$1" @127.0.0.1 -f "$2" +noall +answer | { grep -v '^;;' || true; } | sort
}
statuses() { # PORT FILE -> "name type status" per query, in order
    dig +time=2 +tries=3 -p "$1" @127.0.0.1 -f "$2" +noall +comments +question |
        awk '/status:/ {st = $6; sub(",", "", st)} /^;[^; ]/ {print $1, $3, st}'
}
compare() { # WHAT FILE MODE(all|records)
    local what=$1 file=$2 mode=$3 secondary server port
    answers "$WARD_PORT" "$file" >"$WORK/ward.answers"
    [[ "$mode" == records ]] || statuses "$WARD_PORT" "$file" >"$WORK/ward.status"
    for secondary in "${SECONDARIES[@]}"; do
        server=${secondary%%:*} port=${secondary#*:}
        answers "$port" "$file" >"$WORK/$server.answers"
        if diff -q "$WORK/ward.answers" "$WORK/$server.answers" >/dev/null; then
            ok "$what: $server has the same records as ward ($(wc -l <"$WORK/ward.answers") records)"
        else
            { diff "$WORK/ward.answers" "$WORK/$server.answers" || true; } | head -20 >&2
            check_failed "$what: $server's records differ from ward's"
        fi
        [[ "$mode" == records ]] && continue
        statuses "$port" "$file" >"$WORK/$server.status"
        if diff -q "$WORK/ward.status" "$WORK/$server.status" >/dev/null; then
            ok "$what: $server answers the same rcodes ($(wc -l <"$WORK/ward.status") queries)"
        else
            { diff "$WORK/ward.status" "$WORK/$server.status" || true; } | head -20 >&2
            check_failed "$what: $server's rcodes differ from ward's"
        fi
    done
}
listed=$(answers "$WARD_PORT" "$Q" | awk '$4 == "A"' | wc -l)
((listed > 500)) || check_failed "only $listed of the queries are listed: the comparison proves little"
compare "$queries queries" "$Q" all
compare "excluded name below a wildcard (not listed anywhere)" "$R" records

for port in "$KNOT_PORT" "$NSD_PORT" "$BIND_PORT"; do
    expect_eq "$(dig +short -p "$port" @127.0.0.1 www.ips.block.example A)" 192.0.2.80 \
        "the zone's own (generic) record on 127.0.0.1:$port"
done

# --- a file changes: NOTIFY, IXFR, all at the new serial within 2 s ---
changed_in_time() { # WHAT NAME EXPECT-A
    local what=$1 name=$2 want=$3 serial
    wait_until 10 "ward to serve the change ($what)" bash -c "[[ \"\$(dig +short -p $WARD_PORT @127.0.0.1 $name A)\" == '$want' ]]"
    serial=$(serial_at "$WARD_PORT" ips.block.example)
    local served=$(date +%s%N)
    wait_until 5 "Knot, NSD and BIND at serial $serial ($what)" in_sync
    local ms=$((($(date +%s%N) - served) / 1000000))
    if ((ms <= 2000)); then
        ok "$what: Knot, NSD and BIND at serial $serial ${ms} ms after ward served it"
    else
        check_failed "$what: the secondaries took ${ms} ms (limit 2000)"
    fi
    for port in "$KNOT_PORT" "$NSD_PORT" "$BIND_PORT"; do
        expect_eq "$(dig +short -p "$port" @127.0.0.1 "$name" A)" "$want" "$what: $name on 127.0.0.1:$port"
    done
}
axfrs_before=$(grep -c "AXFR served" "$WARD_LOG")
expires=$(date -u -d "@$(($(date +%s) + 8))" +%Y-%m-%dT%H:%M:%SZ)
tmp=$Z/ips.block.example/.list.zone.new
cp "$Z/ips.block.example/list.zone" "$tmp"
echo "198.18.70.1 :127.0.0.13:Added while serving" >>"$tmp"
echo "198.18.70.2 :127.0.0.14:Temporary expires=$expires" >>"$tmp"
mv "$tmp" "$Z/ips.block.example/list.zone"
changed_in_time "file change" 1.70.18.198.ips.block.example 127.0.0.13
expect_eq "$(dig +short -p "$KNOT_PORT" @127.0.0.1 2.70.18.198.ips.block.example A)" 127.0.0.14 "the temporary listing reached Knot"
expect_contains "$(cat "$WORK/knot.log")" "IXFR, incoming" "Knot fetched the change by IXFR"
compare "after the change" "$Q" all

# --- a listing expires: the same without a file changing ---
changed_in_time "expiry" 2.70.18.198.ips.block.example ""
expect_eq "$(grep -c "AXFR served" "$WARD_LOG")" "$axfrs_before" "no full transfer after the first: every secondary used IXFR"
differences=$(grep "difference kept" "$WARD_LOG" | grep "ips.block.example" || true)
expect_contains "$differences" "made_from=changes" "the differences of a zone with generic records are made from what changed"
expect_not_contains "$differences" "made_from=all_records" "no difference compared every record"
ixfrs=$(grep -c "IXFR served" "$WARD_LOG")
((ixfrs >= 6)) && ok "ward served $ixfrs IXFRs" || check_failed "ward served only $ixfrs IXFRs (want 3 per change)"

# --- refused transfers ---
out=$(kdig -p "$WARD_PORT" @127.0.0.1 AXFR ips.block.example 2>&1 || true)
expect_contains "$out" "REFUSED" "AXFR without the key: REFUSED"
out=$(kdig -p "$WARD_PORT" @127.0.0.1 -y "hmac-sha256:transfer.key:$(head -c 32 /dev/urandom | base64)" AXFR ips.block.example 2>&1 || true)
expect_contains "$out" "error 'BADSIG'" "AXFR with a wrong secret: BADSIG"
out=$(kdig -b 127.0.0.2 -p "$WARD_PORT" @127.0.0.1 -y "hmac-sha256:transfer.key:$SECRET" AXFR ips.block.example 2>&1 || true)
expect_contains "$out" "REFUSED" "AXFR from 127.0.0.2 (not allowed) with the key: REFUSED"
out=$(kdig -p "$WARD_PORT" @127.0.0.1 -y "hmac-sha256:transfer.key:$SECRET" AXFR ips.block.example 2>&1 || true)
expect_contains "$out" "TSIG" "AXFR from 127.0.0.1 with the key: served, signed"
expect_not_contains "$out" ";; WARNING" "AXFR from 127.0.0.1 with the key: every signature verifies"

finish
