#!/usr/bin/env bash
# Zone transfers: ward as the primary of a Knot DNS secondary, beside Knot as the
# primary of the same zone (the zone file `ward export` writes), on the same data.
#
#   bash bench/transfer.sh                      # ip4-1m and ip4-10m
#   bash bench/transfer.sh --sets ip4-1m        # one set
#
# For each set (bench/gen.py's ip4-1m / ip4-10m):
#   AXFR  ward -> Knot: Knot's own timing, messages and bytes (its log); ward's CPU time
#         and resident-size growth over the transfer (sampled from /proc every 20 ms);
#   AXFR  Knot -> Knot: the same zone, Knot's timing;
#   IXFR  100 changed entries (50 added, 50 removed, as a second file of the zone):
#         from the rename of that file to Knot answering the new data, with ward's
#         reload and difference times from its log, and what the IXFR carried.
# Environment: WARD_BIN (default: build this checkout), BENCH_WORK (default
# /tmp/ward-bench; the data is shared with bench/run.sh). Loopback only; every process
# started here is stopped at the end. Results: bench/results/<date>-transfer.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
SETS=ip4-1m,ip4-10m
sets_option "$@"
for c in knotd knotc kdig python3; do
    command -v "$c" >/dev/null || { echo "missing $c (apt-get install knot knot-dnsutils python3)" >&2; exit 1; }
done
WARD=$(ward_binary)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
now_ms() { date +%s%3N; }
SECRET=$(head -c 32 /dev/urandom | base64)
HZ=$(getconf CLK_TCK)

knot_conf() { # DIR PORT PRIMARY_PORT|"" ZONEFILE|"" -> config on stdout
    local dir=$1 port=$2 primary=$3 zonefile=$4
    cat <<EOF
server:
    rundir: "$dir"
    listen: 127.0.0.1@$port
    background-workers: 1
    udp-workers: 1
    tcp-workers: 1
log:
  - target: stderr
    any: info
database:
    storage: "$dir/db"
key:
  - id: transfer.key
    algorithm: hmac-sha256
    secret: $SECRET
acl:
  - id: secondaries
    address: 127.0.0.1
    key: transfer.key
    action: [transfer, notify]
EOF
    if [[ -n "$primary" ]]; then
        cat <<EOF
remote:
  - id: primary
    address: 127.0.0.1@$primary
    key: transfer.key
template:
  - id: default
    storage: "$dir"
    zonefile-sync: -1
    zonefile-load: none
    journal-content: changes
    semantic-checks: off
zone:
  - domain: ip4.bench
    master: primary
    acl: secondaries
EOF
    else
        cat <<EOF
template:
  - id: default
    storage: "$dir"
    zonefile-sync: -1
    journal-content: none
    semantic-checks: off
zone:
  - domain: ip4.bench
    file: "$zonefile"
    acl: secondaries
EOF
    fi
}

start_knot() { # NAME PORT PRIMARY_PORT ZONEFILE -> sets KNOT_PID, KNOT_LOG
    local dir=$RUN/$1
    rm -rf "$dir"
    mkdir -p "$dir/db"
    knot_conf "$dir" "$2" "$3" "$4" >"$dir/knot.conf"
    KNOT_LOG=$dir/knot.log
    knotd -c "$dir/knot.conf" >"$KNOT_LOG" 2>&1 &
    KNOT_PID=$!
    PIDS+=("$KNOT_PID")
}
# "finished, 12.3 seconds, 456 messages, 7890 bytes" of the last incoming XFR
xfr_line() { grep "$2, incoming, remote .*finished" "$1" | tail -1; }
xfr_field() { sed -n "s/.*finished, \([0-9.]*\) seconds, \([0-9]*\) messages, \([0-9]*\) bytes.*/\\$2/p" <<<"$1"; }

mkdir -p "$HERE/results"
REPORT=$HERE/results/$(date -u +%Y-%m-%dT%H%M)-transfer.md
{
    echo "# Zone transfers: ward -> Knot beside Knot -> Knot"
    echo
    echo "ward $COMMIT, $(knotd --version | head -1), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)."
    echo "Command: \`bash bench/transfer.sh --sets $SETS\`"
    echo
    echo "| set | entries | records | AXFR ward→Knot | AXFR Knot→Knot | ratio | bytes | ward CPU | ward RSS growth | IXFR of 100 changes: file → Knot answers | ward: reload + difference | Knot: applying it | IXFR size |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
} >"$REPORT"

