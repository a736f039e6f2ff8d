#!/usr/bin/env bash
# Release artifacts, all under target/artifacts/ (see dist/README.md):
#   x86_64-unknown-linux-musl/memdx   static binary (no interpreter, no shared library), runs on any
#                                     x86_64 Linux userland, old glibc or none
#   x86_64-unknown-linux-musl-slim/memdx  the same without the `symbolize` feature (no DWARF reader;
#                                     --vmlinux and `memdx symbolize` unavailable), only when asked
#   aarch64-unknown-linux-gnu/memdx   arm64 binary (cross-built with Debian's gcc-aarch64-linux-gnu)
#   share/man/*.1, share/completions/ man pages and shell completions generated from the clap definition
#   memdx_<version>-1_amd64.deb       the static binary, man pages, completions, systemd units and
#                                     Prometheus/Grafana files (cargo-deb)
#   SHA256SUMS
#   bullseye-root/                    a Debian 11 (glibc 2.31) root from debootstrap, where tests/dist.rs
#                                     runs the static binary and installs the .deb (only when asked)
# Usage: dist/build.sh [musl] [musl-slim] [aarch64] [deb] [bullseye]   (no argument: musl aarch64 deb)
# Needs: rustup targets x86_64-unknown-linux-musl and aarch64-unknown-linux-gnu, musl-tools,
#        gcc-aarch64-linux-gnu, cargo-deb (`cargo install cargo-deb`). Heavy: not part of `cargo test`.
# The C parts (bundled SQLite, zstd, xz/liblzma) are compiled from source and linked statically.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# CARGO_TARGET_DIR is honoured (a second checkout can share the compiled dependencies).
tdir=${CARGO_TARGET_DIR:-$root/target}
out=$tdir/artifacts
profile=dist
mkdir -p "$out"
want=("$@")
[ ${#want[@]} -eq 0 ] && want=(musl aarch64 deb)
has() { local w; for w in "${want[@]}"; do [ "$w" = "$1" ] && return 0; done; return 1; }
need() { command -v "$1" >/dev/null || { echo "dist/build.sh: $1 not found ($2)" >&2; exit 2; }; }

# xz: build liblzma from lzma-sys's bundled source instead of linking the system's shared one.
export LZMA_API_STATIC=1

musl_bin=$tdir/x86_64-unknown-linux-musl/$profile/memdx
build_musl() {
  need musl-gcc "apt-get install musl-tools"
  rustup target list --installed | grep -qx x86_64-unknown-linux-musl \
    || rustup target add x86_64-unknown-linux-musl
  CC_x86_64_unknown_linux_musl=musl-gcc \
  CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --locked --profile $profile --target x86_64-unknown-linux-musl
  install -D -m 0755 "$musl_bin" "$out/x86_64-unknown-linux-musl/memdx"
}

# Heavy parts are cargo features (default on); the slim build leaves them out.
build_musl_slim() {
  need musl-gcc "apt-get install musl-tools"
  CC_x86_64_unknown_linux_musl=musl-gcc \
  CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --locked --profile $profile --target x86_64-unknown-linux-musl --no-default-features
  install -D -m 0755 "$musl_bin" "$out/x86_64-unknown-linux-musl-slim/memdx"
}

build_aarch64() {
  need aarch64-linux-gnu-gcc "apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
  rustup target list --installed | grep -qx aarch64-unknown-linux-gnu \
    || rustup target add aarch64-unknown-linux-gnu
  CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
  AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar \
  CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    cargo build --locked --profile $profile --target aarch64-unknown-linux-gnu
  install -D -m 0755 "$tdir/aarch64-unknown-linux-gnu/$profile/memdx" \
    "$out/aarch64-unknown-linux-gnu/memdx"
}

# Man pages and completions come from the binary itself (hidden `man` and `completions` commands).
docs() {
  local bin=$1
  rm -rf "$out/share"
  mkdir -p "$out/share/man" "$out/share/completions"
  "$bin" man "$out/share/man" >/dev/null
  gzip -9n "$out"/share/man/*.1
  "$bin" completions bash >"$out/share/completions/memdx"
  "$bin" completions zsh >"$out/share/completions/_memdx"
  "$bin" completions fish >"$out/share/completions/memdx.fish"
  # The packaged units run /usr/bin/memdx (the source units name /usr/local/bin for hand installs).
  rm -rf "$out/systemd"
  mkdir -p "$out/systemd"
  for u in deploy/systemd/*.service; do
    sed 's|/usr/local/bin/memdx|/usr/bin/memdx|' "$u" >"$out/systemd/$(basename "$u")"
  done
}

build_deb() {
  command -v cargo-deb >/dev/null || { echo "dist/build.sh: cargo-deb not found (cargo install cargo-deb)" >&2; exit 2; }
  [ -x "$out/x86_64-unknown-linux-musl/memdx" ] || build_musl
  docs "$out/x86_64-unknown-linux-musl/memdx"
  rm -f "$out"/memdx_*.deb
  cargo deb --no-build --no-strip --target x86_64-unknown-linux-musl --profile $profile \
    --output "$out/"
}

# An old userland for tests/dist.rs, with man-db and bash-completion to check what the .deb installs.
build_bullseye() {
  need debootstrap "apt-get install debootstrap"
  local r=$out/bullseye-root
  [ -e "$r/etc/debian_version" ] && return 0
  rm -rf "$r"
  debootstrap --variant=minbase --include=man-db,bash-completion bullseye "$r" http://deb.debian.org/debian
}

has bullseye && build_bullseye
has musl-slim && build_musl_slim
has musl && build_musl
has aarch64 && build_aarch64
has deb && build_deb
if [ -x "$out/x86_64-unknown-linux-musl/memdx" ] && [ ! -d "$out/share" ]; then
  docs "$out/x86_64-unknown-linux-musl/memdx"
fi
(cd "$out" && find . -path ./bullseye-root -prune -o -type f \( -name memdx -o -name '*.deb' \) -print0 \
  | sort -z | xargs -0 sha256sum >SHA256SUMS)
ls -l "$out"/*/memdx "$out"/*.deb 2>/dev/null || true
