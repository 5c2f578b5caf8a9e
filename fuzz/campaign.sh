#!/usr/bin/env bash
# The campaign: each target in turn, in chunks, until it has run $RUNS inputs (default
# 10 million) or spent $BUDGET seconds (default 1200), whichever comes first. Niced,
# and never while /tmp/ward-quiet exists (someone benchmarks). Two campaigns may run at
# once (one per core); two of the same target need their own TAG (it names their logs).
# A chunk that finds a crash, hang or blow-up ends that target's campaign; the input is
# in fuzz/artifacts/<target>/. Logs and the running totals are in fuzz/campaign/.
#
#   fuzz/campaign.sh [target ...]      # default: every target
#
# The working corpus grows in fuzz/corpus-work/<target> (gitignored), seeded from the
# checked-in fuzz/corpus/<target>.
set -u
cd "$(dirname "$0")"
RUNS=${RUNS:-10000000}
CHUNK=${CHUNK:-2000000}
CHUNK_TIME=${CHUNK_TIME:-600}
BUDGET=${BUDGET:-1200}
# cargo-fuzz's default is address (ASan); none is faster (see README.md for which ran how).
SANITIZER=${SANITIZER:-address}
# More libFuzzer flags, e.g. LIBFUZZER_ARGS=-max_len=4096 (smaller inputs, more runs).
LIBFUZZER_ARGS=${LIBFUZZER_ARGS:-}
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(query_parse catalogue config zone_file gzip udp_answer tcp_stream)
mkdir -p campaign

for target in "${TARGETS[@]}"; do
    mkdir -p "corpus-work/$target" "artifacts/$target"
    total=0
    spent=0
    chunk=0
    while [ "$total" -lt "$RUNS" ] && [ "$spent" -lt "$BUDGET" ]; do
        while [ -e /tmp/ward-quiet ]; do
            echo "$(date -u +%FT%TZ) $target: /tmp/ward-quiet exists, waiting" >> campaign/summary.log
            sleep 30
        done
        chunk=$((chunk + 1))
        left=$((RUNS - total))
        runs=$((left < CHUNK ? left : CHUNK))
        time_left=$((BUDGET - spent))
        time_cap=$((time_left < CHUNK_TIME ? time_left : CHUNK_TIME))
        log="campaign/$target${TAG:+-$TAG}-$chunk.log"
        before=$(ls "artifacts/$target" | wc -l)
        start=$(date +%s)
        nice -n 10 cargo +nightly fuzz run --sanitizer "$SANITIZER" "$target" "corpus-work/$target" "corpus/$target" -- \
            -runs="$runs" -max_total_time="$time_cap" \
            -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -print_final_stats=1 $LIBFUZZER_ARGS \
            > "$log" 2>&1
        status=$?
        end=$(date +%s)
        done_runs=$(grep -oE '^Done [0-9]+ runs' "$log" 2>/dev/null | grep -oE '[0-9]+' | tail -1)
        [ -n "$done_runs" ] || done_runs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" 2>/dev/null | grep -oE '[0-9]+$' | tail -1)
        done_runs=${done_runs:-0}
        total=$((total + done_runs))
        spent=$((spent + end - start))
        last=$(grep -E '^#[0-9]+' "$log" 2>/dev/null | tail -1)
        after=$(ls "artifacts/$target" | wc -l)
        echo "$(date -u +%FT%TZ) $target chunk $chunk: status $status, $done_runs runs in $((end - start)) s; total $total runs, $spent s; $last" >> campaign/summary.log
        if [ "$after" -gt "$before" ] || grep -qE 'ERROR: libFuzzer|panicked at|deadly signal|==ERROR' "$log" 2>/dev/null; then
            echo "$(date -u +%FT%TZ) $target: FINDING, see $log and artifacts/$target; next target" >> campaign/summary.log
            break
        fi
        if [ "$done_runs" -eq 0 ]; then
            echo "$(date -u +%FT%TZ) $target: a chunk ran nothing, see $log.driver; next target" >> campaign/summary.log
            break
        fi
    done
    echo "$(date -u +%FT%TZ) $target: DONE $total runs in $spent s" >> campaign/summary.log
done
