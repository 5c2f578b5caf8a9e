#!/usr/bin/env bash
# Exim 4 (snippets/exim-acl.conf) in host-checking mode (-bh CLIENT-IP): dnslists on the
# IP zone (with and without a return-code filter, IPv4 and IPv6), the domain zone
# (sender domain) and the senders zone (sha1 of the address, upper-case hex).
#
# Exim and Postfix conflict as MTAs in Debian, so run.sh does not install Exim: it
# downloads the Debian packages (apt-get download) and unpacks them (dpkg -x) into
# $EXIM_ROOT, and installs only the libraries they need. The Debian binary looks up
# its compiled-in user Debian-exim at start; rather than adding it to this machine,
# Exim runs in its own mount namespace with a copy of /etc/passwd and /etc/group that
# has it, and with a resolv.conf pointing at unbound (Exim only uses resolv.conf).
source "$(dirname "$0")/../lib.sh"

EXIM_ROOT=${EXIM_ROOT:-/var/cache/ward-interop/exim-root}
EXIM=$EXIM_ROOT/usr/sbin/exim4
[[ -x "$EXIM" ]] || fail "no unpacked Exim at $EXIM (run.sh unpacks it; or set EXIM_ROOT)"

write_zones "$WORK/zones"
start_ward "$WORK/zones"
RESOLVER=$(random_loopback)
start_unbound "$RESOLVER" 53

E=$WORK/exim
mkdir -p "$E/spool" "$E/log"
cp /etc/passwd "$E/passwd"
cp /etc/group "$E/group"
grep -q '^Debian-exim:' "$E/passwd" || echo 'Debian-exim:x:64999:64999:Exim (interop test):/nonexistent:/usr/sbin/nologin' >>"$E/passwd"
grep -q '^Debian-exim:' "$E/group" || echo 'Debian-exim:x:64999:' >>"$E/group"
printf 'nameserver %s\noptions timeout:2 attempts:2\n' "$RESOLVER" >"$WORK/resolv.conf"
{
    cat <<EOF
# --- test harness (not for the README) ---
primary_hostname = mx.interop.test
keep_environment =
spool_directory = $E/spool
log_file_path = $E/log/%slog
acl_smtp_rcpt = acl_check_rcpt

begin acl

acl_check_rcpt:
# --- snippets/exim-acl.conf ---
EOF
    cat "$SNIPPETS/exim-acl.conf"
    printf '%s\n' '# --- test harness ---' '  accept'
} >"$E/exim.conf"

# exim_bh CLIENT-IP SENDER: one SMTP session in host-checking mode; prints Exim's output
exim_bh() {
    printf 'EHLO client.interop.test\r\nMAIL FROM:<%s>\r\nRCPT TO:<user@interop.test>\r\nQUIT\r\n' "$2" |
        unshare -m --propagation private sh -c '
            mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/passwd &&
            mount --bind "$3" /etc/group && exec "$4" -C "$5" -bh "$6"' \
            sh "$WORK/resolv.conf" "$E/passwd" "$E/group" "$EXIM" "$E/exim.conf" "$1" 2>&1 || true
}
# the SMTP replies, each multi-line reply joined into one line ("550-a" "550 b" -> "550 a b";
# Exim folds long replies at a space)
replies() {
    tr -d '\r' <<<"$1" | grep -E '^[0-9]{3}[ -]' | awk '
        { code = substr($0, 1, 3); sep = substr($0, 4, 1); text = substr($0, 5)
          acc = (acc == "") ? code " " text : acc " " text
          if (sep == " ") { print acc; acc = "" } }' || true
}

version=$(unshare -m --propagation private sh -c 'mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/group && exec "$3" -C "$4" -bV' \
    sh "$E/passwd" "$E/group" "$EXIM" "$E/exim.conf" 2>&1 || true)
[[ "$version" == *"Exim version"* ]] || fail "unpacked Exim does not run or rejects the configuration: $version"
say "$(grep -m1 'Exim version' <<<"$version")"

out=$(replies "$(exim_bh 203.0.113.7 alice@clean.example.com)")
expect_contains "$out" "550 203.0.113.7 is a compromised host (listed by ips.block.example): Compromised host 203.0.113.7; dispute at https://help.example/t?q=203.0.113.7" \
    "IPv4 203.0.113.7 (127.0.0.4): refused by the =127.0.0.4 rule with the TXT"

out=$(replies "$(exim_bh 198.51.100.9 alice@clean.example.com)")
expect_contains "$out" "550 198.51.100.9 is listed by ips.block.example (127.0.0.3): Listed for abuse" \
    "IPv4 198.51.100.9 (127.0.0.3): passes the =127.0.0.4 filter, refused by the plain rule"

out=$(replies "$(exim_bh 2001:db8:bad::25 alice@clean.example.com)")
# (Exim writes $sender_host_address for IPv6 in full; ward's $ is the compressed form)
expect_contains "$out" "550 2001:0db8:0bad:0000:0000:0000:0000:0025 is a compromised host (listed by ips.block.example): Compromised host 2001:db8:bad::25; dispute at https://help.example/t?q=2001:db8:bad::25" \
    "IPv6 2001:db8:bad::25: refused with the TXT"

out=$(replies "$(exim_bh 192.0.2.1 promo@mail.spam.example)")
expect_contains "$out" "550 Sender domain mail.spam.example is listed by domains.block.example: Domain spam.example is used for spam" \
    "sender domain mail.spam.example: refused (RHSBL)"

raw=$(exim_bh 192.0.2.1 Sender1@Bulk.Example.com)
sha1=$(printf %s sender1@bulk.example.com | sha1sum | cut -c1-40)
expect_contains "$raw" "DNS lookup for ${sha1^^}.senders.block.example" "Exim asked for the upper-case sha1 ${sha1^^}"
out=$(replies "$raw")
expect_contains "$out" "550 Sender Sender1@Bulk.Example.com is listed by senders.block.example (127.0.0.8)" \
    "sender Sender1@Bulk.Example.com: refused by its upper-case sha1"

out=$(replies "$(exim_bh 192.0.2.1 alice@clean.example.com)")
expect_contains "$out" "250 Accepted" "unlisted client and sender: accepted"
expect_not_contains "$out" "550" "unlisted client and sender: nothing refused"
finish
