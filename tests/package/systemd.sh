#!/usr/bin/env bash
# ward.service under a real systemd, for what tests/package/run.sh cannot check without
# systemd as PID 1: boots a Debian container (systemd-nspawn, a private network with
# loopback alone), installs the package there with apt as an admin would on a running
# system, and checks that the unit starts under its whole sandbox (the system call
# filter, ProtectSystem, the one capability), reports ready with its status line,
# answers on 127.0.0.1:53, reloads with `systemctl reload`, serves the admin API that
# writes api.zone, keeps the watchdog fed, stops cleanly, and that a purge stops it.
#
#   sudo bash tests/package/systemd.sh target/debian/ward_0.1.0-1_amd64.deb
#
# The container's system (debootstrap of this host's Debian release with systemd, from
# this host's apt sources) is made once and kept in /var/cache/ward-package/; each run
# boots a throwaway copy of it. Every wait is bounded.
set -euo pipefail

DEB=${1:?usage: systemd.sh WARD_DEB}
[[ $DEB == /* ]] || DEB=$PWD/$DEB
CACHE=/var/cache/ward-package
# shellcheck source=/dev/null
. /etc/os-release
BASE=$CACHE/${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}
NSPAWN_PID=
INIT=
STEP=start

say() { printf '[systemd] %s\n' "$*"; }
fail() {
    printf '[systemd] FAIL (%s): %s\n' "$STEP" "$*" >&2
    exit 1
}
step() {
    STEP=$1
    say "== $1"
}
# A command inside the container, as root.
inside() { nsenter --target "$INIT" --all -- "$@"; }

cleanup() {
    local status=$? i
    if ((status != 0)) && [[ -n $INIT ]]; then
        say "the container's journal for ward.service:"
        inside journalctl -u ward --no-pager -n 40 >&2 || true
    fi
    if [[ -n $NSPAWN_PID ]] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
        if [[ -n $INIT ]]; then
            inside systemctl poweroff >/dev/null 2>&1 || true
        fi
        for ((i = 0; i < 100; i++)); do
            kill -0 "$NSPAWN_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -TERM "$NSPAWN_PID" 2>/dev/null || true
        wait "$NSPAWN_PID" 2>/dev/null || true
    fi
    exit "$status"
}
trap cleanup EXIT

step "the container's system"
[[ $(id -u) -eq 0 ]] || fail "run as root (systemd-nspawn)"
[[ -f $DEB ]] || fail "no package $DEB"
for tool in debootstrap systemd-nspawn nsenter; do
    command -v "$tool" >/dev/null || fail "$tool is missing (apt-get install debootstrap systemd-container util-linux)"
done
if [[ ! -x $BASE/usr/lib/systemd/systemd ]]; then
    # The mirror this host installs from, as apt has it (not named here).
    # shellcheck disable=SC2016 # $(URI) is apt's, not the shell's
    MIRROR=$(apt-get indextargets --format '$(URI)' 2>/dev/null |
        sed -n "s|^\(.*\)/dists/$VERSION_CODENAME/main/binary-.*|\1|p" | head -n 1)
    [[ -n $MIRROR ]] || fail "no apt source for $VERSION_CODENAME main on this host"
    say "debootstrap $VERSION_CODENAME with systemd into $BASE (once)"
    rm -rf "$BASE.new"
    mkdir -p "$CACHE"
    debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,dnsutils,curl \
        "$VERSION_CODENAME" "$BASE.new" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
        { tail -n 20 "$CACHE/debootstrap.log" >&2; fail "debootstrap (log: $CACHE/debootstrap.log)"; }
    # The package's dependencies that a minimal system lacks, downloaded but not
    # installed: the container has no network, so apt takes them from its cache, and
    # a dependency the package forgets to declare is missing there (as /bin/kill was).
    if ! chroot "$BASE.new" apt-get update -q >>"$CACHE/debootstrap.log" 2>&1 ||
        ! chroot "$BASE.new" apt-get install -y -q --download-only procps >>"$CACHE/debootstrap.log" 2>&1; then
        tail -n 20 "$CACHE/debootstrap.log" >&2
        fail "downloading procps into the container's apt cache"
    fi
    mv "$BASE.new" "$BASE"
fi

step "boot"
# --ephemeral: a copy of the system, deleted when the container stops. The package is
# bound in read-only; a private network has loopback only.
systemd-nspawn --quiet --ephemeral --directory="$BASE" --boot --private-network \
    --register=no --keep-unit --console=passive \
    --bind-ro="$DEB:/root/ward.deb" >"$CACHE/nspawn.log" 2>&1 &
NSPAWN_PID=$!
for ((i = 0; i < 100; i++)); do
    INIT=$(pgrep -P "$NSPAWN_PID" -x systemd || true)
    [[ -n $INIT ]] && break
    kill -0 "$NSPAWN_PID" 2>/dev/null || { cat "$CACHE/nspawn.log" >&2; fail "systemd-nspawn exited"; }
    sleep 0.1
done
[[ -n $INIT ]] || fail "no systemd in the container within 10 s"
# Booted when systemd says so (before its bus is up, systemctl has no answer at all).
for ((i = 0; i < 600; i++)); do
    state=$(inside systemctl is-system-running 2>/dev/null || true)
    [[ $state == running || $state == degraded ]] && break
    sleep 0.1
done
[[ $state == running || $state == degraded ]] || fail "the container did not finish booting in 60 s: ${state:-no answer}"
say "booted ($state)"

step "apt install on a running system"
inside env DEBIAN_FRONTEND=noninteractive apt-get install -y -q /root/ward.deb >"$CACHE/install.log" 2>&1 ||
    { cat "$CACHE/install.log" >&2; fail "apt-get install ward.deb in the container"; }
# The postinst enabled and started it; Type=notify: active means ward said READY=1.
for ((i = 0; i < 100; i++)); do
    [[ $(inside systemctl is-active ward || true) == active ]] && break
    sleep 0.1
done
[[ $(inside systemctl is-active ward || true) == active ]] || fail "ward.service is not active after the install"
[[ $(inside systemctl is-enabled ward) == enabled ]] || fail "ward.service is not enabled"
inside systemctl show ward -p StatusText | grep -q '^StatusText=serving 4 zones' ||
    fail "no status line: $(inside systemctl show ward -p StatusText)"
[[ $(inside systemctl show ward -p User --value) == ward ]] || fail "ward.service does not run as ward"
[[ $(inside dig @127.0.0.1 +short +time=2 +tries=1 7.113.0.203.ips.block.example A) == 127.0.0.3 ]] ||
    fail "no answer on 127.0.0.1:53"
[[ $(inside dig @::1 +short +tcp +time=2 +tries=1 sender1.bulk.example.senders.block.example A) == 127.0.0.8 ]] ||
    fail "no answer over TCP on [::1]:53"
inside systemd-analyze security ward --no-pager | tail -n 1

step "reload, admin API, watchdog, stop"
inside systemctl reload ward || fail "systemctl reload ward"
inside sh -c 'chgrp ward /etc/ward/zones/ips.block.example && chmod g+w /etc/ward/zones/ips.block.example &&
    sed -i -e "s/^# admin = /admin = /" -e "s/^# admin_token_file = /admin_token_file = /" \
        -e "s/^# metrics = /metrics = /" /etc/ward/ward.toml &&
    systemctl restart ward' || fail "enabling the admin API and restarting"
# shellcheck disable=SC2016 # expanded by the container's shell
code=$(inside sh -c 'curl -s -o /dev/null -w "%{http_code}" --max-time 5 \
    -H "Authorization: Bearer $(cat /etc/ward/admin.token)" \
    -d "{\"zone\": \"ips.block.example\", \"key\": \"192.0.2.77\", \"reason\": \"spam-source\"}" \
    http://127.0.0.1:8081/api/v1/entries' || true)
[[ $code == 201 ]] || fail "the admin API answered $code under the sandbox"
for ((i = 0; i < 50; i++)); do
    [[ $(inside dig @127.0.0.1 +short +time=1 +tries=1 77.2.0.192.ips.block.example A) == 127.0.0.2 ]] && break
    sleep 0.1
done
((i < 50)) || fail "the listing the API added is not served within 5 s"
inside curl -s --max-time 5 http://127.0.0.1:9153/metrics | grep -q '^process_start_time_seconds ' ||
    fail "the metrics lack process_start_time_seconds (ProtectProc, ProcSubset)"
# WatchdogSec=30s: still the same process after the watchdog's period.
pid=$(inside systemctl show ward -p MainPID --value)
sleep 32
[[ $(inside systemctl show ward -p MainPID --value) == "$pid" && $(inside systemctl show ward -p NRestarts --value) == 0 ]] ||
    fail "ward was restarted within the watchdog's period"
inside systemctl stop ward
[[ $(inside systemctl show ward -p Result --value) == success ]] ||
    fail "ward did not stop cleanly: $(inside systemctl show ward -p Result -p ExecMainStatus)"
if inside journalctl -u ward --no-pager | grep -E ' (WARN|ERROR) '; then
    fail "ward logged warnings or errors under systemd (above)"
fi

step "purge"
inside systemctl start ward
inside env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q ward >"$CACHE/purge.log" 2>&1 ||
    { cat "$CACHE/purge.log" >&2; fail "apt-get purge ward in the container"; }
[[ $(inside systemctl is-active ward || true) != active ]] || fail "ward still runs after the purge"
inside test ! -e /etc/ward -a ! -e /var/lib/ward || fail "the purge left /etc/ward or /var/lib/ward"

STEP="the end"
say "PASS: installed on a running systemd, started sandboxed, answered, reloaded, admin API, watchdog, stopped, purged"
