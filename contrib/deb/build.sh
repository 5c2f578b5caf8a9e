#!/usr/bin/env bash
# Builds the Debian package with cargo-deb (`cargo install cargo-deb`):
#
#   contrib/deb/build.sh                         # cargo build --release, then package
#   contrib/deb/build.sh --no-build              # package target/release/ward as it is
#   contrib/deb/build.sh --deb-version 0.1.0-2   # any other option goes to cargo deb
#
# It writes the man pages from the binary's own help (`ward manpages`, dated by the last
# commit for a reproducible package) into target/deb/man, where Cargo.toml's
# [package.metadata.deb] assets take them, then runs `cargo deb --no-build`. It prints
# the path of the .deb (target/debian/ward_<version>-<revision>_<arch>.deb).
set -euo pipefail
cd "$(dirname "$0")/../.."

die() {
    printf 'contrib/deb/build.sh: %s\n' "$*" >&2
    exit 1
}

build=1
deb_args=()
for arg in "$@"; do
    if [[ $arg == --no-build ]]; then
        build=0
    else
        deb_args+=("$arg")
    fi
done

cargo deb --version >/dev/null 2>&1 || die "cargo-deb is not installed (cargo install cargo-deb)"
target=${CARGO_TARGET_DIR:-target}
if ((build)); then
    cargo build --release --locked >&2
fi
[[ -x $target/release/ward ]] || die "no $target/release/ward: build it (cargo build --release) or leave out --no-build"

if [[ -z ${SOURCE_DATE_EPOCH:-} ]] && git rev-parse --git-dir >/dev/null 2>&1; then
    SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)
    export SOURCE_DATE_EPOCH
fi
rm -rf target/deb/man
mkdir -p target/deb/man
"$target/release/ward" manpages target/deb/man >/dev/null || die "ward manpages failed"

cargo deb --no-build "${deb_args[@]}" || die "cargo deb failed"
