#!/bin/bash
# Checks every ward-* fail2ban filter against the log lines it was written for.
#
#   contrib/fail2ban/tests/run.sh            all filters
#   contrib/fail2ban/tests/run.sh FILTER...  some (e.g. ward-missing-spf)
#
# For each tests/<filter>.expect (lines `MODE COUNT ID`), and for each MODE named
# there, fail2ban-regex reads tests/<filter>.log with filter.d/<filter>.conf in that
# mode (`<filter>[mode=MODE]`; a line `use MODE OPTIONS` in the .expect gives other
# filter options instead: `<filter>[OPTIONS]`), and the run fails unless
#   1. the failures are exactly the .expect lines: these IDs, each that many times
#      (`fail2ban-regex -o id`, one line per failure), and
#   2. the log lines printed with each failure are exactly those the log marks for
#      that mode and ID with `# expect MODE...: ID` (the failing line) or
#      `# context MODE...: ID` (an earlier line the failure's ID comes from), each with
#      that ID (`fail2ban-regex -o '<fid>\t<msg>'`): every other line must not match,
#   3. and the marks agree with the .expect counts.
# Needs fail2ban >= 1.0 (fail2ban-regex on the PATH, filter.d/common.conf in
# /etc/fail2ban or $FAIL2BAN_CONFIG). Exit 0 when everything matches, 1 otherwise.

set -u
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
contrib=$(dirname "$here")
f2b_config=${FAIL2BAN_CONFIG:-/etc/fail2ban}

command -v fail2ban-regex >/dev/null || { echo "run.sh: fail2ban-regex not found (apt-get install fail2ban)" >&2; exit 1; }
[ -r "$f2b_config/filter.d/common.conf" ] || { echo "run.sh: $f2b_config/filter.d/common.conf not found (set FAIL2BAN_CONFIG)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A config directory of fail2ban's common.conf and our filters only, so that a
# filter.d/*.local on this host cannot change what is tested.
mkdir "$work/filter.d"
cp "$f2b_config/filter.d/common.conf" "$contrib"/filter.d/*.conf "$work/filter.d/"

if [ $# -gt 0 ]; then
    filters=("$@")
else
    filters=()
    for expect in "$here"/*.expect; do
        filters+=("$(basename "$expect" .expect)")
    done
fi
[ ${#filters[@]} -gt 0 ] || { echo "run.sh: no tests/*.expect found" >&2; exit 1; }

failed=0
checked=0
fail() {
    echo "FAIL $1"
    failed=$((failed + 1))
}

for filter in "${filters[@]}"; do
    expect="$here/$filter.expect"
    log="$here/$filter.log"
    if [ ! -r "$expect" ] || [ ! -r "$log" ] || [ ! -r "$work/filter.d/$filter.conf" ]; then
        fail "$filter: needs tests/$filter.expect, tests/$filter.log and filter.d/$filter.conf"
        continue
    fi
    modes=$(awk '!/^[[:space:]]*(#|$)/ { print ($1 == "use" ? $2 : $1) }' "$expect" | sort -u)
    if [ -z "$modes" ]; then
        fail "$filter: tests/$filter.expect names no mode"
        continue
    fi
    for mode in $modes; do
        options=$(awk -v m="$mode" '$1 == "use" && $2 == m { sub(/^[[:space:]]*use[[:space:]]+[^[:space:]]+[[:space:]]+/, ""); print; exit }' "$expect")
        what="$filter[${options:-mode=$mode}]"
        checked=$((checked + 1))
        failed_before=$failed

        # 1. failures per ID
        awk -v m="$mode" '!/^[[:space:]]*(#|$)/ && $1 == m && $1 != "use" { print $3 "\t" $2 }' "$expect" \
            | sort > "$work/want-counts"
        if ! fail2ban-regex -c "$work" -o id "$log" "$what" > "$work/ids" 2> "$work/err"; then
            fail "$what: fail2ban-regex failed:"
            sed 's/^/    /' "$work/err" "$work/ids"
            continue
        fi
        sort "$work/ids" | uniq -c | awk '{ print $2 "\t" $1 }' | sort > "$work/got-counts"
        if ! cmp -s "$work/want-counts" "$work/got-counts"; then
            fail "$what: failures per ID differ from tests/$filter.expect (< expected, > found):"
            diff "$work/want-counts" "$work/got-counts" | grep '^[<>]' | sed 's/^/    /'
        fi

        # 2. the lines printed with the failures, and their IDs
        awk -v m="$mode" '
            /^# (expect|context) [^:]+: / {
                head = $0; sub(/^# /, "", head); sub(/: .*/, "", head)
                id = $0; sub(/^[^:]*: /, "", id)
                n = split(head, words, " ")
                for (i = 2; i <= n; i++) if (words[i] == m) pending[++np] = id
                next
            }
            /^#/ || /^[[:space:]]*$/ { next }
            { for (i = 1; i <= np; i++) print pending[i] "\t" $0; np = 0 }
        ' "$log" | sort > "$work/want-lines"
        if ! fail2ban-regex -c "$work" -o "<fid>$(printf '\t')<msg>" "$log" "$what" > "$work/lines" 2> "$work/err"; then
            fail "$what: fail2ban-regex failed:"
            sed 's/^/    /' "$work/err" "$work/lines"
            continue
        fi
        sort "$work/lines" > "$work/got-lines"
        if ! cmp -s "$work/want-lines" "$work/got-lines"; then
            fail "$what: matched lines differ from the marks in tests/$filter.log (< expected, > found; ID, tab, line):"
            diff "$work/want-lines" "$work/got-lines" | grep '^[<>]' | sed 's/^/    /'
        fi

        # 3. the marks agree with the counts
        awk -v m="$mode" '
            /^# expect [^:]+: / {
                head = $0; sub(/^# /, "", head); sub(/: .*/, "", head)
                id = $0; sub(/^[^:]*: /, "", id)
                n = split(head, words, " ")
                for (i = 2; i <= n; i++) if (words[i] == m) count[id]++
            }
            END { for (id in count) print id "\t" count[id] }
        ' "$log" | sort > "$work/marked-counts"
        if ! cmp -s "$work/want-counts" "$work/marked-counts"; then
            fail "$what: the # expect marks in tests/$filter.log disagree with tests/$filter.expect (< .expect, > marks):"
            diff "$work/want-counts" "$work/marked-counts" | grep '^[<>]' | sed 's/^/    /'
        fi

        if [ "$failed" -eq "$failed_before" ]; then
            printf 'ok   %-45s %3d failures, %3d lines\n' "$what" "$(wc -l < "$work/ids")" "$(wc -l < "$work/lines")"
        fi
    done
done

if [ "$failed" -gt 0 ]; then
    echo "run.sh: $failed of $checked filter/mode checks FAILED"
    exit 1
fi
echo "run.sh: all $checked filter/mode checks passed"
