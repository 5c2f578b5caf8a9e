#!/usr/bin/env bash
# What a change to a big zone costs: from the rename of a changed file to ward's NOTIFY,
# and the IXFR a secondary then gets, for 100 changed entries (50 removed, 50 added)
#   - in a second file of the zone ("side"), and
#   - in the zone's big file itself ("big"),
# once with each ward binary given, on the same data in one run.
#
#   bash bench/change_cost.sh                         # ip4-1m and ip4-10m, this checkout
#   bash bench/change_cost.sh --sets ip4-1m
#   bash bench/change_cost.sh --sets dom-1m           # a names zone (RHSBL, wildcards)
#   bash bench/change_cost.sh --sets addr-1m          # addresses: plain names and digests
#   WARD_BEFORE=/path/to/old/ward bash bench/change_cost.sh   # and an older build beside it
#   WITH_GENERIC=1 bash bench/change_cost.sh          # the zone also has a few generic records
#
# The NOTIFY goes to a listener of this script on a loopback port (it answers, so ward
# does not repeat it); its arrival time is the measure. Then `kdig IXFR=old-serial` asks
# ward for the difference: its records are counted, and an answer that is not an IXFR
# (an AXFR instead) fails the run. ward's reload time ("reloaded … ms=") and the
# difference's log line are read from its log. --debounce 50 as in bench/transfer.sh.
# Environment: WARD_BIN (default: build this checkout), WARD_BEFORE (optional),
# BENCH_WORK (default /tmp/ward-bench; data shared with bench/run.sh). Loopback only;
# every process started here is stopped at the end. Results:
# bench/results/<date>-change-cost.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
SETS=ip4-1m,ip4-10m
sets_option "$@"
for c in kdig python3; do
    command -v "$c" >/dev/null || { echo "missing $c (apt-get install knot-dnsutils python3)" >&2; exit 1; }
done
WARD=$(ward_binary)
BUILDS=("after:$WARD")
[[ -n "${WARD_BEFORE:-}" ]] && BUILDS=("before:$WARD_BEFORE" "${BUILDS[@]}")

now_s() { date +%s.%N; }

# A NOTIFY receiver: appends the arrival time of each NOTIFY to a file and answers it.
# Stops by itself after two hours.
notify_listener() { # PORT FILE
    python3 - "$1" "$2" <<'EOF' &
import socket, sys, time
port, path = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", port))
s.settimeout(0.5)
end = time.time() + 7200
while time.time() < end:
    try:
        data, peer = s.recvfrom(65535)
    except socket.timeout:
        continue
    arrived = time.time()
    if len(data) < 12 or (data[2] >> 3) & 0xF != 4:
        continue
    at = 12
    while at < len(data) and data[at] != 0:
        at += data[at] + 1
    question = data[12:at + 5]
    # The answer: same id, QR and AA set, opcode NOTIFY, the question only.
    header = data[0:2] + bytes([0x80 | 0x20 | 0x04, 0]) + b"\x00\x01\x00\x00\x00\x00\x00\x00"
    s.sendto(header + question, peer)
    with open(path, "a") as out:
        out.write(f"{arrived:.6f}\n")
EOF
    PIDS+=("$!")
}

notifies() { [[ -f $1 ]] && wc -l <"$1" || echo 0; }
serial() { kdig +short +timeout=2 -p "$1" @127.0.0.1 SOA "$ZONE" | awk '{print $3}'; }

# What a set's entries look like: the zone, the side file's name, and entry I of a
# group of changes (first: the side file's first lines; side ROUND; big ROUND), with
# the query for entry 0 of a group and its answer.
set_kind() { # SET
    if [[ $1 == dom-* ]]; then
        ZONE=dom.bench SIDE=changes.dnset
    elif [[ $1 == addr-* ]]; then
        ZONE=addr.bench SIDE=changes.zone
    else
        ZONE=ip4.bench SIDE=changes.ip4set
    fi
}
entry() { # GROUP ROUND I
    local group=$1 round=$2 i=$3
    case "$ZONE:$group" in
        ip4.bench:first) echo "198.18.$((i / 200)).$((i % 200 + 1)) :127.0.0.9:first" ;;
        ip4.bench:side) echo "198.19.$round.$((i + 1)) :127.0.0.10:round $round" ;;
        ip4.bench:big) echo "198.20.$((round % 250)).$((i + 1)) :127.0.0.11:big round $round" ;;
        dom.bench:first) echo "f$i.first.test :127.0.0.9:first" ;;
        dom.bench:side) echo "s$i.round$round.test :127.0.0.10:round $round" ;;
        dom.bench:big) echo "b$i.big$round.test :127.0.0.11:big round $round" ;;
        addr.bench:first) echo "f$i@first.test :127.0.0.9:first" ;;
        addr.bench:side) echo "s$i@round$round.test :127.0.0.10:round $round" ;;
        addr.bench:big) echo "b$i@big$round.test :127.0.0.11:big round $round" ;;
    esac
}
probe_of() { # GROUP ROUND
    case "$ZONE:$1" in
        ip4.bench:side) echo "1.$2.19.198.ip4.bench" ;;
        ip4.bench:big) echo "1.$(($2 % 250)).20.198.ip4.bench" ;;
        dom.bench:side) echo "s0.round$2.test.dom.bench" ;;
        dom.bench:big) echo "b0.big$2.test.dom.bench" ;;
        addr.bench:side) echo "s0.round$2.test.addr.bench" ;;
        addr.bench:big) echo "b0.big$2.test.addr.bench" ;;
    esac
}

