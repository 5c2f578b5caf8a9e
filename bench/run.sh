#!/usr/bin/env bash
# ward vs rbldnsd (Debian) vs the rspamd fork of rbldnsd, side by side, in one run.
#
#   bash bench/run.sh            # full run, about 25 minutes on a 2-core machine
#   bash bench/run.sh --quick    # 1M IPv4 set only, short runs, under 3 minutes
#
# Extra options go to bench/bench.py (e.g. --sets ip4-1m,dom-1m, --repeats 5,
# --servers rbldnsd,ward, --profile ip4-1m). Environment:
#   WARD_BIN=path     use this ward binary instead of building the checkout this script is in
#   WARD_COMMIT=rev   with WARD_BIN: the commit it was built from, for the report
#   BENCH_WORK=dir    scratch space: data, logs, the fork's build (default /tmp/ward-bench)
#   FORK_TARBALL=f    rbldnsd-rspamd source (default ../shared/peers/rbldnsd-rspamd.tar.gz
#                     beside the repository, or /work/shared/peers/...)
#   NO_FORK=1         skip the rspamd fork
# Results: bench/results/<date>.md and .json. See bench/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
WORK=${BENCH_WORK:-/tmp/ward-bench}
QUICK=0
for a in "$@"; do [ "$a" = "--quick" ] && QUICK=1; done

say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

mkdir -p "$WORK"
chmod 755 "$WORK"   # rbldnsd drops privileges before it reads the data

# ---- tools (Debian packages; installed when missing and we are root)
missing=()
command -v dnsperf >/dev/null || missing+=(dnsperf)
[ -x /usr/sbin/rbldnsd ] || missing+=(rbldnsd)
command -v taskset >/dev/null || missing+=(util-linux)
command -v python3 >/dev/null || missing+=(python3)
command -v knotd >/dev/null || missing+=(knot)   # the general-purpose server beside rbldnsd (ip4-100k)
if [ -z "${NO_FORK:-}" ]; then
  command -v cmake >/dev/null || missing+=(cmake)
  { [ -f /usr/include/ev.h ] || [ -f /usr/include/libev/ev.h ]; } || missing+=(libev-dev)
  command -v make >/dev/null || missing+=(make)
  command -v cc >/dev/null || missing+=(gcc)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  [ -f /usr/include/zlib.h ] || missing+=(zlib1g-dev)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]}"
    apt-get install -y "${missing[@]}" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y "${missing[@]}" >/dev/null; }
  else
    echo "missing: ${missing[*]} (apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

# ---- ward: the checkout this script lives in, unless WARD_BIN is given
if [ -n "${WARD_BIN:-}" ]; then
  WARD=$WARD_BIN
  WARD_COMMIT=${WARD_COMMIT:-$(git -C "$(dirname "$WARD")" rev-parse --short HEAD 2>/dev/null || echo "unknown (WARD_BIN)")}
else
  say "building ward (cargo build --release in $REPO)"
  (cd "$REPO" && cargo build --release --quiet)
  WARD=${CARGO_TARGET_DIR:-$REPO/target}/release/ward
  WARD_COMMIT=$(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo "+changes")
fi
[ -x "$WARD" ] || { echo "no ward binary at $WARD" >&2; exit 1; }

# ---- load generator (its own workspace, built outside the repository)
say "building the load generator"
CARGO_TARGET_DIR="$WORK/loadgen-target" cargo build --release --quiet --manifest-path "$HERE/loadgen/Cargo.toml"
LOADGEN=$WORK/loadgen-target/release/loadgen

# ---- the rspamd fork of rbldnsd: built in scratch space, never part of ward
FORK=""
if [ -z "${NO_FORK:-}" ]; then
  TARBALL=${FORK_TARBALL:-}
  for t in "$REPO/../shared/peers/rbldnsd-rspamd.tar.gz" /work/shared/peers/rbldnsd-rspamd.tar.gz; do
    [ -z "$TARBALL" ] && [ -f "$t" ] && TARBALL=$t
  done
  [ -n "$TARBALL" ] || { echo "rbldnsd-rspamd.tar.gz not found (set FORK_TARBALL or NO_FORK=1)" >&2; exit 1; }
  FORK=$WORK/rbldnsd-rspamd/build/rbldnsd
  if [ ! -x "$FORK" ] || [ "$TARBALL" -nt "$FORK" ]; then
    say "building the rspamd fork of rbldnsd from $TARBALL"
    rm -rf "$WORK/rbldnsd-rspamd"
    mkdir -p "$WORK/rbldnsd-rspamd"
    tar xzf "$TARBALL" -C "$WORK/rbldnsd-rspamd" --strip-components=1
    mkdir -p "$WORK/rbldnsd-rspamd/build"
    (cd "$WORK/rbldnsd-rspamd/build" && cmake .. -DCMAKE_BUILD_TYPE=Release >cmake.log 2>&1 \
      && make -j"$(nproc)" >make.log 2>&1) || { echo "fork build failed, see $WORK/rbldnsd-rspamd/build/*.log" >&2; exit 1; }
  fi
fi

# ---- data (cached; regenerated when gen.py changes)
if [ $QUICK = 1 ]; then SETS=ip4-1m; else SETS=ip4-1m,ip4-10m,ip6-1m,dom-1m,addr-1m,ip4-100k; fi
prev=""
for a in "$@"; do
  case $a in --sets=*) SETS=${a#--sets=};; esac
  [ "$prev" = "--sets" ] && SETS=$a
  prev=$a
done
say "data sets: $SETS"
python3 "$HERE/gen.py" "$WORK/data" --sets "$SETS"

# ---- run; bench.py stops every server it started, also on Ctrl-C / SIGTERM
ARGS=(--work "$WORK" --results "$HERE/results" --ward "$WARD" --ward-commit "$WARD_COMMIT"
      --loadgen "$LOADGEN" --command "bash bench/run.sh $*")
[ -n "$FORK" ] && ARGS+=(--fork "$FORK")
python3 "$HERE/bench.py" "${ARGS[@]}" "$@" &
BPID=$!
trap 'kill -TERM $BPID 2>/dev/null; wait $BPID 2>/dev/null' INT TERM
wait $BPID
