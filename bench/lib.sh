# Shell helpers the benchmark scripts share: source it after `set -euo pipefail`, with
# HERE set to bench/. Defines REPO, WORK, COMMIT, PIDS (stopped on exit), and:
#   say TEXT...               a timestamped line on stderr
#   ward_binary               $WARD_BIN, or this checkout's release build (built now)
#   port                      a free loopback port (TCP and UDP)
#   wait_for SECONDS WHAT CMD...  until CMD succeeds; exits the script at the deadline
#   stop PID                  stop one process and wait for it
#   sets_option "$@"          reads --sets A,B into SETS (its default set by the caller)
# shellcheck shell=bash

REPO=$(cd "$HERE/.." && pwd)
WORK=${BENCH_WORK:-/tmp/ward-bench}
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)

say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

ward_binary() {
    if [[ -n "${WARD_BIN:-}" ]]; then
        echo "$WARD_BIN"
    else
        say "building ward (cargo build --release)"
        (cd "$REPO" && cargo build --release --quiet)
        echo "$REPO/target/release/ward"
    fi
}

sets_option() {
    while (($#)); do
        case $1 in
        --sets) SETS=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
        esac
    done
}

PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

port() {
    python3 -c '
import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p)); break
    except OSError:
        pass
print(p)'
}

wait_for() { # SECONDS WHAT CMD...
    local limit=$1 what=$2 deadline
    shift 2
    deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || { echo "timed out waiting for $what" >&2; exit 1; }
        sleep 0.02
    done
}
