#!/usr/bin/env bash
# The Debian package as an admin meets it, on this machine: build it from the release
# binary (contrib/deb/build.sh --no-build), lintian it, install it with apt, check the
# user, the files and the unit; run the unit's own ExecStart as the unit runs it (user
# ward, only CAP_NET_BIND_SERVICE: systemd is not PID 1 in CI's container) and ask it on
# 127.0.0.1:53; enable the admin API as docs/install.md says and use it; upgrade to a
# rebuilt package whose ward.toml changed too, and check the admin's edits stay; remove
# (zones and state stay); purge (they go).
#
#   cargo build --release && sudo bash tests/package/run.sh
#
# It changes this machine: it installs what it needs (lintian, dpkg-dev, systemd,
# dnsutils, curl, debootstrap, systemd-container, cargo-deb), takes 127.0.0.1:53 and [::1]:53, installs the package
# `ward` and purges it again. It refuses to start where a `ward` package is installed
# (outside CI, where it purges it first). Then tests/package/systemd.sh boots a container
# with systemd to run ward.service for real (SKIP_SYSTEMD=1 skips that, outside CI).
# Only loopback traffic; every wait is bounded.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO"
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
[[ $TARGET == /* ]] || TARGET=$REPO/$TARGET
CARGO_DEB_VERSION=3.8.0
WORK=$(mktemp -d /tmp/ward-package.XXXXXX)
WARD_PID=
STEP=start

say() { printf '[package] %s\n' "$*"; }
fail() {
    printf '[package] FAIL (%s): %s\n' "$STEP" "$*" >&2
    exit 1
}
step() {
    STEP=$1
    say "== $1"
}

# ward as ward.service runs it: the unit's ExecStart, as its User and Group, with its
# one capability (ambient, so ward binds port 53 without root), no new privileges, no
# supplementary groups, from /, with systemd's bare environment.
start_ward() {
    # shellcheck disable=SC2086 # ExecStart is split into words as systemd splits it (no quotes in it)
    (cd / && exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin setpriv --reuid=ward --regid=ward \
        --init-groups --inh-caps=-all,+net_bind_service --ambient-caps=-all,+net_bind_service \
        --bounding-set=-all,+net_bind_service --no-new-privs -- $EXEC) >>"$WORK/ward.log" 2>&1 &
    WARD_PID=$!
    # Serving when the RFC 5782 test point answers (the first load is a few ms).
    local i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$WARD_PID" 2>/dev/null || fail "ward exited at start (its log follows)"
        [[ $(dig @127.0.0.1 -p 53 +short +time=1 +tries=1 2.0.0.127.ips.block.example A 2>/dev/null) == 127.0.0.2 ]] &&
            return 0
        sleep 0.1
    done
    fail "ward did not answer on 127.0.0.1:53 within 10 s"
}
stop_ward() {
    [[ -n $WARD_PID ]] || return 0
    local pid=$WARD_PID i
    WARD_PID=
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "ward did not stop within 10 s of SIGTERM"
        kill -KILL "$pid" 2>/dev/null || true
        return 1
    fi
    local status=0
    wait "$pid" || status=$?
    ((status == 0)) || say "ward exited with status $status on SIGTERM"
    return "$status"
}
# What a query answers, for the readme's examples.
ask() { dig "$@" +time=2 +tries=1 2>&1; }

cleanup() {
    local status=$?
    stop_ward || true
    if ((status != 0)); then
        [[ -s $WORK/ward.log ]] && { say "ward's log:"; tail -n 40 "$WORK/ward.log" >&2; }
        say "FAILED in step: $STEP (work directory kept: $WORK)"
    else
        rm -rf "$WORK"
    fi
    # Leave the machine as it was: no ward package, whatever happened.
    if dpkg-query -W -f='${Status}' ward 2>/dev/null | grep -qv '^unknown'; then
        apt-get purge -y -q ward >/dev/null 2>&1 || dpkg --purge ward >/dev/null 2>&1 || true
    fi
    exit "$status"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------
step "tools"
[[ $(id -u) -eq 0 ]] || fail "run as root: it installs and purges a package and binds port 53"
command -v apt-get >/dev/null || fail "needs a Debian machine (apt-get)"
export DEBIAN_FRONTEND=noninteractive
needed=(lintian dpkg-dev systemd dnsutils curl util-linux procps debootstrap systemd-container)
missing=()
for package in "${needed[@]}"; do
    dpkg-query -W -f='${Status}\n' "$package" 2>/dev/null | grep -q '^install ok installed$' ||
        missing+=("$package")
done
if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    apt-get update -q >/dev/null || fail "apt-get update failed"
    apt-get install -y -q "${missing[@]}" >/dev/null || fail "cannot install ${missing[*]}"
fi
if ! cargo deb --version 2>/dev/null | grep -q "^cargo-deb $CARGO_DEB_VERSION\$"; then
    say "cargo install cargo-deb $CARGO_DEB_VERSION"
    cargo install --locked cargo-deb --version "$CARGO_DEB_VERSION" ||
        fail "cannot install cargo-deb $CARGO_DEB_VERSION"
fi
[[ -x $TARGET/release/ward ]] || fail "no $TARGET/release/ward: run cargo build --release first"
if dpkg-query -W -f='${Status}' ward 2>/dev/null | grep -q 'installed\|config-files'; then
    [[ -n ${CI:-} ]] || fail "a ward package is installed here: purge it first (apt-get purge ward)"
    say "purging the ward package left on this CI machine"
    apt-get purge -y -q ward >/dev/null
fi

# ---------------------------------------------------------------------------------
step "build"
rm -f "$TARGET"/debian/ward_*.deb "$TARGET"/debian/ward-dbgsym_*.ddeb
"$REPO/contrib/deb/build.sh" --no-build >"$WORK/build.log" 2>&1 ||
    { cat "$WORK/build.log" >&2; fail "contrib/deb/build.sh --no-build"; }
BUILT=$(grep '/ward_[^/]*\.deb$' "$WORK/build.log" | tail -n 1)
[[ -f $BUILT ]] || { cat "$WORK/build.log" >&2; fail "no .deb in the build's output"; }
# Kept aside: cargo-deb empties target/debian when it builds the upgrade below.
DEB=$WORK/$(basename "$BUILT")
cp "$BUILT" "$DEB"
VERSION=$(dpkg-deb -f "$DEB" Version)
CARGO_VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
[[ $VERSION == "$CARGO_VERSION-1" ]] || fail "package version $VERSION, Cargo.toml says $CARGO_VERSION"
say "$BUILT ($(du -h "$DEB" | cut -f1), $VERSION)"

# The upgrade: the same build from a copy of the sources whose packaged ward.toml
# changed and whose changelog has a new entry, as a real next version would.
UPGRADE_SRC=$WORK/upgrade-src
mkdir -p "$UPGRADE_SRC/bench"
cp -r Cargo.toml Cargo.lock src contrib zones docs README.md "$UPGRADE_SRC/"
cp -r bench/criterion "$UPGRADE_SRC/bench/"
printf '\n# (the upgrade test: this line is new in %s-2)\n' "$CARGO_VERSION" >>"$UPGRADE_SRC/contrib/deb/ward.toml"
{
    printf 'ward (%s-2) unstable; urgency=medium\n\n  * The upgrade test of tests/package/run.sh.\n\n' "$CARGO_VERSION"
    printf ' -- ward maintainers <maintainers@users.noreply.h-seed-8f9e72b3.example>  %s\n\n' "$(date -R)"
    cat contrib/deb/changelog
} >"$UPGRADE_SRC/contrib/deb/changelog"
mkdir -p "$WORK/upgrade"
(cd "$UPGRADE_SRC" && CARGO_TARGET_DIR=$TARGET contrib/deb/build.sh --no-build --deb-revision 2 \
    --output "$WORK/upgrade") >"$WORK/build-upgrade.log" 2>&1 ||
    { cat "$WORK/build-upgrade.log" >&2; fail "building the upgrade package"; }
UPGRADE_DEB=$(find "$WORK/upgrade" -name "ward_*-2_*.deb" | head -n 1)
[[ -f $UPGRADE_DEB ]] || fail "no upgrade package in $WORK/upgrade"

# ---------------------------------------------------------------------------------
step "lintian"
# No errors, no warnings; the overrides (contrib/deb/lintian-overrides) each say why.
lintian_status=0
lintian --pedantic --display-info --fail-on error,warning "$DEB" >"$WORK/lintian.log" 2>&1 || lintian_status=$?
grep -v 'root privileges' "$WORK/lintian.log" || true
((lintian_status == 0)) || fail "lintian finds errors or warnings (above), status $lintian_status"

# ---------------------------------------------------------------------------------
step "install"
apt-get install -y -q "$DEB" >"$WORK/install.log" 2>&1 ||
    { cat "$WORK/install.log" >&2; fail "apt-get install $DEB"; }
[[ $(dpkg-query -W -f='${Status} ${Version}' ward) == "install ok installed $VERSION" ]] ||
    fail "dpkg does not list ward $VERSION as installed"

# The user: a system user made by sysusers.d, home the state, no login.
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd ward) || fail "no user ward"
((uid > 0 && uid < 1000)) || fail "ward's uid $uid is not a system uid"
[[ $(getent group ward | cut -d: -f3) == "$gid" ]] || fail "ward's primary group is not the group ward"
[[ $home == /var/lib/ward && $shell == /usr/sbin/nologin ]] || fail "ward's home/shell: $home $shell"

# The files.
for file in /usr/sbin/ward /usr/lib/systemd/system/ward.service /usr/lib/sysusers.d/ward.conf \
    /etc/ward/ward.toml /usr/share/man/man8/ward.8.gz /usr/share/man/man8/ward-serve.8.gz \
    /usr/share/doc/ward/copyright /usr/share/doc/ward/changelog.Debian.gz \
    /usr/share/doc/ward/docs/install.md /usr/share/lintian/overrides/ward; do
    [[ -f $file ]] || fail "$file is not installed"
done
cmp -s contrib/deb/ward.toml /etc/ward/ward.toml || fail "/etc/ward/ward.toml is not contrib/deb/ward.toml"
while IFS= read -r file; do
    cmp -s "$file" "/etc/ward/$file" || fail "/etc/ward/$file is not the shipped $file"
done < <(git ls-files zones)
conffiles=$(dpkg-query -W -f='${Conffiles}\n' ward)
for file in /etc/ward/ward.toml /etc/ward/zones/reasons.conf /etc/ward/zones/ips.block.example/manual.zone; do
    grep -q "^ $file " <<<"$conffiles" || fail "$file is not a conffile"
done
[[ $(stat -c '%U:%G %a' /var/lib/ward) == "ward:ward 750" ]] ||
    fail "/var/lib/ward is $(stat -c '%U:%G %a' /var/lib/ward), not ward:ward 750"
[[ $(stat -c '%U:%G %a' /etc/ward/admin.token) == "root:ward 640" ]] ||
    fail "/etc/ward/admin.token is $(stat -c '%U:%G %a' /etc/ward/admin.token), not root:ward 640"
grep -Eq '^[0-9a-f]{64}$' /etc/ward/admin.token || fail "/etc/ward/admin.token is not 64 hex digits"
[[ -L /etc/systemd/system/multi-user.target.wants/ward.service ]] || fail "ward.service is not enabled"
zcat /usr/share/man/man8/ward.8.gz | grep -q '^\.TH WARD 8 ' || fail "ward.8 is not a man page of section 8"

[[ $(/usr/sbin/ward --version) == "ward $CARGO_VERSION" ]] || fail "ward --version: $(/usr/sbin/ward --version)"
ward check --zones /etc/ward/zones >"$WORK/check.log" 2>&1 ||
    { cat "$WORK/check.log" >&2; fail "ward check --zones /etc/ward/zones"; }
grep -q '^/etc/ward/zones: ok$' "$WORK/check.log" || fail "ward check does not say ok"

# The unit: systemd checks it as it would load it, and rates its sandbox.
UNIT=/usr/lib/systemd/system/ward.service
systemd-analyze verify "$UNIT" || fail "systemd-analyze verify $UNIT"
systemd-analyze security --offline=yes "$UNIT" >"$WORK/security.log" 2>&1 || true
EXPOSURE=$(sed -n 's/.*Overall exposure level for ward.service: \([0-9.]*\).*/\1/p' "$WORK/security.log")
[[ -n $EXPOSURE ]] || { cat "$WORK/security.log" >&2; fail "no exposure level from systemd-analyze security"; }
say "systemd-analyze security: exposure $EXPOSURE (0 = the most sandboxed, 10 = none)"
awk -v e="$EXPOSURE" 'BEGIN { exit !(e <= 2.0) }' || fail "the unit's exposure $EXPOSURE is above 2.0"

# ---------------------------------------------------------------------------------
step "serve on port 53 as ward"
EXEC=$(sed -n 's/^ExecStart=//p' "$UNIT")
[[ -n $EXEC ]] || fail "no ExecStart in $UNIT"
ss -Hlnu 'sport = :53' | grep -Eq '127\.0\.0\.1:53|\*:53|0\.0\.0\.0:53' &&
    fail "something already listens on 127.0.0.1:53: $(ss -Hlnup 'sport = :53')"
start_ward
[[ $(ps -o user= -p "$WARD_PID") == ward ]] || fail "ward runs as $(ps -o user= -p "$WARD_PID"), not ward"
grep -q '^CapEff:.*0000000000000400$' "/proc/$WARD_PID/status" ||
    fail "ward's effective capabilities are not CAP_NET_BIND_SERVICE alone: $(grep Cap "/proc/$WARD_PID/status")"
[[ $(ask @127.0.0.1 -p 53 +short 7.113.0.203.ips.block.example A) == 127.0.0.3 ]] ||
    fail "7.113.0.203.ips.block.example A over UDP on 127.0.0.1:53"
[[ $(ask @127.0.0.1 -p 53 +short +tcp sender1.bulk.example.senders.block.example A) == 127.0.0.8 ]] ||
    fail "sender1.bulk.example.senders.block.example A over TCP on 127.0.0.1:53"
[[ $(ask @::1 -p 53 +short mail.spam.example.domains.block.example A) == 127.0.0.2 ]] ||
    fail "mail.spam.example.domains.block.example A on [::1]:53"
ask @127.0.0.1 -p 53 8.113.0.203.ips.block.example A | grep -q 'status: NXDOMAIN' ||
    fail "8.113.0.203.ips.block.example is not NXDOMAIN"
[[ -f /var/lib/ward/serials && $(stat -c %U /var/lib/ward/serials) == ward ]] ||
    fail "ward keeps no serials in /var/lib/ward (state = \"/var/lib/ward\")"
stop_ward || fail "ward did not stop cleanly on SIGTERM"

# ---------------------------------------------------------------------------------
step "the admin API, enabled as docs/install.md says"
# Give the zone's directory to the group ward, switch the API on in ward.toml, restart.
ZONE_DIR=/etc/ward/zones/ips.block.example
chgrp ward "$ZONE_DIR" || fail "chgrp ward $ZONE_DIR"
chmod g+w "$ZONE_DIR" || fail "chmod g+w $ZONE_DIR"
sed -i -e 's/^# admin = /admin = /' -e 's/^# admin_token_file = /admin_token_file = /' /etc/ward/ward.toml
grep -q '^admin = "127.0.0.1:8081"$' /etc/ward/ward.toml || fail "ward.toml has no line '# admin = \"127.0.0.1:8081\"' to uncomment"
start_ward
TOKEN=$(cat /etc/ward/admin.token)
code=$(curl -s -o "$WORK/api.json" -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $TOKEN" \
    -d '{"zone": "ips.block.example", "key": "192.0.2.77", "reason": "spam-source", "ticket": "5301"}' \
    http://127.0.0.1:8081/api/v1/entries) || true
[[ $code == 201 ]] || fail "POST /api/v1/entries answered $code: $(cat "$WORK/api.json" 2>/dev/null)"
[[ $(stat -c '%U:%G' "$ZONE_DIR/api.zone") == ward:ward ]] || fail "api.zone is not ward's: $(stat -c '%U:%G' "$ZONE_DIR/api.zone")"
for ((i = 0; i < 50; i++)); do
    [[ $(ask @127.0.0.1 -p 53 +short 77.2.0.192.ips.block.example A) == 127.0.0.2 ]] && break
    sleep 0.1
done
((i < 50)) || fail "the listing the API added is not served within 5 s"
# The command line edits the same file, as ward (as root it would leave files ward
# cannot write).
runuser -u ward -- ward add --config /etc/ward/ward.toml ips.block.example 192.0.2.91 compromised-host \
    --ticket 5302 >"$WORK/add.log" 2>&1 || { cat "$WORK/add.log" >&2; fail "runuser -u ward -- ward add"; }
grep -q '^192.0.2.91 ' "$ZONE_DIR/api.zone" || fail "ward add did not write api.zone"
[[ $(stat -c %U /var/lib/ward/audit.log) == ward ]] || fail "/var/lib/ward/audit.log is not ward's"
stop_ward || fail "ward did not stop cleanly on SIGTERM"
token_sum=$(sha256sum /etc/ward/admin.token)

# ---------------------------------------------------------------------------------
step "upgrade keeps the admin's files"
# The package's ward.toml changed too, so dpkg would ask: --force-confold answers
# "keep mine" without a terminal, and leaves the new one beside it as .dpkg-dist.
apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "$UPGRADE_DEB" >"$WORK/upgrade.log" 2>&1 || { cat "$WORK/upgrade.log" >&2; fail "apt-get install $UPGRADE_DEB"; }
[[ $(dpkg-query -W -f='${Version}' ward) == "$CARGO_VERSION-2" ]] || fail "not upgraded to $CARGO_VERSION-2"
grep -q '^admin = "127.0.0.1:8081"$' /etc/ward/ward.toml || fail "the upgrade lost the edit to /etc/ward/ward.toml"
grep -q 'the upgrade test' /etc/ward/ward.toml && fail "the upgrade overwrote /etc/ward/ward.toml"
grep -q 'the upgrade test' /etc/ward/ward.toml.dpkg-dist || fail "no /etc/ward/ward.toml.dpkg-dist with the new version"
[[ $(stat -c '%U:%G %a' "$ZONE_DIR") == "root:ward 775" ]] ||
    fail "the upgrade reset $ZONE_DIR to $(stat -c '%U:%G %a' "$ZONE_DIR")"
grep -q '^192.0.2.77 ' "$ZONE_DIR/api.zone" || fail "the upgrade lost api.zone"
[[ $(sha256sum /etc/ward/admin.token) == "$token_sum" ]] || fail "the upgrade changed the admin token"
start_ward
[[ $(ask @127.0.0.1 -p 53 +short 91.2.0.192.ips.block.example A) == 127.0.0.3 ]] ||
    fail "after the upgrade, the listing ward add made is not served"
stop_ward || fail "ward did not stop cleanly on SIGTERM"
# Nothing in the package's setup is worth a warning: the token's group, the state, the
# zones (ward's whole log, every start above).
if grep -E ' (WARN|ERROR) ' "$WORK/ward.log"; then
    fail "ward logged warnings or errors under the package's setup (above)"
fi

# ---------------------------------------------------------------------------------
step "remove keeps the zones and the state"
apt-get remove -y -q ward >"$WORK/remove.log" 2>&1 || { cat "$WORK/remove.log" >&2; fail "apt-get remove ward"; }
[[ $(dpkg-query -W -f='${Status}' ward) == "deinstall ok config-files" ]] || fail "ward is not in state config-files"
[[ ! -e /usr/sbin/ward && ! -e $UNIT ]] || fail "the binary or the unit is still there"
for file in /etc/ward/ward.toml /etc/ward/zones/reasons.conf "$ZONE_DIR/manual.zone" "$ZONE_DIR/api.zone" \
    /etc/ward/admin.token /var/lib/ward/serials /var/lib/ward/audit.log; do
    [[ -f $file ]] || fail "remove deleted $file"
done
getent passwd ward >/dev/null || fail "remove deleted the user ward"

# ---------------------------------------------------------------------------------
step "purge deletes them"
apt-get purge -y -q ward >"$WORK/purge.log" 2>&1 || { cat "$WORK/purge.log" >&2; fail "apt-get purge ward"; }
dpkg-query -W -f='${Status}' ward 2>/dev/null | grep -q 'installed\|config-files' && fail "ward is still known to dpkg"
for path in /etc/ward /var/lib/ward /etc/systemd/system/ward.service \
    /etc/systemd/system/multi-user.target.wants/ward.service; do
    [[ ! -e $path && ! -L $path ]] || fail "purge left $path"
done
getent passwd ward >/dev/null || fail "purge deleted the user ward (Debian's packages leave theirs)"

# ---------------------------------------------------------------------------------
step "under systemd"
# What needs systemd as PID 1 (the sandbox's system call filter, notify, reload, the
# watchdog): in a container of its own (tests/package/systemd.sh).
if [[ -n ${SKIP_SYSTEMD:-} ]]; then
    [[ -z ${CI:-} ]] || fail "SKIP_SYSTEMD is set under CI"
    say "SKIPPED: ward.service under a real systemd (SKIP_SYSTEMD is set)"
else
    bash "$HERE/systemd.sh" "$DEB" || fail "ward.service under systemd (tests/package/systemd.sh)"
fi

STEP="the end"
say "PASS: built, linted, installed, served on port 53 as ward, admin API, upgraded keeping edits, removed, purged; under systemd"