# 100 changes of the side file: 50 of its lines go, 50 new come. ROUND makes each
# round's new lines differ from the last one's.
side_file() { # ZONEDIR ROUND
    local dir=$1 round=$2 i
    {
        for ((i = 50; i < 100; i++)); do entry first "$round" "$i"; done
        for ((i = 0; i < 50; i++)); do entry side "$round" "$i"; done
    } >"$dir/.changes.tmp"
}
# 100 changes of the big file: 50 of its lines dropped (every 1000th from the 1000th),
# 50 new lines, written beside it and renamed over it.
big_file() { # FILE ROUND
    local i
    for ((i = 0; i < 50; i++)); do entry big "$2" "$i"; done >"$1.added"
    python3 - "$1" "$2" <<'EOF'
import os, sys
path, round_ = sys.argv[1], int(sys.argv[2])
tmp = os.path.join(os.path.dirname(path), ".big.tmp")
dropped = 0
with open(path, "rb") as src, open(tmp, "wb") as out:
    for number, line in enumerate(src, 1):
        listed = line[:1] not in (b"#", b":", b"$", b"\n")
        if listed and dropped < 50 and number % 1000 == 0:
            dropped += 1
            continue
        out.write(line)
    with open(path + ".added", "rb") as added:
        out.write(added.read())
os.remove(path + ".added")
EOF
}

mkdir -p "$HERE/results"
REPORT=$HERE/results/$(date -u +%Y-%m-%dT%H%M)-change-cost.md
{
    echo "# What a change costs: rename → NOTIFY, and the IXFR"
    echo
    echo "ward $COMMIT, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)."
    echo "Command: \`$(if [[ -n ${WARD_BEFORE:-} ]]; then echo "WARD_BEFORE=… "; fi)$(if [[ -n ${WITH_GENERIC:-} ]]; then echo "WITH_GENERIC=1 "; fi)bash bench/change_cost.sh --sets $SETS\`"
    echo
    echo "| set | build | change | rename → NOTIFY | ward: reload | ward: reload → difference kept | IXFR records | answers checked |"
    echo "|---|---|---|---:|---:|---:|---:|---|"
} >"$REPORT"