IFS=, read -r -a SET_LIST <<<"$SETS"
for set in "${SET_LIST[@]}"; do
    DATA=$WORK/data/$set
    say "$set: data"
    python3 "$HERE/gen.py" "$WORK/data" --sets "$set" >&2
    RUN=$WORK/transfer/$set
    rm -rf "$RUN"
    mkdir -p "$RUN/zones/ip4.bench" "$RUN/state"
    ln "$DATA"/ward/ip4.bench/* "$RUN/zones/ip4.bench/"
    entries=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['entries'])" "$DATA/meta.json")

    # ward, the primary, notifying the Knot secondary started below
    WARD_PORT=$(port)
    KNOT1_PORT=$(port)
    cat >"$RUN/ward.toml" <<EOF
state = "$RUN/state"
[key."transfer.key"]
algorithm = "hmac-sha256"
secret = "$SECRET"
[zone."ip4.bench".transfer]
allow = ["127.0.0.1/32"]
key = "transfer.key"
notify = ["127.0.0.1:$KNOT1_PORT"]
EOF
    say "$set: ward loads"
    "$WARD" serve --zones "$RUN/zones" --config "$RUN/ward.toml" --listen "127.0.0.1:$WARD_PORT" \
        --debounce 50 >"$RUN/ward.log" 2>&1 &
    WARD_PID=$!
    PIDS+=("$WARD_PID")
    wait_for 600 "ward to serve" kdig +short +timeout=1 -p "$WARD_PORT" @127.0.0.1 SOA ip4.bench
    records=$("$WARD" check --zones "$RUN/zones" --config "$RUN/ward.toml" 2>/dev/null |
        sed -n 's/^ip4.bench:.*, \([0-9]*\) records to transfer.*/\1/p')
    say "$set: $records records to transfer"

    # AXFR ward -> Knot, ward's CPU and memory sampled meanwhile
    base_rss=$(rss_kb "$WARD_PID")
    base_cpu=$(cpu_ticks "$WARD_PID")
    start_knot secondary-of-ward "$KNOT1_PORT" "$WARD_PORT" ""
    K1=$KNOT_PID
    K1_LOG=$KNOT_LOG
    peak=$base_rss
    deadline=$((SECONDS + 1800))
    until grep -q "AXFR, incoming, remote .*finished" "$K1_LOG"; do
        r=$(rss_kb "$WARD_PID")
        ((r > peak)) && peak=$r
        ((SECONDS < deadline)) || { echo "AXFR from ward did not finish" >&2; tail "$K1_LOG" >&2; exit 1; }
        grep -q "AXFR, incoming.*failed" "$K1_LOG" && { tail "$K1_LOG" >&2; exit 1; }
        sleep 0.02
    done
    cpu_s=$(python3 -c "print(f'{($(cpu_ticks "$WARD_PID") - $base_cpu) / $HZ:.1f}')")
    line=$(xfr_line "$K1_LOG" AXFR)
    ward_s=$(xfr_field "$line" 1)
    ward_bytes=$(xfr_field "$line" 3)
    growth_mb=$(python3 -c "print(f'{($peak - $base_rss) / 1024:.1f}')")
    say "$set: AXFR ward->Knot $ward_s s, $ward_bytes bytes, ward CPU $cpu_s s, RSS +$growth_mb MB"

    # IXFR: 100 changes, as a second file of the zone (50 added, 50 lines removed from it)
    wait_for 60 "Knot to serve the zone" kdig +short +timeout=1 -p "$KNOT1_PORT" @127.0.0.1 SOA ip4.bench
    for ((i = 0; i < 100; i++)); do echo "198.18.$((i / 200)).$((i % 200 + 1)) :127.0.0.9:first"; done >"$RUN/zones/ip4.bench/.changes.tmp"
    mv "$RUN/zones/ip4.bench/.changes.tmp" "$RUN/zones/ip4.bench/changes.ip4set"
    wait_for 600 "Knot to get the first changes" bash -c "[[ \$(kdig +short -p $KNOT1_PORT @127.0.0.1 1.0.18.198.ip4.bench A) == 127.0.0.9 ]]"
    {
        for ((i = 50; i < 100; i++)); do echo "198.18.$((i / 200)).$((i % 200 + 1)) :127.0.0.9:first"; done
        for ((i = 0; i < 50; i++)); do echo "198.18.9.$((i + 1)) :127.0.0.10:second"; done
    } >"$RUN/zones/ip4.bench/.changes.tmp"
    sleep 1.1 # a serial a second
    t0=$(now_ms)
    mv "$RUN/zones/ip4.bench/.changes.tmp" "$RUN/zones/ip4.bench/changes.ip4set"
    wait_for 600 "Knot to answer the new data" bash -c "[[ \$(kdig +short -p $KNOT1_PORT @127.0.0.1 1.9.18.198.ip4.bench A) == 127.0.0.10 ]]"
    ixfr_ms=$(($(now_ms) - t0))
    line=$(xfr_line "$K1_LOG" IXFR)
    ixfr_bytes=$(xfr_field "$line" 3)
    # Knot's own time to apply it (its "zone updated, N seconds" of that refresh)
    knot_apply=$(grep "zone updated" "$K1_LOG" | tail -1 | sed -n 's/.*zone updated, \([0-9.]*\) seconds.*/\1/p')
    reload_ms=$(grep "reloaded zone=ip4.bench" "$RUN/ward.log" | tail -1 | sed -n 's/.* ms=\([0-9]*\).*/\1/p')
    diff_line=$(grep "journal: difference kept" "$RUN/ward.log" | tail -1)
    removed=$(sed -n 's/.*removed=\([0-9]*\).*/\1/p' <<<"$diff_line")
    added=$(sed -n 's/.*added=\([0-9]*\).*/\1/p' <<<"$diff_line")
    t_reload=$(grep "reloaded zone=ip4.bench" "$RUN/ward.log" | tail -1 | awk '{print $1}')
    t_diff=$(awk '{print $1}' <<<"$diff_line")
    diff_ms=$(python3 -c "
from datetime import datetime
f=lambda s: datetime.fromisoformat(s.rstrip('Z'))
print(int((f('$t_diff')-f('$t_reload')).total_seconds()*1000))")
    say "$set: IXFR: file -> Knot answers in $ixfr_ms ms (ward reload $reload_ms ms, difference $diff_ms ms; -$removed +$added records, $ixfr_bytes bytes)"
    stop "$K1"

    # The same zone from Knot as the primary: the zone file ward exports
    "$WARD" export --zone ip4.bench --zones "$RUN/zones" --config "$RUN/ward.toml" --out "$RUN/ip4.bench.zone" 2>/dev/null
    KP_PORT=$(port)
    start_knot primary "$KP_PORT" "" "$RUN/ip4.bench.zone"
    KP=$KNOT_PID
    say "$set: Knot loads the exported zone file"
    wait_for 1800 "Knot (primary) to load" kdig +short +timeout=1 -p "$KP_PORT" @127.0.0.1 SOA ip4.bench
    KNOT2_PORT=$(port)
    start_knot secondary-of-knot "$KNOT2_PORT" "$KP_PORT" ""
    K2=$KNOT_PID
    deadline=$((SECONDS + 1800))
    until grep -q "AXFR, incoming, remote .*finished" "$KNOT_LOG"; do
        ((SECONDS < deadline)) || { echo "AXFR from Knot did not finish" >&2; exit 1; }
        sleep 0.05
    done
    line=$(xfr_line "$KNOT_LOG" AXFR)
    knot_s=$(xfr_field "$line" 1)
    knot_bytes=$(xfr_field "$line" 3)
    say "$set: AXFR Knot->Knot $knot_s s, $knot_bytes bytes"
    stop "$K2"
    stop "$KP"
    stop "$WARD_PID"
    ratio=$(python3 -c "print(f'{$ward_s / $knot_s:.2f}' if $knot_s > 0 else '-')")
    echo "| $set | $entries | $records | ${ward_s} s | ${knot_s} s | $ratio | $ward_bytes (Knot: $knot_bytes) | ${cpu_s} s | +${growth_mb} MB | ${ixfr_ms} ms | ${reload_ms} + ${diff_ms} ms | ${knot_apply} s | -$removed +$added records, $ixfr_bytes bytes |" >>"$REPORT"
done
{
    echo
    echo "AXFR times and bytes are Knot's (its log of the incoming transfer); the secondary"
    echo "is the same Knot with the same settings in both columns, so the ratio is ward's"
    echo "cost as a primary against Knot's. ward CPU and RSS growth are over the AXFR."
    echo "The IXFR time runs from the rename of the changed file to Knot answering the new"
    echo "data: ward's debounce, reload and difference, the NOTIFY, the IXFR, and Knot"
    echo "applying it (its own \"zone updated\" time, which grows with the zone's size)."
} >>"$REPORT"
cat "$REPORT"
