#!/usr/bin/env bash
# `ward export` of the shipped zones (and of zones whose answers combine several files),
# served by Knot DNS from the exported zone files, answers every name of the export
# exactly as ward does: the same A and TXT records with the same TTLs, the same rcodes.
# What a zone transfer carries is what ward serves.
#
# Names asked: every owner of every export, a name below each (wildcards filled in to a
# whole address in IP zones), the RFC 5782 test points, and the README's examples.
# Left out on purpose (docs/secondaries.md): the TXT of names inside an IP range whose
# reason has `$` (a secondary has the range's first address), and names below an
# excluded name (NXDOMAIN at ward, NODATA at a secondary).
source "$(dirname "$0")/../lib.sh"

need_cmd knotd
need_cmd knotc
need_cmd dig

Z=$WORK/zones
cp -r "$REPO_ROOT/zones" "$Z"
# Answers that combine several files (issue 18): wildcards across files, one entry in
# two files with different TTLs, a generic record at a test point, addresses under a
# domain wildcard.
mkdir -p "$Z/w.test" "$Z/t.test" "$Z/g.test" "$Z/m.test"
printf '$TTL 600\n*.list.example spam-source\n' >"$Z/w.test/a.zone"
printf '*.x.list.example marketing\n!no.x.list.example\n' >"$Z/w.test/b.zone"
printf '$TTL 1200\n10.0.0.0/24 :4\n' >"$Z/t.test/a.ip4set"
printf ':127.0.0.4:Extra\n10.0.0.0/25\n10.0.1.7\n' >"$Z/t.test/b.ip4set"
printf '2.0.0.127 TXT "own text"\nwww A 127.0.0.8\n' >"$Z/g.test/own.generic"
printf ':3:listed\n192.0.2.1\n' >"$Z/g.test/list.ip4set"
printf 'mail235@mx.example.org :2:address\n*.example.org :9:wildcard\n' >"$Z/m.test/a.zone"
printf '.mx.example.org :5:other file\n' >"$Z/m.test/b.zone"
start_ward "$Z"

ZONES=(ips.block.example domains.block.example senders.block.example recipients.block.example
    w.test t.test g.test m.test)
KNOT_PORT=$(free_port)
K=$WORK/knot
mkdir -p "$K/db" "$K/zones"
{
    printf 'server:\n    rundir: "%s"\n    listen: 127.0.0.1@%s\n' "$K" "$KNOT_PORT"
    printf 'log:\n  - target: stderr\n    any: info\n'
    printf 'database:\n    storage: "%s/db"\n' "$K"
    printf 'template:\n  - id: default\n    storage: "%s/zones"\n    zonefile-sync: -1\n    journal-content: none\n' "$K"
    printf 'zone:\n'
    for zone in "${ZONES[@]}"; do printf '  - domain: %s\n    file: %s.zone\n' "$zone" "$zone"; done
} >"$K/knot.conf"
Q=$WORK/queries
TXT_A_ONLY=$WORK/a-only
: >"$Q"
: >"$TXT_A_ONLY"
for zone in "${ZONES[@]}"; do
    "$WARD_BIN" export --zone "$zone" --zones "$Z" --out "$K/zones/$zone.zone" ||
        fail "ward export --zone $zone failed"
    # Owners (relative), without the apex; a wildcard filled in as a client would ask.
    awk '$1 != "@" && $1 !~ /^[;$]/ && NF >= 4 {print $1}' "$K/zones/$zone.zone" |
        sort -u | while read -r owner; do
        rel=$owner
        case "$zone" in
        ips.block.example | t.test | g.test)
            if [[ "$rel" == \** ]]; then
                # a whole address inside the range: IPv4 (4 labels) or IPv6 (32)
                labels=$(awk -F. '{print NF}' <<<"$rel")
                if [[ "$rel" =~ [a-f] ]] || ((labels > 4)); then want=32 fill=a; else want=4 fill=7; fi
                for first in "$fill" 1 0; do
                    name=${rel#\*.}
                    for ((i = labels - 1; i < want - 1; i++)); do name="$fill.$name"; done
                    # inside a range: the TXT may carry the range's first address
                    echo "$first.$name.$zone" >>"$TXT_A_ONLY"
                done
            else
                echo "$rel.$zone" >>"$Q"
            fi
            ;;
        *)
            if [[ "$rel" == \** ]]; then
                echo "zz.${rel#\*.}.$zone" >>"$Q"
                echo "q.zz.${rel#\*.}.$zone" >>"$Q"
            else
                echo "$rel.$zone" >>"$Q"
                [[ "$rel" == no.* ]] || echo "below.$rel.$zone" >>"$Q"
            fi
            ;;
        esac
    done
    echo "1.0.0.127.$zone" >>"$Q"
    echo "invalid.$zone" >>"$Q"