IFS=, read -r -a SET_LIST <<<"$SETS"
for set in "${SET_LIST[@]}"; do
    DATA=$WORK/data/$set
    set_kind "$set"
    say "$set: data"
    python3 "$HERE/gen.py" "$WORK/data" --sets "$set" >&2
    for build in "${BUILDS[@]}"; do
        label=${build%%:*}
        bin=${build#*:}
        RUN=$WORK/change-cost/$set-$label
        rm -rf "$RUN"
        mkdir -p "$RUN/zones/$ZONE" "$RUN/state"
        if [[ -d $DATA/ward/$ZONE ]]; then
            cp "$DATA/ward/$ZONE"/* "$RUN/zones/$ZONE/"
        else # one file, the zone named by it: now the big file of a zone directory
            cp "$DATA/ward/$ZONE.zone" "$RUN/zones/$ZONE/"
        fi
        big=$(ls "$RUN/zones/$ZONE"/* | head -1)
        for ((i = 0; i < 100; i++)); do entry first 0 "$i"; done >"$RUN/zones/$ZONE/$SIDE"
        if [[ -n ${WITH_GENERIC:-} ]]; then # a zone's own records, as many lists have
            printf '%s\n' '@ TXT "see https://block.example/lookup"' 'www A 192.0.2.80' \
                '@ MX 10 mail.block.example' >"$RUN/zones/$ZONE/own.generic"
        fi
        WARD_PORT=$(port)
        NOTIFY_PORT=$(port)
        NOTIFY_LOG=$RUN/notify.log
        notify_listener "$NOTIFY_PORT" "$NOTIFY_LOG"
        cat >"$RUN/ward.toml" <<EOF
state = "$RUN/state"
[zone."$ZONE".transfer]
allow = ["127.0.0.1/32"]
notify = ["127.0.0.1:$NOTIFY_PORT"]
EOF
        say "$set ($label): ward loads"
        "$bin" serve --zones "$RUN/zones" --config "$RUN/ward.toml" --listen "127.0.0.1:$WARD_PORT" \
            --debounce 50 >"$RUN/ward.log" 2>&1 &
        WARD_PID=$!
        PIDS+=("$WARD_PID")
        wait_for 900 "ward to serve" kdig +short +timeout=1 -p "$WARD_PORT" @127.0.0.1 SOA "$ZONE"
        for change in side big; do
            for round in 1 2; do
                sleep 1.1 # a serial a second
                old=$(serial "$WARD_PORT")
                seen=$(notifies "$NOTIFY_LOG")
                probe=$(probe_of "$change" "$round")
                if [[ $change == side ]]; then
                    side_file "$RUN/zones/$ZONE" "$round"
                    t0=$(now_s)
                    mv "$RUN/zones/$ZONE/.changes.tmp" "$RUN/zones/$ZONE/$SIDE"
                    expect=127.0.0.10
                else
                    big_file "$big" "$round"
                    t0=$(now_s)
                    mv "$RUN/zones/$ZONE/.big.tmp" "$big"
                    expect=127.0.0.11
                fi
                wait_for 900 "the NOTIFY" bash -c "(( \$(wc -l <'$NOTIFY_LOG') > $seen ))"
                t1=$(sed -n "$((seen + 1))p" "$NOTIFY_LOG")
                notify_ms=$(python3 -c "print(round(($t1 - $t0) * 1000))")
                got=$(kdig +short -p "$WARD_PORT" @127.0.0.1 "$probe" A)
                [[ $got == "$expect" ]] || { echo "$set $label $change: $probe answered '$got', not $expect" >&2; exit 1; }
                new=$(serial "$WARD_PORT")
                kdig +noall +answer +timeout=30 -p "$WARD_PORT" @127.0.0.1 "IXFR=$old" "$ZONE" >"$RUN/ixfr.txt"
                records=$(grep -c . "$RUN/ixfr.txt" || true)
                second=$(sed -n 2p "$RUN/ixfr.txt" | awk '{print $4}')
                [[ $second == SOA ]] || { echo "$set $label $change: IXFR=$old was not answered with a difference" >&2; head -3 "$RUN/ixfr.txt" >&2; exit 1; }
                reload_ms=$(grep "reloaded zone=$ZONE" "$RUN/ward.log" | tail -1 | sed -n 's/.* ms=\([0-9]*\).*/\1/p')
                t_reload=$(grep "reloaded zone=$ZONE" "$RUN/ward.log" | tail -1 | awk '{print $1}')
                t_diff=$(grep "journal: difference kept" "$RUN/ward.log" | tail -1 | awk '{print $1}')
                diff_ms=$(python3 -c "
from datetime import datetime
f=lambda s: datetime.fromisoformat(s.rstrip('Z'))
print(int((f('$t_diff')-f('$t_reload')).total_seconds()*1000))")
                say "$set ($label) $change #$round: NOTIFY after $notify_ms ms (reload $reload_ms ms, difference kept $diff_ms ms after it), IXFR $old→$new $records records"
                echo "| $set | $label | $change file #$round | $notify_ms ms | $reload_ms ms | $diff_ms ms | $records | $probe → $expect |" >>"$REPORT"
            done
        done
        stop "$WARD_PID"
    done
done
{
    echo
    echo "\"rename → NOTIFY\" runs from the rename of the changed file to the NOTIFY's"
    echo "arrival at a listener on loopback: ward's debounce (50 ms), reading what changed,"
    echo "building the zone, serving it, making the difference, sending the NOTIFY."
    echo "\"reload\" is ward's parse time of the files it read for that reload; \"reload →"
    echo "difference kept\" the time between the two log lines. Every IXFR is checked to be"
    echo "a difference (its second record the old SOA), never a whole zone."
} >>"$REPORT"
cat "$REPORT"
