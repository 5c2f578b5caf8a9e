#!/usr/bin/env bash
# Does a big zone's IXFR difference hold back another zone's reload?
#
#   bash bench/reload_during_difference.sh WARD_BIN LABEL [ROUNDS]
#
# ward serves ip4-1m (bench/gen.py's data under BENCH_WORK, default /tmp/ward-bench;
# transfers on, so every change is compared for IXFR) and a one-line zone. Each round
# changes the big zone, waits until ward serves its new serial (its difference starts
# then), changes the small zone at once and times until ward answers the small zone's
# new data. Loopback only; ward is stopped at the end. Compare two builds by running
# it once per binary.
set -euo pipefail
WARD=$1 LABEL=$2 ROUNDS=${3:-3}
DATA=${BENCH_WORK:-/tmp/ward-bench}/data/ip4-1m/ward/ip4.bench/data.ip4set
[[ -f $DATA ]] || { echo "no $DATA: python3 bench/gen.py ${BENCH_WORK:-/tmp/ward-bench}/data --sets ip4-1m" >&2; exit 1; }
W=$(mktemp -d /tmp/starve.XXXX)
mkdir -p $W/zones/ip4.bench
ln "$DATA" $W/zones/ip4.bench/data.ip4set 2>/dev/null || cp "$DATA" $W/zones/ip4.bench/data.ip4set
echo "192.0.2.1 :2:v0" > $W/zones/small.test.ip4set
cat > $W/ward.toml <<T
[zone."ip4.bench".transfer]
allow = ["127.0.0.1/32"]
T
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$WARD" serve --zones $W/zones --config $W/ward.toml --listen 127.0.0.1:$PORT --debounce 50 > $W/ward.log 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf $W' EXIT
serial() { dig +short -p $PORT @127.0.0.1 ip4.bench SOA | awk '{print $3}'; }
txt() { dig +short -p $PORT @127.0.0.1 1.2.0.192.small.test TXT; }
for ((i = 0; i < 600; i++)); do [[ -n "$(serial)" ]] && break; sleep 0.1; done
for ((r = 1; r <= ROUNDS; r++)); do
    sleep 1.2
    before=$(serial)
    echo "203.0.113.$r" > $W/zones/ip4.bench/extra.ip4set.new && mv $W/zones/ip4.bench/extra.ip4set.new $W/zones/ip4.bench/extra.ip4set
    for ((i = 0; i < 600; i++)); do [[ "$(serial)" != "$before" ]] && break; sleep 0.01; done
    start=$(date +%s%N)
    echo "192.0.2.1 :2:v$r" > $W/zones/small.test.ip4set.new && mv $W/zones/small.test.ip4set.new $W/zones/small.test.ip4set
    for ((i = 0; i < 3000; i++)); do [[ "$(txt)" == "\"v$r\"" ]] && break; sleep 0.01; done
    ms=$((($(date +%s%N) - start) / 1000000))
    echo "$LABEL round $r: the small zone's change served after ${ms} ms"
done
# Differences still being made finish first (a few seconds on 1M entries).
sleep 6
grep -c "difference kept" $W/ward.log | sed "s/^/$LABEL differences kept: /"