done
knotc -c "$K/knot.conf" conf-check >/dev/null || fail "knot.conf does not check"
bg "$WORK/knot.log" knotd -c "$K/knot.conf"
wait_until 20 "Knot to load the exported zones" _status_is 127.0.0.1 "$KNOT_PORT" ips.block.example SOA NOERROR
for zone in "${ZONES[@]}"; do
    expect_eq "$(dns_status 127.0.0.1 "$KNOT_PORT" "$zone" SOA)" NOERROR "Knot loaded the export of $zone"
done

asked() { # FILE TYPES... -> dig batch file
    local file=$1 name type
    shift
    while read -r name; do
        for type in "$@"; do printf '%s %s\n' "$name" "$type"; done
    done <"$file"
}
answers() { # PORT FILE
    dig +time=2 +tries=3 -p "$1" @127.0.0.1 -f "$2" +noall +answer | { grep -v '^;;' || true; } | sort
}
statuses() { # PORT FILE -> "name type status" per query, in order
    dig +time=2 +tries=3 -p "$1" @127.0.0.1 -f "$2" +noall +comments +question |
        awk '/status:/ {st = $6; sub(",", "", st)} /^;[^; ]/ {print $1, $3, st}'
}
compare() { # WHAT BATCH
    answers "$WARD_PORT" "$2" >"$WORK/ward.answers"
    answers "$KNOT_PORT" "$2" >"$WORK/knot.answers"
    if diff -q "$WORK/ward.answers" "$WORK/knot.answers" >/dev/null; then
        ok "$1: Knot serving the export has ward's records and TTLs ($(wc -l <"$WORK/ward.answers") records)"
    else
        { diff "$WORK/ward.answers" "$WORK/knot.answers" || true; } | head -20 >&2
        check_failed "$1: Knot serving the export answers differently from ward"
    fi
    statuses "$WARD_PORT" "$2" >"$WORK/ward.status"
    statuses "$KNOT_PORT" "$2" >"$WORK/knot.status"
    if diff -q "$WORK/ward.status" "$WORK/knot.status" >/dev/null; then
        ok "$1: the same rcodes ($(wc -l <"$WORK/ward.status") queries)"
    else
        { diff "$WORK/ward.status" "$WORK/knot.status" || true; } | head -20 >&2
        check_failed "$1: Knot's rcodes differ from ward's"
    fi
}
asked "$Q" A TXT >"$WORK/batch"
asked "$TXT_A_ONLY" A >"$WORK/batch-a"
count=$(wc -l <"$WORK/batch")
((count >= 150)) || fail "only $count queries generated"
compare "every owner of the exports, and the names below them" "$WORK/batch"
compare "addresses inside ranges (A only)" "$WORK/batch-a"
expect_eq "$(dig +short -p "$KNOT_PORT" @127.0.0.1 y.x.list.example.w.test A | sort | tr '\n' ' ')" \
    "127.0.0.2 127.0.0.9 " "wildcards of two files: both codes from Knot too"
expect_eq "$(dig +short -p "$KNOT_PORT" @127.0.0.1 2.0.0.127.g.test A)" "" \
    "a generic record at the test point replaces it on Knot too"

finish
