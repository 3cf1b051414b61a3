#!/usr/bin/env bash
# Builds the release berth binary: statically linked and not position-independent, so
# exec'ing it (every CLI call, every container monitor) needs no dynamic loader and no
# relocations: ~0.6 ms less per exec and fewer private pages per monitor. Prints the path.
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static -C relocation-model=static" \
    cargo build --release -p berth --target "$host" >&2
echo "${CARGO_TARGET_DIR:-$PWD/target}/$host/release/berth"
