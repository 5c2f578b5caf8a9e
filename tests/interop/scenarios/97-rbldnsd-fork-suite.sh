#!/usr/bin/env bash
# The rspamd fork of rbldnsd's own functional suite (test/functional/cases/*.robot,
# Robot Framework + py3dns), run against `ward rbldnsd` and nothing changed but the
# program it starts: every case must pass, none may be skipped.
#
# The fork's tarball (GPL; read, never copied into ward) sits beside the repository in
# ../shared/peers/ (FORK_TARBALL overrides). Its test directory is extracted into the
# scratch directory; robotframework and py3dns are installed with pip into a venv there.
#
# The suite starts `${RBLDNSD_BIN} -b localhost/53000 -n zone:type:file …` without a
# shell, so RBLDNSD_BIN is one executable: a two-line wrapper that execs `ward rbldnsd`.
# `-b localhost/PORT` is 127.0.0.1 and ::1 for ward whatever /etc/hosts says, so the two
# IPv6 ACL cases run (and must pass) on any machine with IPv6 on loopback. The suite's
# port is its own, 53000; nothing else may hold it.
source "$(dirname "$0")/../lib.sh"

need_cmd python3 tar ss
TARBALL=${FORK_TARBALL:-$REPO_ROOT/../shared/peers/rbldnsd-rspamd.tar.gz}
[[ -f "$TARBALL" ]] || fail "the fork's tarball is missing: $TARBALL (set FORK_TARBALL)"
PORT=53000
if ss -Hlnu "sport = :$PORT" | grep -q . || ss -Hlnt "sport = :$PORT" | grep -q .; then
    fail "port $PORT (the suite's) is taken: $(ss -Hlnup "sport = :$PORT")"
fi

say "extracting test/ from $TARBALL"
tar -xzf "$TARBALL" -C "$WORK" --wildcards '*/test/*'
FUNCTIONAL=$(find "$WORK" -type d -path '*/test/functional' | head -n1)
[[ -n "$FUNCTIONAL" && -f "$FUNCTIONAL/cases/__init__.robot" ]] || fail "no test/functional in $TARBALL"
CASES=$(find "$FUNCTIONAL/cases" -name '[0-9]*.robot' | wc -l)
say "$CASES case files in $FUNCTIONAL"

say "installing robotframework and py3dns into a venv"
python3 -m venv "$WORK/venv" || fail "python3 -m venv failed (is python3-venv installed?)"
"$WORK/venv/bin/python" -m pip install -q --disable-pip-version-check \
    'robotframework>=7,<8' 'py3dns>=4,<5' >"$WORK/pip.log" 2>&1 || {
    tail -n 20 "$WORK/pip.log" >&2
    fail "pip install robotframework py3dns failed"
}

# The program the suite starts. The suite's temporary directories are 0755 and its files
# 0644, so ward may read them as rbldns too (it becomes rbldns, as rbldnsd does, when
# started as root and that user exists).
mkdir -p "$WORK/bin"
printf '#!/bin/sh\nexec %q rbldnsd "$@"\n' "$WARD_BIN" >"$WORK/bin/rbldnsd"
chmod 755 "$WORK/bin" "$WORK/bin/rbldnsd"
usage=$("$WORK/bin/rbldnsd" -h)
expect_contains "$usage" $'\n -6 ' "ward rbldnsd -h lists -6 (the suite runs the IPv6 cases)"

say "running the suite"
rc=0
(cd "$FUNCTIONAL" && "$WORK/venv/bin/python" -m robot --outputdir "$WORK/robot" \
    --consolewidth 100 --variable "RBLDNSD_BIN:$WORK/bin/rbldnsd" cases) \
    >"$WORK/robot.log" 2>&1 || rc=$?
register_log "$WORK/robot.log"
cat "$WORK/robot.log" >&2
[[ -f "$WORK/robot/output.xml" ]] || fail "robot wrote no output.xml (exit $rc)"
read -r passed failed skipped < <("$WORK/venv/bin/python" - "$WORK/robot/output.xml" <<'EOF'
import sys
from robot.api import ExecutionResult
total = ExecutionResult(sys.argv[1]).statistics.total
print(total.passed, total.failed, total.skipped)
EOF
)
say "fork suite: $passed passed, $failed failed, $skipped skipped (robot exit $rc)"
expect_eq "$failed" 0 "no case fails"
expect_eq "$skipped" 0 "no case is skipped"
((passed >= 16)) || check_failed "expected at least the 16 cases of rbldnsd-rspamd 1.0.2, $passed passed"
expect_eq "$rc" 0 "robot's exit status"
finish
