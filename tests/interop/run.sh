#!/usr/bin/env bash
# Interop suite: real mail software (Postfix, unbound, rspamd, SpamAssassin, Exim) against
# a real ward, all on loopback.
#
#   sudo bash tests/interop/run.sh              # every scenario
#   sudo bash tests/interop/run.sh postfix exim # only scenarios whose file name has a word
#
# Environment:
#   WARD_BIN      ward binary (default: target/release/ward in the repository)
#   KEEP_WORK=1   keep every scenario's scratch directory (kept anyway when it fails)
#   NO_INSTALL=1  do not install missing packages (a scenario then fails if one is missing)
#   SCENARIO_TIMEOUT  seconds per scenario (default 300)
#
# Needs root: it installs Debian packages, binds unbound to port 53 on a 127.x address,
# and runs Postfix and Exim in their own mount namespaces (unshare -m) so that they see
# a resolv.conf pointing at that unbound. Nothing leaves the loopback interface.
#
# Every scenario passes or fails; none skips. A missing program is a failure. (Exim
# conflicts with Postfix as a Debian MTA; it is unpacked beside it, see 70-exim.sh.)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/../.." && pwd)
WARD_BIN=${WARD_BIN:-$REPO_ROOT/target/release/ward}
[[ "$WARD_BIN" == /* ]] || WARD_BIN=$PWD/$WARD_BIN
export WARD_BIN
export EXIM_ROOT=${EXIM_ROOT:-/var/cache/ward-interop/exim-root}
SCENARIO_TIMEOUT=${SCENARIO_TIMEOUT:-300}

log() { printf '[interop] %s\n' "$*"; }
die() {
    printf '[interop] FAIL: %s\n' "$*" >&2
    exit 1
}

[[ $(id -u) -eq 0 ]] || die "run as root (installs packages, binds port 53, uses unshare -m)"
[[ -x "$WARD_BIN" ]] || die "ward binary not found: $WARD_BIN (cargo build --release, or set WARD_BIN)"

# ---------------------------------------------------------------------------------
# packages

PACKAGES=(
    postfix unbound swaks spamassassin rspamd dnsutils iproute2 util-linux coreutils
    knot nsd bind9 knot-dnsutils knot-dnssecutils # secondaries of ward, kzonecheck (90-secondaries.sh)
    rbldnsd curl python3 # stand-in public lists (85-external-lists.sh)
    fail2ban # listings from the mail log (88-fail2ban-loop.sh)
    python3-venv # robotframework and py3dns for the rspamd fork's suite (97-rbldnsd-fork-suite.sh)
    libio-socket-inet6-perl # swaks over IPv6
    # libraries of the unpacked Exim (exim4-daemon-light's dependencies; not the MTA)
    libidn12 libgnutls-dane0 libgnutls30 libdb5.3 libnsl2 libpcre2-8-0 libcrypt1
)

missing_packages() {
    local p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
    done
}

APT_UPDATED=0
apt_update() {
    ((APT_UPDATED)) && return 0
    log "apt-get update"
    apt-get update -q >/dev/null || die "apt-get update failed"
    APT_UPDATED=1
}

install_packages() {
    local missing
    mapfile -t missing < <(missing_packages)
    if ((${#missing[@]} == 0)); then
        log "packages: all installed"
        return 0
    fi
    log "installing: ${missing[*]}"
    # no daemon may start from a package's postinst (they would take ports, and are not
    # ours to stop): policy-rc.d 101 = "action forbidden", honoured by invoke-rc.d and
    # deb-systemd-invoke
    local made_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    # Postfix asks what kind of mail system this is: none, we bring our own main.cf
    debconf-set-selections <<'EOF'
postfix postfix/main_mailer_type select No configuration
postfix postfix/mailname string interop.test
EOF
    apt_update
    local rc=0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
        >/tmp/ward-interop-apt.log 2>&1 || rc=$?
    ((made_policy)) && rm -f /usr/sbin/policy-rc.d
    if ((rc != 0)); then
        tail -n 30 /tmp/ward-interop-apt.log >&2
        die "apt-get install failed (log: /tmp/ward-interop-apt.log)"
    fi
    mapfile -t missing < <(missing_packages)
    ((${#missing[@]} == 0)) || die "still missing after install: ${missing[*]}"
    # spamassassin's postinst leaves a gpg-agent running for its sa-update keyring
    if [[ -d /var/lib/spamassassin/sa-update-keys ]] && command -v gpgconf >/dev/null; then
        gpgconf --homedir /var/lib/spamassassin/sa-update-keys --kill gpg-agent >/dev/null 2>&1 || true
    fi
}

# Exim conflicts with Postfix as an MTA in Debian: unpack its packages instead.
unpack_exim() {
    [[ -x "$EXIM_ROOT/usr/sbin/exim4" ]] && return 0
    log "unpacking Exim (apt-get download + dpkg -x) into $EXIM_ROOT"
    local tmp
    tmp=$(mktemp -d /tmp/ward-interop-exim.XXXXXX)
    chmod 755 "$tmp"
    (cd "$tmp" && apt-get download -q exim4-daemon-light exim4-base exim4-config >/dev/null 2>&1) || {
        apt_update
        (cd "$tmp" && apt-get download -q exim4-daemon-light exim4-base exim4-config >/dev/null 2>&1)
    } || {
        rm -rf "$tmp"
        log "could not download the Exim packages; scenario 70 will say so"
        return 0
    }
    mkdir -p "$EXIM_ROOT"
    local deb
    for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$EXIM_ROOT"; done
    rm -rf "$tmp"
}

if [[ "${NO_INSTALL:-0}" != 1 ]]; then
    install_packages
    unpack_exim
fi

# ---------------------------------------------------------------------------------
# scenarios

mapfile -t ALL < <(find "$HERE/scenarios" -maxdepth 1 -name '*.sh' | sort)
SELECTED=()
for s in "${ALL[@]}"; do
    if (($# == 0)); then
        SELECTED+=("$s")
        continue
    fi
    for word in "$@"; do
        [[ "$(basename "$s")" == *"$word"* ]] && {
            SELECTED+=("$s")
            break
        }
    done
done
((${#SELECTED[@]} > 0)) || die "no scenario matches: $*"

log "ward: $WARD_BIN ($(timeout 10 "$WARD_BIN" --version 2>/dev/null || echo '?'))"
log "running ${#SELECTED[@]} scenario(s), at most ${SCENARIO_TIMEOUT}s each"
declare -a NAMES RESULTS TIMES
suite_start=$SECONDS
passed=0 failed=0
for s in "${SELECTED[@]}"; do
    name=$(basename "$s" .sh)
    log "=== $name"
    t0=$SECONDS
    rc=0
    SCENARIO=$name timeout --foreground -k 15 "$SCENARIO_TIMEOUT" bash "$s" || rc=$?
    dt=$((SECONDS - t0))
    if ((rc == 0)); then
        result=PASS
        passed=$((passed + 1))
    else
        ((rc == 124)) && log "$name: timed out after ${SCENARIO_TIMEOUT}s"
        result="FAIL (exit $rc)"
        failed=$((failed + 1))
    fi
    log "=== $name: $result in ${dt}s"
    NAMES+=("$name")
    RESULTS+=("$result")
    TIMES+=("$dt")
done

echo
log "summary (${#NAMES[@]} scenarios, $((SECONDS - suite_start))s):"
for i in "${!NAMES[@]}"; do
    printf '[interop]   %-28s %-32s %4ss\n' "${NAMES[i]}" "${RESULTS[i]}" "${TIMES[i]}"
done
echo "interop: $passed passed, $failed failed"
((failed == 0))
