#!/usr/bin/env bash
# Seccomp cost per container start: resolve, compile, install, per-syscall overhead.
# Prints medians; no assertions. Usage: bench/seccomp.sh [RUNS=200]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p berth-runtime --example seccomp_bench
exec "${CARGO_TARGET_DIR:-target}/release/examples/seccomp_bench"
